// The embedded log's records: per topic-partition, an in-memory array (index = offset) backed,
// when a data directory is given, by one append-only segment file. A record becomes visible to
// consumers only after its write (and fsync, if asked) completed, so an acknowledged send is the
// only thing a consumer can ever see.

import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { PmfError } from '../../core/errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { SegmentFile, type StoredRecord } from './embedded-segment-file.js';
import { partitionForKey } from '../key-partition.js';
import type { ConsumedRecord, LogRecord, TopicSpec } from '../partitioned-log.js';
import { checkTopicSpec } from '../topic-spec.js';

export interface EmbeddedTopicStoreOptions {
  dataDir?: string;
  fsync: boolean;
  clock: Clock;
}

interface PartitionLog {
  records: ConsumedRecord[];
  /** Serializes appends so file order, offsets and visibility agree. */
  tail: Promise<void>;
  file?: SegmentFile;
}

export class EmbeddedTopicStore {
  private readonly topics = new Map<string, PartitionLog[]>();
  private readonly listeners = new Set<(topic: string, partition: number) => void>();
  private creating: Promise<void> = Promise.resolve();

  constructor(private readonly options: EmbeddedTopicStoreOptions) {}

  private get topicsDir(): string | undefined {
    return this.options.dataDir === undefined ? undefined : join(this.options.dataDir, 'topics');
  }

  async load(): Promise<void> {
    const dir = this.topicsDir;
    if (dir === undefined) return;
    await mkdir(dir, { recursive: true });
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const meta = JSON.parse(await readFile(join(dir, entry.name, 'topic.json'), 'utf8')) as { partitions: number };
      await this.open({ name: entry.name, partitions: meta.partitions });
    }
  }

  ensure(specs: readonly TopicSpec[]): Promise<void> {
    specs.forEach(checkTopicSpec);
    // Creation is serialized so two callers never create the same topic's files twice.
    const run = this.creating.then(async () => {
      for (const spec of specs) {
        if (this.topics.has(spec.name)) continue;
        const dir = this.topicsDir;
        if (dir !== undefined) {
          await mkdir(join(dir, spec.name), { recursive: true });
          await writeFileAtomic(
            join(dir, spec.name, 'topic.json'),
            JSON.stringify({ partitions: spec.partitions }),
            this.options.fsync,
          );
        }
        await this.open(spec);
      }
    });
    this.creating = run.catch(() => undefined);
    return run;
  }

  private async open(spec: TopicSpec): Promise<void> {
    const partitions: PartitionLog[] = [];
    try {
      for (let p = 0; p < spec.partitions; p++) {
        const log: PartitionLog = { records: [], tail: Promise.resolve() };
        const dir = this.topicsDir;
        if (dir !== undefined) {
          const { file, records } = await SegmentFile.open(join(dir, spec.name, `${p}.log`), this.options.fsync);
          log.file = file;
          log.records = records.map((r, offset) => toConsumed(r, p, offset));
        }
        partitions.push(log);
      }
    } catch (err) {
      await Promise.all(partitions.map((l) => l.file?.close()));
      throw err;
    }
    this.topics.set(spec.name, partitions);
  }

  partitionCount(topic: string): number | undefined {
    return this.topics.get(topic)?.length;
  }

  topicNames(): string[] {
    return [...this.topics.keys()];
  }

  /** Resolves once every record is written (and synced, if configured) and visible. */
  async append(topic: string, records: readonly LogRecord[]): Promise<void> {
    const partitions = this.partitionsOf(topic);
    const now = this.options.clock.now();
    const byPartition = new Map<number, StoredRecord[]>();
    for (const r of records) {
      const p = partitionForKey(r.key, partitions.length);
      let list = byPartition.get(p);
      if (list === undefined) byPartition.set(p, (list = []));
      list.push({ key: r.key, value: r.value, timestamp: now });
    }
    const writes = [...byPartition].map(([p, stored]) => {
      const log = partitions[p];
      const write = log.tail.then(async () => {
        await log.file?.append(stored);
        for (const r of stored) log.records.push(toConsumed(r, p, log.records.length));
        for (const listener of this.listeners) listener(topic, p);
      });
      log.tail = write.catch(() => undefined);
      return write;
    });
    // allSettled first so a failing partition does not leave another's write unobserved.
    const results = await Promise.allSettled(writes);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Up to max records of one partition starting at offset from. */
  read(topic: string, partition: number, from: number, max: number): ConsumedRecord[] {
    return this.partitionsOf(topic)[partition].records.slice(from, from + max);
  }

  /** The next offset to be written (Kafka's log end offset). */
  end(topic: string, partition: number): number {
    return this.partitionsOf(topic)[partition].records.length;
  }

  onAppend(listener: (topic: string, partition: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    const logs = [...this.topics.values()].flat();
    await Promise.all(logs.map((l) => l.tail));
    await Promise.all(logs.map((l) => l.file?.close()));
    this.topics.clear();
  }

  private partitionsOf(topic: string): PartitionLog[] {
    const partitions = this.topics.get(topic);
    if (partitions === undefined) {
      throw new PmfError('ERR_NOT_FOUND', `topic "${topic}" does not exist; create it with ensureTopics`);
    }
    return partitions;
  }
}

function toConsumed(r: StoredRecord, partition: number, offset: number): ConsumedRecord {
  return { partition, offset: String(offset), key: r.key, value: r.value, timestamp: r.timestamp };
}
