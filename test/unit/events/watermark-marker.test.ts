// The watermark marker record: what a receiver writes to a quiet events partition. It must round
// trip, read as "no events" to every events reader of this version, and answer any damage with
// ERR_EVENT_DECODE (a counted rejection), never another error.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { decodeEventRecord, isEventRecord } from '../../../src/events/event-record-codec.js';
import { decodeWatermarkMarker, encodeWatermarkMarker, isWatermarkMarker, WATERMARK_MARKER_VERSION, type SourceMark } from '../../../src/events/watermark-marker.js';

const mark: fc.Arbitrary<SourceMark> = fc.record({
  origin: fc.oneof(fc.string({ maxLength: 40, unit: 'grapheme' }), fc.constantFrom('', 'web')),
  time: fc.oneof(fc.integer({ min: 946_684_800_000, max: 4_000_000_000_000 }), fc.double({ noNaN: true, noDefaultInfinity: true })),
});
const isDecodeError = (err: unknown) => err instanceof PmfError && err.code === 'ERR_EVENT_DECODE';

describe('watermark marker record', () => {
  it('round trips, and reads as a record of no events', () => {
    fc.assert(fc.property(fc.array(mark, { maxLength: 8 }), (marks) => {
      const record = encodeWatermarkMarker(marks);
      expect(isEventRecord(record)).toBe(true);
      expect(isWatermarkMarker(record)).toBe(true);
      expect(decodeWatermarkMarker(record)).toEqual(marks.map((m) => ({ origin: m.origin, time: Object.is(m.time, -0) ? -0 : m.time })));
      expect(decodeEventRecord(record)).toEqual([]);
    }), { numRuns: 300 });
  });

  it('takes a version byte no earlier reader knows: a reader without it refuses it like version 5 here, as ERR_EVENT_DECODE', () => {
    expect(WATERMARK_MARKER_VERSION).toBe(4);
    const unknown = Buffer.from(encodeWatermarkMarker([{ origin: 'web', time: 1 }]));
    unknown[2] = 5;
    expect(() => decodeEventRecord(unknown)).toThrow(expect.objectContaining({ code: 'ERR_EVENT_DECODE', message: expect.stringContaining('unknown version 5') }));
  });

  it('refuses a non-finite time, a count past the end and trailing bytes', () => {
    const good = encodeWatermarkMarker([{ origin: 'web', time: 1000 }]);
    const nan = Buffer.from(good);
    nan.writeDoubleLE(Number.NaN, good.length - 8);
    for (const bad of [nan, Buffer.from([0x70, 0x65, 4, 0xff, 0xff, 0x03]), Buffer.concat([good, Buffer.from([0])]), Buffer.from([0x70, 0x65, 3, 0])]) {
      expect(() => decodeWatermarkMarker(bad)).toThrow(expect.objectContaining({ code: 'ERR_EVENT_DECODE' }));
    }
    expect(() => decodeEventRecord(nan)).toThrow(expect.objectContaining({ code: 'ERR_EVENT_DECODE' }));
  });

  it('answers every truncation and corruption with marks or ERR_EVENT_DECODE, never another error', () => {
    fc.assert(fc.property(fc.array(mark, { minLength: 1, maxLength: 5 }), fc.nat(), fc.nat(255), (marks, at, value) => {
      const record = encodeWatermarkMarker(marks);
      const corrupt = Buffer.from(record);
      corrupt[at % record.length] = value;
      const truncated = record.subarray(0, at % record.length);
      expect(() => decodeWatermarkMarker(truncated)).toThrow(expect.objectContaining({ code: 'ERR_EVENT_DECODE' }));
      for (const bytes of [truncated, corrupt]) {
        for (const read of [decodeWatermarkMarker, decodeEventRecord]) {
          try {
            read(bytes);
          } catch (err) {
            if (!isDecodeError(err)) throw err;
          }
        }
      }
    }), { numRuns: 500 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        decodeEventRecord(Buffer.concat([Buffer.from([0x70, 0x65, 4]), Buffer.from(bytes)]));
      } catch (err) {
        if (!isDecodeError(err)) throw err;
      }
    }), { numRuns: 500 });
  });
});
