// Committed offsets of the embedded log's consumer groups: the next offset to read per
// (group, topic, partition). With a data directory, each group's offsets are one JSON file,
// replaced atomically on every commit, so a restart resumes where the stages last checkpointed.

import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { diskError } from './disk-errors.js';
import type { TopicPartitionOffset } from '../partitioned-log.js';

type GroupOffsets = Map<string, number>;

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class EmbeddedOffsetStore {
  private readonly groups = new Map<string, GroupOffsets>();
  private readonly writes = new Map<string, Promise<void>>();

  constructor(private readonly options: { dataDir?: string; fsync: boolean }) {}

  private get dir(): string | undefined {
    return this.options.dataDir === undefined ? undefined : join(this.options.dataDir, 'groups');
  }

  async load(): Promise<void> {
    const dir = this.dir;
    if (dir === undefined) return;
    await mkdir(dir, { recursive: true });
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      const saved = JSON.parse(await readFile(join(dir, name), 'utf8')) as {
        group: string;
        offsets: { topic: string; partition: number; offset: number }[];
      };
      this.groups.set(saved.group, new Map(saved.offsets.map((o) => [tpKey(o.topic, o.partition), o.offset])));
    }
  }

  committed(group: string, topic: string, partition: number): number | undefined {
    return this.groups.get(group)?.get(tpKey(topic, partition));
  }

  /** The lowest committed offset of any group on the partition; undefined if no group committed. */
  lowestCommitted(topic: string, partition: number): number | undefined {
    let lowest: number | undefined;
    for (const offsets of this.groups.values()) {
      const o = offsets.get(tpKey(topic, partition));
      if (o !== undefined && (lowest === undefined || o < lowest)) lowest = o;
    }
    return lowest;
  }

  /** Resolves once the offsets are durable (when a data directory is configured). */
  commit(group: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    const apply = (into: GroupOffsets) => {
      for (const o of offsets) into.set(tpKey(o.topic, o.partition), Number(o.offset));
      return into;
    };
    const current = () => {
      let map = this.groups.get(group);
      if (map === undefined) this.groups.set(group, (map = new Map()));
      return map;
    };
    const dir = this.dir;
    if (dir === undefined) {
      apply(current());
      return Promise.resolve();
    }
    // Writes of one group are chained and each writes the full map, so the file never goes back to
    // an older state. Memory changes only after the write, so a failed commit is not half-visible.
    const file = join(dir, `${encodeURIComponent(group)}.json`);
    const write = (this.writes.get(group) ?? Promise.resolve()).then(async () => {
      const next = apply(new Map(current()));
      const json = JSON.stringify({
        group,
        offsets: [...next].map(([k, offset]) => {
          const [topic, partition] = k.split('\u0000');
          return { topic, partition: Number(partition), offset };
        }),
      });
      await writeFileAtomic(file, json, this.options.fsync).catch((err: unknown) => {
        throw diskError(file, 'offset commit', err);
      });
      this.groups.set(group, next);
    });
    this.writes.set(group, write.catch(() => undefined));
    return write;
  }

  async close(): Promise<void> {
    await Promise.all(this.writes.values());
  }
}
