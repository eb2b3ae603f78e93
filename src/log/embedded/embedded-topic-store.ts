// The embedded log's topics: per topic-partition a PartitionLog of segments, in files under
// <dataDir>/topics/<topic>/<partition>/ when a data directory is given, in memory otherwise. Each
// topic has its own retention (time, size, compaction) from the options' policyFor.

import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { PmfError } from '../../core/errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { FileSegmentStore, type OpenSegmentIo } from './file-segment.js';
import { PartitionLog, type FsyncPolicy, type MaintenanceResult, type PartitionPolicy } from './partition-log.js';
import { MemorySegmentStore } from './segment.js';
import { partitionForKey } from '../key-partition.js';
import type { ConsumedRecord, LogRecord, TopicSpec } from '../partitioned-log.js';
import { checkTopicSpec } from '../topic-spec.js';

export interface EmbeddedTopicStoreOptions {
  dataDir?: string;
  fsync: FsyncPolicy;
  clock: Clock;
  /** Retention of a topic; retentionBytes here is for the whole topic (split evenly over partitions). */
  policyFor: (topic: string) => PartitionPolicy;
  /** Batches are cut at about this many bytes. */
  maxBatchBytes: number;
  /** Tests substitute failing file writes. */
  openSegmentIo?: OpenSegmentIo;
}

export interface TopicUsage {
  topic: string;
  bytes: number;
  segments: number;
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
          await writeFileAtomic(join(dir, spec.name, 'topic.json'), JSON.stringify({ partitions: spec.partitions }), this.options.fsync === 'always');
        }
        await this.open(spec);
      }
    });
    this.creating = run.catch(() => undefined);
    return run;
  }

  private async open(spec: TopicSpec): Promise<void> {
    const topicPolicy = this.options.policyFor(spec.name);
    const policy: PartitionPolicy = {
      ...topicPolicy,
      retentionBytes: topicPolicy.retentionBytes === undefined ? undefined : Math.ceil(topicPolicy.retentionBytes / spec.partitions),
    };
    const partitions: PartitionLog[] = [];
    try {
      for (let p = 0; p < spec.partitions; p++) {
        const dir = this.topicsDir;
        let segments;
        if (dir === undefined) {
          segments = new MemorySegmentStore();
        } else {
          const files = new FileSegmentStore(join(dir, spec.name, String(p)), this.options.fsync === 'always', this.options.openSegmentIo);
          const legacy = join(dir, spec.name, `${p}.log`);
          if (await stat(legacy).then((s) => s.isFile(), () => false)) await files.convertLegacy(legacy);
          segments = files;
        }
        const partition = p;
        partitions.push(await PartitionLog.open(segments, policy, this.options.fsync, () => this.notify(spec.name, partition)));
      }
    } catch (err) {
      await Promise.all(partitions.map((l) => l.close()));
      throw err;
    }
    this.topics.set(spec.name, partitions);
  }

  private notify(topic: string, partition: number): void {
    for (const listener of this.listeners) listener(topic, partition);
  }

  partitionCount(topic: string): number | undefined {
    return this.topics.get(topic)?.length;
  }

  topicNames(): string[] {
    return [...this.topics.keys()];
  }

  /** Resolves once every record is written (and synced, under the `always` policy) and visible. */
  async append(topic: string, records: readonly LogRecord[]): Promise<void> {
    const partitions = this.partitionsOf(topic);
    const now = this.options.clock.now();
    const byPartition = new Map<number, LogRecord[]>();
    for (const r of records) {
      const p = r.partition ?? partitionForKey(r.key, partitions.length);
      if (!Number.isInteger(p) || p < 0 || p >= partitions.length) {
        throw new PmfError('ERR_INTERNAL', `append to ${topic}: partition ${p} is outside its ${partitions.length} partitions`);
      }
      let list = byPartition.get(p);
      if (list === undefined) byPartition.set(p, (list = []));
      list.push(r);
    }
    // allSettled first so a failing partition does not leave another's write unobserved.
    const results = await Promise.allSettled([...byPartition].map(([p, list]) => partitions[p].append(list, now)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Up to max records of one partition from offset `from` (the log start if it is lower). */
  async read(topic: string, partition: number, from: number, max: number): Promise<ConsumedRecord[]> {
    const records = await this.partitionsOf(topic)[partition].read(from, max, this.options.maxBatchBytes);
    return records.map((r) => ({ partition, offset: String(r.offset), key: r.key, value: r.value, timestamp: r.timestamp }));
  }

  /** The first offset still kept (Kafka's log start offset). */
  start(topic: string, partition: number): number {
    return this.partitionsOf(topic)[partition].start;
  }

  /** The next offset to be written (Kafka's log end offset). */
  end(topic: string, partition: number): number {
    return this.partitionsOf(topic)[partition].end;
  }

  onAppend(listener: (topic: string, partition: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Retention and compaction of every partition; compactBelow gives the lowest committed offset. */
  async maintain(compactBelow: (topic: string, partition: number) => number | undefined): Promise<MaintenanceResult> {
    const total: MaintenanceResult = { segmentsDeleted: 0, recordsDeleted: 0, recordsCompacted: 0 };
    for (const [topic, partitions] of this.topics) {
      for (let p = 0; p < partitions.length; p++) {
        const r = await partitions[p].maintain(this.options.clock.now(), compactBelow(topic, p));
        total.segmentsDeleted += r.segmentsDeleted;
        total.recordsDeleted += r.recordsDeleted;
        total.recordsCompacted += r.recordsCompacted;
      }
    }
    return total;
  }

  /** Syncs every partition with unsynced appends (the `interval` policy). */
  async sync(): Promise<void> {
    const results = await Promise.allSettled([...this.topics.values()].flat().map((l) => l.sync()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  usage(): TopicUsage[] {
    return [...this.topics].map(([topic, partitions]) => ({
      topic,
      bytes: partitions.reduce((sum, l) => sum + l.sizeBytes, 0),
      segments: partitions.reduce((sum, l) => sum + l.segmentCount, 0),
    }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.topics.values()].flat().map((l) => l.close()));
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
