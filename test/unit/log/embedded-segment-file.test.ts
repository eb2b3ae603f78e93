import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSegment, encodeRecords, type StoredRecord } from '../../../src/log/embedded/embedded-segment-file.js';

const record = fc.record({
  key: fc.option(fc.string({ unit: 'grapheme', maxLength: 20 }), { nil: null }),
  value: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  timestamp: fc.integer({ min: 0, max: 2 ** 47 }),
});

describe('segment encoding', () => {
  it('decodes what it encoded', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), (records: StoredRecord[]) => {
        const bytes = encodeRecords(records);
        const decoded = decodeSegment(bytes, 'test');
        expect(decoded.validBytes).toBe(bytes.length);
        expect(decoded.records).toEqual(records);
      }),
    );
  });

  it('drops a torn last record, whatever byte the write stopped at', () => {
    const records: StoredRecord[] = [
      { key: 'a', value: Buffer.from('first'), timestamp: 1 },
      { key: 'b', value: Buffer.from('second'), timestamp: 2 },
    ];
    const first = encodeRecords(records.slice(0, 1));
    const both = encodeRecords(records);
    for (let cut = first.length + 1; cut < both.length; cut++) {
      const decoded = decodeSegment(both.subarray(0, cut), 'test');
      expect(decoded.records).toEqual(records.slice(0, 1));
      expect(decoded.validBytes).toBe(first.length);
    }
  });

  it('refuses a corrupt record that is followed by more data', () => {
    const bytes = encodeRecords([
      { key: 'a', value: Buffer.from('first'), timestamp: 1 },
      { key: 'b', value: Buffer.from('second'), timestamp: 2 },
    ]);
    bytes[12] ^= 0xff; // inside the first record's payload: its CRC no longer matches
    expect(() => decodeSegment(bytes, 'seg.log')).toThrow(/seg\.log: corrupt record at byte 0/);
  });
});
