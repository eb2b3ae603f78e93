import { describe, expect, it } from 'vitest';
import { MAX_UTF8_KEY_BYTES, Utf8KeyTable } from '../../../src/receiver/mapping/utf8-key-table.js';
import { Pseudonymizer } from '../../../src/receiver/mapping/pseudonymizer.js';

const at = (text: string, pad = 3) => {
  const buf = Buffer.concat([Buffer.alloc(pad, 0x2a), Buffer.from(text), Buffer.alloc(pad, 0x2a)]);
  return [buf, pad, buf.length - pad] as const;
};

describe('Utf8KeyTable', () => {
  it('finds values by the bytes of a slice, wherever the slice lies', () => {
    const t = new Utf8KeyTable<number>(8);
    t.set(...at('alice'), 1);
    t.set(...at('bob', 0), 2);
    t.set(...at(''), 3);
    expect(t.get(...at('alice', 7))).toBe(1);
    expect(t.get(...at('bob'))).toBe(2);
    expect(t.get(...at(''))).toBe(3);
    expect(t.get(...at('alicf'))).toBeUndefined();
    expect(t.get(...at('alic'))).toBeUndefined();
    expect(t.size).toBe(3);
  });

  it('drops everything at its capacity and keeps no over-long key', () => {
    const t = new Utf8KeyTable<string>(3);
    for (const k of ['a', 'b', 'c']) t.set(...at(k), k);
    expect(t.get(...at('c'))).toBe('c');
    t.set(...at('d'), 'd');
    expect(t.size).toBe(1);
    expect(t.get(...at('a'))).toBeUndefined();
    expect(t.get(...at('d'))).toBe('d');
    t.set(...at('x'.repeat(MAX_UTF8_KEY_BYTES + 1)), 'long');
    expect(t.get(...at('x'.repeat(MAX_UTF8_KEY_BYTES + 1)))).toBeUndefined();
  });

  it('keeps many keys apart (collisions probe on)', () => {
    const t = new Utf8KeyTable<number>(5000);
    for (let i = 0; i < 5000; i++) t.set(...at(`user-${i}`), i);
    for (let i = 0; i < 5000; i++) expect(t.get(...at(`user-${i}`))).toBe(i);
  });
});

describe('Pseudonymizer by UTF-8 bytes', () => {
  it('gives what the decoded text gives, from a small cache too', () => {
    const p = new Pseudonymizer('utf8-test-key-0123456789', 2);
    const byText = new Pseudonymizer('utf8-test-key-0123456789');
    for (const raw of [Buffer.from('alice'), Buffer.from('ü-1'), Buffer.from([0x61, 0xff]), Buffer.from('alice'), Buffer.from('bob')]) {
      const entry = p.pseudonymOfUtf8(...([Buffer.concat([Buffer.from('xx'), raw]), 2, 2 + raw.length] as const));
      expect(entry.text).toBe(byText.pseudonymize(raw.toString('utf8')));
      expect(Buffer.from(entry.bytes).toString('hex')).toBe(entry.text);
      expect(entry.keyHash).toBe(byText.pseudonym(raw.toString('utf8')).keyHash);
    }
  });
});
