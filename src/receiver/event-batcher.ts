// Groups one request's mapped events into pmf.events records (version 3), one per partition of the events
// topic (more when a partition's share passes maxRecordBytes). Each user's events go to the
// partition the Kafka key partitioner maps the user to, and each record's key is one of its own
// users, so the log's ordinary key partitioning puts the record exactly there: the aggregator
// still sees every user on one partition, each event once, in the order it was mapped.

import { HAS_ATTRS, HAS_DURATION, HAS_ORIGIN, ID_HEX, SOURCE_LOG } from '../events/event-record-v3.js';
import { EventRecordWriter } from '../events/event-record-writer.js';
import { murmur2 } from '../log/key-partition.js';
import type { LogRecord } from '../log/partitioned-log.js';
import type { MappedEvent, MappedEventOut } from './mapping/mapped-event.js';

/** Well under Kafka's default message.max.bytes (1 MiB), with room for the batch framing. */
export const DEFAULT_MAX_RECORD_BYTES = 256 * 1024;

export class EventBatcher implements MappedEventOut {
  private readonly writers: EventRecordWriter[] = [];
  private readonly keys: string[] = [];
  private readonly done: LogRecord[] = [];
  private readonly keyBytes: Uint8Array[] = [];
  /** Highest event time per source ("" = none) of the events written: what watermark markers tell. */
  private times = new Map<string, number>();
  /** The origin of the last event and the highest time seen for it since it became the last one:
   * a request's events nearly always share one origin, so the Map is touched once per run of it. */
  private lastOrigin: string | undefined = undefined;
  private lastMax = -Infinity;
  events = 0;

  constructor(readonly partitions: number, private readonly maxRecordBytes = DEFAULT_MAX_RECORD_BYTES) {
    if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
    for (let p = 0; p < partitions; p++) {
      this.writers.push(new EventRecordWriter());
      this.keys.push('');
    }
  }

  /** partitionForKey(key, partitions) without a Buffer per call: pseudonyms are ASCII hex. */
  partitionOf(key: string): number {
    const n = key.length;
    let bytes = this.keyBytes[n];
    if (bytes === undefined && n <= 256) bytes = this.keyBytes[n] = new Uint8Array(n);
    let ascii = bytes !== undefined;
    if (bytes) {
      for (let i = 0; i < n; i++) {
        const c = key.charCodeAt(i);
        if (c >= 128) {
          ascii = false;
          break;
        }
        bytes[i] = c;
      }
    }
    const h = ascii ? murmur2(bytes!) : murmur2(Buffer.from(key, 'utf8'));
    return (h & 0x7fffffff) % this.partitions;
  }

  write(e: MappedEvent): void {
    const pseudonym = e.pseudonym;
    const p = pseudonym !== undefined ? (pseudonym.keyHash & 0x7fffffff) % this.partitions : this.partitionOf(e.user);
    const w = this.writers[p];
    if (w.count === 0) this.keys[p] = e.user;
    let bits = e.source === 'log' ? SOURCE_LOG : 0;
    const hasDuration = !Number.isNaN(e.durationMs);
    if (hasDuration) bits |= HAS_DURATION;
    if (e.attrCount > 0) bits |= HAS_ATTRS;
    if (e.origin !== undefined) bits |= HAS_ORIGIN;
    const hexId = e.traceId !== undefined && e.spanId !== undefined;
    if (hexId) bits |= ID_HEX;
    w.beginEvent(bits, e.user, e.time, pseudonym?.bytes);
    if (hexId) w.idBytes(e.traceId!, e.spanId!);
    else w.str(e.idText);
    w.name(e.name);
    if (hasDuration) w.f64(e.durationMs);
    w.varint(e.flagCount);
    for (let i = 0; i < e.flagCount; i++) {
      w.name(e.features[i]);
      w.name(e.variants[i]);
    }
    if (e.attrCount > 0) {
      w.varint(e.attrCount);
      for (let i = 0; i < e.attrCount; i++) {
        w.name(e.attrKeys[i]);
        w.name(e.attrValues[i]);
      }
    }
    if (e.origin !== undefined) w.name(e.origin);
    w.endEvent();
    const origin = e.origin ?? '';
    if (origin !== this.lastOrigin) {
      this.foldLast();
      this.lastOrigin = origin;
      this.lastMax = e.time;
    } else if (e.time > this.lastMax) this.lastMax = e.time;
    this.events++;
    if (w.size >= this.maxRecordBytes) this.done.push({ key: this.keys[p], value: w.finish() });
  }

  /** Bytes held in records not yet taken. */
  get bytes(): number {
    let n = 0;
    for (const w of this.writers) n += w.count > 0 ? w.size : 0;
    for (const r of this.done) n += r.value.length;
    return n;
  }

  /** The records written so far (in write order per partition); the batcher is then empty. */
  take(): LogRecord[] {
    const out = this.done.splice(0);
    for (let p = 0; p < this.partitions; p++) {
      const w = this.writers[p];
      if (w.count > 0) out.push({ key: this.keys[p], value: w.finish() });
    }
    this.events = 0;
    return out;
  }

  /** The highest event time per source of the events written since the last call (handed over). */
  takeTimes(): Map<string, number> {
    this.foldLast();
    const times = this.times;
    this.times = new Map();
    return times;
  }

  private foldLast(): void {
    const origin = this.lastOrigin;
    if (origin === undefined) return;
    const latest = this.times.get(origin);
    if (latest === undefined || this.lastMax > latest) this.times.set(origin, this.lastMax);
    this.lastOrigin = undefined;
  }

  /** Drops everything written (a request that failed after mapping started). */
  clear(): void {
    this.times.clear();
    this.lastOrigin = undefined;
    this.done.length = 0;
    for (const w of this.writers) w.reset();
    this.events = 0;
  }
}
