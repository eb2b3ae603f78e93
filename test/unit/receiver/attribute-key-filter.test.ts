import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { everyKey, firstByteBit, keyFilter } from '../../../src/receiver/decode/attribute-key-filter.js';

/** What the scanner's fast path asks: may a key of these bytes be wanted? */
function mayBeWanted(prefilter: Int32Array, bytes: Buffer): boolean {
  return (prefilter[bytes.length] & firstByteBit(bytes[0])) !== 0;
}

describe('attribute key filter', () => {
  it('never lets the prefilter pass over a key the filter matches', () => {
    const key = fc.string({ maxLength: 40 });
    fc.assert(fc.property(fc.array(key, { maxLength: 8 }), key, (wanted, probe) => {
      const filter = keyFilter(wanted);
      const bytes = Buffer.from(probe, 'utf8');
      if (bytes.length >= 128) return;
      const matched = filter(bytes, 0, bytes.length);
      expect(matched).toBe(wanted.includes(probe) ? probe : undefined);
      if (matched !== undefined) expect(mayBeWanted(filter.prefilter, bytes)).toBe(true);
    }));
  });

  it('passes over keys that share a wanted key\'s length but not its first byte', () => {
    const filter = keyFilter(['enduser.id', 'service.instance.id']);
    expect(mayBeWanted(filter.prefilter, Buffer.from('http.route'))).toBe(false);
    expect(mayBeWanted(filter.prefilter, Buffer.from('user_agent.original'))).toBe(false);
    expect(mayBeWanted(filter.prefilter, Buffer.from('enduser.xx'))).toBe(true);
    // 'E' and 'e' share their low five bits: the prefilter lets it through and the comparison refuses it.
    expect(mayBeWanted(filter.prefilter, Buffer.from('Enduser.id'))).toBe(true);
    expect(filter(Buffer.from('Enduser.id'), 0, 10)).toBeUndefined();
  });

  it('wants the empty key only when asked for it, and every key through everyKey', () => {
    expect(keyFilter(['a']).prefilter[0]).toBe(0);
    expect(keyFilter(['']).prefilter[0]).toBe(-1);
    expect(mayBeWanted(everyKey.prefilter, Buffer.from('anything'))).toBe(true);
  });
});
