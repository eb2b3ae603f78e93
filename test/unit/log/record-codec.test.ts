import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRecords, scanRecords, LEGACY_LAYOUT, SCAN_CHUNK, type ReadAt, type StoredRecord } from '../../../src/log/embedded/record-codec.js';
import { legacyLogRecord } from '../../helpers/legacy-log-record.js';

const record = fc.record({
  offset: fc.integer({ min: 0, max: 2 ** 40 }),
  key: fc.option(fc.string({ unit: 'grapheme', maxLength: 20 }), { nil: null }),
  value: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  timestamp: fc.integer({ min: 0, max: 2 ** 47 }),
});

/** A file in memory that counts the bytes asked for per read, to show the walk is chunked. */
function memoryFile(bytes: Buffer): ReadAt & { largestRead: number } {
  const file = {
    largestRead: 0,
    async read(buffer: Buffer, offset: number, length: number, position: number) {
      file.largestRead = Math.max(file.largestRead, length);
      const n = Math.max(0, Math.min(length, bytes.length - position));
      bytes.copy(buffer, offset, position, position + n);
      return { bytesRead: n };
    },
  };
  return file;
}

async function scan(bytes: Buffer, layout = undefined as typeof LEGACY_LAYOUT | undefined) {
  const records: StoredRecord[] = [];
  let valid = -1;
  for await (const s of scanRecords(memoryFile(bytes), 0, bytes.length, 'seg.log', layout, (v) => (valid = v))) records.push(s.record);
  return { records, valid };
}

describe('segment record codec', () => {
  it('reads back what it wrote, offsets included', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(record, { maxLength: 20 }), async (records: StoredRecord[]) => {
        const bytes = encodeRecords(records);
        const out = await scan(bytes);
        expect(out.valid).toBe(bytes.length);
        expect(out.records).toEqual(records);
      }),
    );
  });

  it('walks a file larger than its chunk without reading it whole', async () => {
    const records = Array.from({ length: 3000 }, (_, i) => ({ offset: i, key: `k${i}`, value: Buffer.alloc(300, i % 256), timestamp: i }));
    const bytes = encodeRecords(records);
    expect(bytes.length).toBeGreaterThan(3 * SCAN_CHUNK);
    const file = memoryFile(bytes);
    let n = 0;
    for await (const s of scanRecords(file, 0, bytes.length, 'seg.log')) expect(s.record.offset).toBe(n++);
    expect(n).toBe(3000);
    expect(file.largestRead).toBeLessThanOrEqual(SCAN_CHUNK);
  });

  it('grows its buffer for a record larger than a chunk', async () => {
    const big = { offset: 7, key: 'big', value: Buffer.alloc(SCAN_CHUNK * 2, 1), timestamp: 1 };
    const out = await scan(encodeRecords([big, { ...big, offset: 8, value: Buffer.from('x') }]));
    expect(out.records.map((r) => [r.offset, r.value.length])).toEqual([[7, SCAN_CHUNK * 2], [8, 1]]);
  });

  it('stops before a torn last record, whatever byte the write stopped at', async () => {
    const records: StoredRecord[] = [
      { offset: 0, key: 'a', value: Buffer.from('first'), timestamp: 1 },
      { offset: 1, key: 'b', value: Buffer.from('second'), timestamp: 2 },
    ];
    const first = encodeRecords(records.slice(0, 1));
    const both = encodeRecords(records);
    for (let cut = first.length + 1; cut < both.length; cut++) {
      const out = await scan(both.subarray(0, cut));
      expect(out.records).toEqual(records.slice(0, 1));
      expect(out.valid).toBe(first.length);
    }
  });

  it('refuses a corrupt record that is followed by more data', async () => {
    const bytes = encodeRecords([
      { offset: 0, key: 'a', value: Buffer.from('first'), timestamp: 1 },
      { offset: 1, key: 'b', value: Buffer.from('second'), timestamp: 2 },
    ]);
    bytes[20] ^= 0xff; // inside the first record's payload: its CRC no longer matches
    await expect(scan(bytes)).rejects.toThrow(/seg\.log: corrupt record at byte 0/);
  });

  it('reads the format before segments, numbering records by position', async () => {
    const out = await scan(Buffer.concat([legacyLogRecord('a', 'one', 5), legacyLogRecord('b', 'two', 6)]), LEGACY_LAYOUT);
    expect(out.records.map((r) => `${r.offset}:${r.key}:${r.value}:${r.timestamp}`)).toEqual(['0:a:one:5', '1:b:two:6']);
  });
});
