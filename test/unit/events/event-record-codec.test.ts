import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEventRecord, isEventRecord } from '../../../src/events/event-record-codec.js';
import { encodeEventRecord, EventRecordWriter } from '../../../src/events/event-record-writer.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';

const text = fc.string({ maxLength: 40, unit: 'grapheme' });
const event: fc.Arbitrary<FeatureEvent> = fc.record({
  user: fc.string({ minLength: 1, maxLength: 40 }),
  time: fc.integer({ min: 946_684_800_000, max: 4_000_000_000_000 }),
  id: text,
  name: fc.string({ maxLength: 300, unit: 'grapheme' }),
  durationMs: fc.option(fc.double({ min: 0, max: 1e7, noNaN: true }), { nil: undefined }),
  flags: fc.array(fc.record({ feature: text, variant: text }), { maxLength: 4 }),
  attrs: fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), text, { minKeys: 1, maxKeys: 3 }), { nil: undefined }),
  source: fc.constantFrom('span' as const, 'log' as const),
}).map((e) => {
  const out: FeatureEvent = { ...e };
  if (e.durationMs === undefined) delete out.durationMs;
  if (e.attrs === undefined) delete out.attrs;
  return out;
});

describe('pmf.events.v2 record codec', () => {
  it('gives back every event of a record, every field included, in order', () => {
    fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 20 }), (events) => {
      const record = encodeEventRecord(events);
      expect(isEventRecord(record)).toBe(true);
      expect(decodeEventRecord(record)).toEqual(events);
    }), { numRuns: 300 });
  });

  it('reads span ids written as raw bytes back as lowercase hex', () => {
    const w = new EventRecordWriter();
    w.beginEvent(8, 'u', 1_700_000_000_000);
    w.idBytes(Uint8Array.from([0xab, 0x01]), Uint8Array.from([0xff]));
    w.str('n');
    w.varint(0);
    w.endEvent();
    expect(decodeEventRecord(w.finish())[0]).toMatchObject({ id: 'ab01ff', name: 'n', source: 'span', flags: [] });
  });

  it('skips bytes an event carries past the fields it knows (a newer optional field)', () => {
    const w = new EventRecordWriter();
    w.beginEvent(0, 'u', 1_700_000_000_000);
    w.str('id');
    w.str('n');
    w.varint(0);
    w.str('a field from a newer writer');
    w.endEvent();
    w.writeEvent({ user: 'v', time: 1, id: 'x', name: 'm', flags: [], source: 'log' });
    expect(decodeEventRecord(w.finish()).map((e) => e.user)).toEqual(['u', 'v']);
  });

  it('refuses what is not a v2 record with ERR_EVENT_DECODE', () => {
    const good = encodeEventRecord([{ user: 'u', time: 1, id: 'i', name: 'n', flags: [], source: 'span' }]);
    for (const bad of [Buffer.from('{"user":"u"}'), good.subarray(0, good.length - 2), Buffer.concat([good, Buffer.from([1])]), Buffer.from([0x70, 0x65, 9, 0])]) {
      expect(() => decodeEventRecord(bad)).toThrow(expect.objectContaining({ code: 'ERR_EVENT_DECODE' }));
    }
  });
});
