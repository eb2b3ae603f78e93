// Where replay reads its events: the configured log's events topic (Kafka or the embedded log),
// or a file exported by `pmf-guard export` (JSON lines of {partition, offset, event}: one line per
// event, so the events of one record share a partition and offset; a watermark marker is one line
// {partition, offset, marks}).

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { PmfError } from '../core/errors.js';
import { checkFeatureEvent } from '../events/codec.js';
import { decodeEventRecord } from '../events/event-record-codec.js';
import { decodeWatermarkMarker, isWatermarkMarker, type SourceMark } from '../events/watermark-marker.js';
import type { PartitionedLog } from '../log/partitioned-log.js';
import type { RecordedEvent } from './replay.js';

export interface LogFilter {
  /** Skip records below this offset on every partition. */
  fromOffset?: bigint;
  /** Skip records appended before this time (ms). */
  fromTime?: number;
}

/** Lines of an exported file that share a partition and offset came from one record: joined again. */
function add(into: Map<number, RecordedEvent[]>, r: RecordedEvent): void {
  if (r.events.length === 0 && r.marks === undefined) return;
  let list = into.get(r.partition);
  if (!list) into.set(r.partition, (list = []));
  const last = list[list.length - 1];
  if (last && last.offset === r.offset && r.marks === undefined) last.events.push(...r.events);
  else list.push(r);
}

export async function readEventsFromLog(log: PartitionedLog, topic: string, filter: LogFilter = {}): Promise<{ partitions: Map<number, RecordedEvent[]>; rejected: number }> {
  if (!log.readAll) throw new PmfError('ERR_INTERNAL', 'this log cannot be read back');
  const partitions = new Map<number, RecordedEvent[]>();
  let rejected = 0;
  for await (const batch of log.readAll(topic)) {
    for (const r of batch.records) {
      if (filter.fromOffset !== undefined && BigInt(r.offset) < filter.fromOffset) continue;
      if (filter.fromTime !== undefined && r.timestamp < filter.fromTime) continue;
      try {
        const record = isWatermarkMarker(r.value)
          ? { partition: batch.partition, offset: r.offset, events: [], marks: decodeWatermarkMarker(r.value) }
          : { partition: batch.partition, offset: r.offset, events: decodeEventRecord(r.value) };
        add(partitions, record);
      } catch {
        rejected++; // counted and reported by the caller: replay mirrors what the aggregator skips
      }
    }
  }
  return { partitions, rejected };
}

/** The marks of an exported watermark marker line; throws on anything else. */
function checkMarks(marks: unknown): SourceMark[] {
  if (!Array.isArray(marks)) throw new Error('marks');
  for (const m of marks as { origin?: unknown; time?: unknown }[]) {
    if (typeof m?.origin !== 'string' || typeof m.time !== 'number' || !Number.isFinite(m.time)) throw new Error('marks');
  }
  return (marks as SourceMark[]).map((m) => ({ origin: m.origin, time: m.time }));
}

/** onProgress gets the bytes read so far (for a progress bar on long files). */
export async function readEventsFromFile(path: string, onProgress?: (bytesRead: number) => void): Promise<{ partitions: Map<number, RecordedEvent[]>; rejected: number }> {
  const partitions = new Map<number, RecordedEvent[]>();
  let rejected = 0;
  let line = 0;
  const input = createReadStream(path, 'utf8');
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const text of lines) {
      line++;
      if (onProgress && line % 4096 === 0) onProgress(input.bytesRead);
      if (text.trim() === '') continue;
      try {
        const o = JSON.parse(text) as { partition: unknown; offset: unknown; event: unknown; marks?: unknown };
        if (!Number.isInteger(o.partition) || typeof o.offset !== 'string' || !/^\d+$/.test(o.offset)) throw new Error('partition/offset');
        if (o.marks !== undefined) add(partitions, { partition: o.partition as number, offset: o.offset, events: [], marks: checkMarks(o.marks) });
        else add(partitions, { partition: o.partition as number, offset: o.offset, events: [checkFeatureEvent(o.event)] });
      } catch {
        rejected++;
      }
    }
  } catch (err) {
    throw new PmfError('ERR_CONFIG_INVALID', `cannot read events file ${path} (line ${line}): ${(err as Error).message}`);
  }
  for (const list of partitions.values()) list.sort((a, b) => (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
  return { partitions, rejected };
}
