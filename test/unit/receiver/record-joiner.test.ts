import { describe, expect, it } from 'vitest';
import { decodeEventRecord } from '../../../src/events/event-record-codec.js';
import { partitionForKey } from '../../../src/log/key-partition.js';
import type { LogRecord } from '../../../src/log/partitioned-log.js';
import { EventBatcher } from '../../../src/receiver/event-batcher.js';
import { scratchEvent } from '../../../src/receiver/mapping/mapped-event.js';
import { joinRecordsByPartition } from '../../../src/receiver/record-joiner.js';

const PARTITIONS = 4;

/** One request's records, as the export handler hands them to the sink. */
function request(tag: string, users: readonly string[]): LogRecord[] {
  const b = new EventBatcher(PARTITIONS);
  const e = scratchEvent();
  users.forEach((u, i) => {
    e.user = u;
    e.time = 1_700_000_000_000 + i;
    e.idText = `${tag}:${u}:${i}`;
    e.name = `GET /${tag}`;
    e.flagCount = 1;
    e.features[0] = 'f';
    e.variants[0] = i % 2 ? 'on' : 'off';
    b.write(e);
  });
  return b.take();
}

const users = Array.from({ length: 40 }, (_, i) => Buffer.alloc(16, i * 7).toString('hex'));
const idsPerPartition = (records: readonly LogRecord[]) => {
  const out = new Map<number, string[]>();
  for (const r of records) {
    const p = partitionForKey(r.key, PARTITIONS);
    for (const e of decodeEventRecord(r.value)) {
      expect(partitionForKey(e.user, PARTITIONS)).toBe(p);
      out.set(p, [...(out.get(p) ?? []), e.id]);
    }
  }
  return out;
};

describe('joinRecordsByPartition', () => {
  it('makes one record per partition of concurrent requests, every event on its partition, in order', () => {
    const records = ['a', 'b', 'c'].flatMap((tag) => request(tag, users));
    const joined = joinRecordsByPartition(records, PARTITIONS);
    expect(joined).toHaveLength(new Set(records.map((r) => partitionForKey(r.key, PARTITIONS))).size);
    expect(idsPerPartition(joined)).toEqual(idsPerPartition(records));
    expect(decodeEventRecord(joined[0].value).map((e) => e.name)).toContain('GET /c');
  });

  it('starts another record for a partition past the byte cap', () => {
    const records = Array.from({ length: 6 }, (_, i) => request(String(i), users.slice(0, 1)));
    const one = records[0][0].value.length;
    const joined = joinRecordsByPartition(records.flat(), PARTITIONS, one * 2);
    expect(joined).toHaveLength(3);
    expect(idsPerPartition(joined)).toEqual(idsPerPartition(records.flat()));
  });

  it('leaves records alone when any of them is not a version 3 event record', () => {
    const records = [...request('a', users), { key: users[0], value: Buffer.from('{"user":"x"}') }, ...request('b', users)];
    expect(joinRecordsByPartition(records, PARTITIONS)).toBe(records);
  });
});
