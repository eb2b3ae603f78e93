import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEventRecord, decodeEventRecordIds, isEventRecord } from '../../../src/events/event-record-codec.js';
import { RecordIds } from '../../../src/events/record-ids.js';
import { HAS_EXT, ID_HEX } from '../../../src/events/event-record-v3.js';
import { encodeEventRecord, EventRecordWriter } from '../../../src/events/event-record-writer.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { PmfError } from '../../../src/core/errors.js';

const text = fc.string({ maxLength: 40, unit: 'grapheme' });
const hexId = fc.uint8Array({ minLength: 1, maxLength: 24 }).map((b) => Buffer.from(b).toString('hex'));
const pseudonym = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex'));
const event: fc.Arbitrary<FeatureEvent> = fc.record({
  user: fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), pseudonym, pseudonym.map((p) => p.toUpperCase())),
  time: fc.integer({ min: 946_684_800_000, max: 4_000_000_000_000 }),
  id: fc.oneof(text, hexId),
  name: fc.oneof(fc.string({ maxLength: 300, unit: 'grapheme' }), fc.constantFrom('GET /a', 'GET /b')),
  durationMs: fc.option(fc.double({ min: 0, max: 1e7, noNaN: true }), { nil: undefined }),
  flags: fc.array(fc.record({ feature: fc.oneof(text, fc.constantFrom('f1', 'f2')), variant: fc.oneof(text, fc.constantFrom('on', 'off')) }), { maxLength: 4 }),
  attrs: fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), text, { minKeys: 1, maxKeys: 3 }), { nil: undefined }),
  source: fc.constantFrom('span' as const, 'log' as const),
  origin: fc.option(fc.oneof(text, fc.constant('web')), { nil: undefined }),
}).map((e) => {
  const out: FeatureEvent = { ...e };
  if (e.durationMs === undefined) delete out.durationMs;
  if (e.attrs === undefined) delete out.attrs;
  if (e.origin === undefined) delete out.origin;
  return out;
});

/** A version 2 record, written by hand from that version's layout (receivers before v3 wrote these). */
function v2Record(events: readonly FeatureEvent[]): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    while (n >= 128) {
      out.push((n & 127) | 128);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return Buffer.from(out);
  };
  const str = (s: string) => Buffer.concat([varint(Buffer.byteLength(s)), Buffer.from(s)]);
  const f64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return b;
  };
  const bodies = events.map((e) => {
    const attrs = Object.entries(e.attrs ?? {});
    const bits = (e.durationMs !== undefined ? 1 : 0) | (attrs.length > 0 ? 2 : 0) | (e.source === 'log' ? 4 : 0) | (e.origin !== undefined ? 16 : 0);
    const parts = [Buffer.from([bits]), str(e.user), f64(e.time), str(e.id), str(e.name)];
    if (e.durationMs !== undefined) parts.push(f64(e.durationMs));
    parts.push(varint(e.flags.length), ...e.flags.flatMap((f) => [str(f.feature), str(f.variant)]));
    if (attrs.length > 0) parts.push(varint(attrs.length), ...attrs.flatMap(([k, v]) => [str(k), str(v)]));
    if (e.origin !== undefined) parts.push(str(e.origin));
    const body = Buffer.concat(parts);
    return Buffer.concat([varint(body.length), body]);
  });
  return Buffer.concat([Buffer.from([0x70, 0x65, 2]), varint(events.length), ...bodies]);
}

const isDecodeError = (err: unknown) => err instanceof PmfError && err.code === 'ERR_EVENT_DECODE';

describe('pmf.events record codec', () => {
  it('gives back every event of a version 3 record, every field included, in order', () => {
    fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 20 }), (events) => {
      const record = encodeEventRecord(events);
      expect(isEventRecord(record)).toBe(true);
      expect(record[2]).toBe(3);
      expect(decodeEventRecord(record)).toEqual(events);
    }), { numRuns: 300 });
  });

  it('reads version 3 records laid end to end (a joined record) as their events in order', () => {
    fc.assert(fc.property(fc.array(fc.array(event, { minLength: 1, maxLength: 5 }), { minLength: 2, maxLength: 4 }), (batches) => {
      const joined = Buffer.concat(batches.map((b) => encodeEventRecord(b)));
      expect(decodeEventRecord(joined)).toEqual(batches.flat());
      expect(() => decodeEventRecord(Buffer.concat([joined, Buffer.from([0x70, 0x65, 2, 0])]))).toThrow(expect.objectContaining({ code: 'ERR_EVENT_DECODE' }));
    }), { numRuns: 100 });
  });

  it('still reads version 2 records, which topics written by older receivers hold', () => {
    fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 20 }), (events) => {
      expect(decodeEventRecord(v2Record(events))).toEqual(events);
    }), { numRuns: 200 });
  });

  it('gives the aggregator the same events with users and ids left as record bytes, made into the same text on request', () => {
    const ids = new RecordIds(); // reused, as the stage reuses it: no event of one record leaks into the next
    const same = (record: Buffer, events: readonly FeatureEvent[]) => {
      const bodies = decodeEventRecordIds(record, ids);
      expect(ids.count).toBe(events.length);
      expect(bodies.map((b, i) => ids.event(b, i))).toEqual(events);
    };
    fc.assert(fc.property(fc.array(fc.array(event, { minLength: 1, maxLength: 80 }), { minLength: 1, maxLength: 3 }), (batches) => {
      same(Buffer.concat(batches.map((b) => encodeEventRecord(b))), batches.flat());
      same(v2Record(batches[0]), batches[0]);
      const raw = decodeEventRecordIds(encodeEventRecord(batches[0]), ids);
      for (const body of raw) expect(Object.keys(body)).not.toContain('user');
    }), { numRuns: 150 });
    // A pseudonym and a hex id travel as bytes: the body does not carry them, the ids point at them.
    const pseudo: FeatureEvent = { user: 'ab'.repeat(16), time: 1, id: '0f'.repeat(24), name: 'n', flags: [], source: 'span' };
    const [body] = decodeEventRecordIds(encodeEventRecord([pseudo, { ...pseudo, user: 'alice', id: 'x' }]), ids);
    expect(body).toEqual({ time: 1, name: 'n', flags: [], source: 'span' });
    expect([ids.userAt[0] >= 0, ids.idAt[0] >= 0, ids.userAt[1], ids.idAt[1], ids.userText(1), ids.idText(1)]).toEqual([true, true, -1, -1, 'alice', 'x']);
    for (const bad of [Buffer.from([0x70, 0x65, 9, 0]), encodeEventRecord([pseudo]).subarray(0, 20)]) {
      expect(() => decodeEventRecordIds(bad, ids)).toThrow(expect.objectContaining({ code: 'ERR_EVENT_DECODE' }));
    }
  });

  it('carries pseudonyms and span ids as bytes and repeated names once: a typical span event in 64 bytes (v2: 148)', () => {
    const events: FeatureEvent[] = Array.from({ length: 100 }, (_, i) => ({
      user: Buffer.alloc(16, i).toString('hex'), time: 1_700_000_000_000 + i, id: Buffer.alloc(24, i).toString('hex'),
      name: 'GET /api/items/:id', durationMs: 12.5, flags: [{ feature: 'new-dashboard', variant: i % 2 ? 'treatment' : 'control' }], source: 'span', origin: 'web',
    }));
    const v3 = encodeEventRecord(events);
    expect(decodeEventRecord(v3)).toEqual(events);
    expect(v3.length / events.length).toBeLessThan(64);
    expect(v2Record(events).length / events.length).toBeGreaterThan(140);
  });

  it('reads span ids written as raw bytes back as lowercase hex', () => {
    const w = new EventRecordWriter();
    w.beginEvent(ID_HEX, 'u', 1_700_000_000_000);
    w.idBytes(Uint8Array.from([0xab, 0x01]), Uint8Array.from([0xff]));
    w.name('n');
    w.varint(0);
    w.endEvent();
    expect(decodeEventRecord(w.finish())[0]).toMatchObject({ id: 'ab01ff', name: 'n', source: 'span', flags: [] });
  });

  it('takes pseudonym bytes from the caller and reads them back as the hex text', () => {
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    const w = new EventRecordWriter();
    w.beginEvent(0, Buffer.from(bytes).toString('hex'), 1, bytes);
    w.str('id');
    w.name('n');
    w.varint(0);
    w.endEvent();
    expect(decodeEventRecord(w.finish())[0].user).toBe('00112233445566778899aabbccddeeff');
  });

  it('skips the extension bytes of an event (a field from a newer writer)', () => {
    const w = new EventRecordWriter();
    w.beginEvent(HAS_EXT, 'u', 1_700_000_000_000);
    w.str('id');
    w.name('n');
    w.varint(0);
    w.str('a field from a newer writer');
    w.endEvent();
    w.writeEvent({ user: 'v', time: 1, id: 'x', name: 'm', flags: [], source: 'log' });
    expect(decodeEventRecord(w.finish()).map((e) => e.user)).toEqual(['u', 'v']);
  });

  it('drops an abandoned event and keeps the rest', () => {
    const w = new EventRecordWriter();
    w.writeEvent({ user: 'a', time: 1, id: 'x', name: 'm', flags: [], source: 'span' });
    w.beginEvent(0, 'b', 2);
    w.str('y');
    w.name('never used');
    w.abandonEvent();
    w.writeEvent({ user: 'c', time: 3, id: 'z', name: 'm', flags: [], source: 'span' });
    expect(decodeEventRecord(w.finish()).map((e) => e.user)).toEqual(['a', 'c']);
  });

  it('refuses what is not a record with ERR_EVENT_DECODE', () => {
    const good = encodeEventRecord([{ user: 'u', time: 1, id: 'i', name: 'n', flags: [], source: 'span' }]);
    const badIndex = Buffer.from(good);
    badIndex[good.readUInt32LE(3) - 1] = 9; // the name reference of the only event, past a table of one
    for (const bad of [Buffer.from('{"user":"u"}'), good.subarray(0, good.length - 2), Buffer.concat([good, Buffer.from([1])]), Buffer.concat([good, good.subarray(0, 14)]), Buffer.from([0x70, 0x65, 9, 0]), badIndex]) {
      expect(() => decodeEventRecord(bad)).toThrow(expect.objectContaining({ code: 'ERR_EVENT_DECODE' }));
    }
  });

  it('answers every truncation and every corruption of a record with events or ERR_EVENT_DECODE, never another error', () => {
    fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 5 }), fc.boolean(), fc.nat(), fc.nat(255), (events, v2, at, value) => {
      const record = v2 ? v2Record(events) : encodeEventRecord(events);
      const corrupt = Buffer.from(record);
      corrupt[at % record.length] = value;
      for (const bytes of [record.subarray(0, at % record.length), corrupt]) {
        try {
          decodeEventRecord(bytes);
        } catch (err) {
          if (!isDecodeError(err)) throw err;
        }
      }
    }), { numRuns: 500 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const b = Buffer.concat([Buffer.from([0x70, 0x65, 3]), Buffer.from(bytes)]);
      try {
        decodeEventRecord(b);
      } catch (err) {
        if (!isDecodeError(err)) throw err;
      }
    }), { numRuns: 500 });
  });
});
