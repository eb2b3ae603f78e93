// Joins the event records of concurrent requests that go to the same partition into one Kafka
// record, when the sink sends their publishes together. Each request's batcher writes one record
// per partition; under load many requests share a send, and the Kafka client's cost per record
// (an encoder buffer or two, a varlong, a key hash, the broker's work) then adds up. Version 3
// records are laid end to end as segments of one record (event-record-v3.ts), so joining is a
// copy: each partition's events keep their order, and the record's key is one of its users as before.

import { EVENT_RECORD_V3 } from '../events/event-record-v3.js';
import { isEventRecord } from '../events/event-record-codec.js';
import { partitionForKey } from '../log/key-partition.js';
import type { LogRecord } from '../log/partitioned-log.js';

/** Largest joined record: half Kafka's default message.max.bytes (1 MiB), with room for the batch framing. */
export const MAX_JOINED_RECORD_BYTES = 512 * 1024;

interface Joined {
  key: string;
  values: Buffer[];
  bytes: number;
}

/**
 * The records with each partition's consecutive version 3 records joined (in order, up to
 * maxBytes each). Anything else among them, and the records are returned as they are.
 */
export function joinRecordsByPartition(records: readonly LogRecord[], partitions: number, maxBytes = MAX_JOINED_RECORD_BYTES): LogRecord[] {
  if (records.length < 2) return records as LogRecord[];
  for (const r of records) if (!isEventRecord(r.value) || r.value[2] !== EVENT_RECORD_V3) return records as LogRecord[];
  const open = new Map<number, Joined>();
  const done: Joined[] = [];
  for (const r of records) {
    const p = partitionForKey(r.key, partitions);
    let j = open.get(p);
    if (j !== undefined && j.bytes + r.value.length > maxBytes) {
      done.push(j);
      j = undefined;
    }
    if (j === undefined) {
      j = { key: r.key, values: [], bytes: 0 };
      open.set(p, j);
    }
    j.values.push(r.value);
    j.bytes += r.value.length;
  }
  done.push(...open.values());
  return done.map((j) => ({ key: j.key, value: j.values.length === 1 ? j.values[0] : Buffer.concat(j.values, j.bytes) }));
}
