import { describe, expect, it } from 'vitest';
import { decodeEventRecord } from '../../../src/events/event-record-codec.js';
import { partitionForKey } from '../../../src/log/key-partition.js';
import { EventBatcher } from '../../../src/receiver/event-batcher.js';
import { scratchEvent } from '../../../src/receiver/mapping/mapped-event.js';

function write(b: EventBatcher, user: string, n: number): void {
  const e = scratchEvent();
  e.user = user;
  e.time = 1_700_000_000_000 + n;
  e.idText = `${user}:${n}`;
  e.name = 'GET /';
  b.write(e);
}

describe('EventBatcher', () => {
  it('puts each user on the partition its key maps to, in a record whose key maps there too', () => {
    const b = new EventBatcher(6);
    const users = Array.from({ length: 200 }, (_, i) => `user-${i}-é`.repeat(1 + (i % 3)));
    for (let n = 0; n < 3; n++) for (const u of users) write(b, u, n);
    const records = b.take();
    expect(records.length).toBeLessThanOrEqual(6);
    const seen: string[] = [];
    for (const r of records) {
      const p = partitionForKey(r.key, 6);
      for (const e of decodeEventRecord(r.value)) {
        expect(partitionForKey(e.user, 6)).toBe(p);
        expect(b.partitionOf(e.user)).toBe(p);
        seen.push(e.id);
      }
    }
    expect(seen).toHaveLength(600);
    // Per user, the order of writing survives.
    for (const u of users) expect(seen.filter((id) => id.startsWith(`${u}:`))).toEqual([0, 1, 2].map((n) => `${u}:${n}`));
  });

  it('hands over the latest event time per source (what watermark markers tell), then starts afresh', () => {
    const b = new EventBatcher(3);
    for (const [n, origin] of [[5, 'web'], [9, 'web'], [7, 'web'], [3, undefined], [1, 'api']] as const) {
      const e = scratchEvent();
      Object.assign(e, { user: `u${n}`, time: 1000 + n, idText: `i${n}`, name: 'GET /', origin });
      b.write(e);
    }
    expect(b.takeTimes()).toEqual(new Map([['web', 1009], ['', 1003], ['api', 1001]]));
    expect(b.takeTimes()).toEqual(new Map());
    write(b, 'u', 1);
    b.clear();
    expect(b.takeTimes()).toEqual(new Map());
  });

  it('keeps the latest time per source when sources interleave and come back lower or higher', () => {
    const b = new EventBatcher(2);
    for (const [t, origin] of [[50, 'web'], [20, 'api'], [40, 'web'], [30, 'api'], [60, 'web'], [10, undefined]] as const) {
      const e = scratchEvent();
      Object.assign(e, { user: `u${t}`, time: t, idText: `i${t}`, name: 'GET /', origin });
      b.write(e);
    }
    expect(b.takeTimes()).toEqual(new Map([['web', 60], ['api', 30], ['', 10]]));
    const e = scratchEvent();
    Object.assign(e, { user: 'u', time: 5, idText: 'i', name: 'GET /', origin: 'web' });
    b.write(e);
    b.clear();
    b.write(Object.assign(scratchEvent(), { user: 'u', time: 7, idText: 'j', name: 'GET /', origin: 'api' }));
    expect(b.takeTimes()).toEqual(new Map([['api', 7]]));
  });

  it('cuts a partition into several records past the record size, keeping order', () => {
    const b = new EventBatcher(1, 512);
    for (let n = 0; n < 100; n++) write(b, 'u', n);
    const records = b.take();
    expect(records.length).toBeGreaterThanOrEqual(3);
    expect(records.flatMap((r) => decodeEventRecord(r.value).map((e) => e.id))).toEqual(Array.from({ length: 100 }, (_, n) => `u:${n}`));
    expect(b.take()).toEqual([]);
  });
});
