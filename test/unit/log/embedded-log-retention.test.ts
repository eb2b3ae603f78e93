// Retention seen from the embedded log's users: the timer of the injected clock deletes old
// segments, a group that had not read them continues at the log start (counted and logged, never
// silent), a compacted topic is compacted only below every group's commit, and a data directory in
// the format before segments is converted on open.

import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger, type Logger } from '../../../src/core/logger.js';
import { EmbeddedLog, type EmbeddedLogOptions } from '../../../src/log/embedded/embedded-log.js';
import type { ConsumedRecord } from '../../../src/log/partitioned-log.js';
import { legacyLogRecord } from '../../helpers/legacy-log-record.js';

const logs: EmbeddedLog[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function openLog(options: Omit<EmbeddedLogOptions, 'logger'>, warnings: unknown[] = []): EmbeddedLog {
  const logger: Logger = { ...silentLogger, warn: (m, f) => void warnings.push({ m, f }), child: () => logger };
  const log = new EmbeddedLog({ ...options, logger });
  logs.push(log);
  return log;
}

async function send(log: EmbeddedLog, topic: string, records: [string, string][]): Promise<void> {
  const p = log.producer('p');
  await p.start();
  await p.send(topic, records.map(([key, value]) => ({ key, value: Buffer.from(value) })));
  await p.stop();
}

/** Lets the timer's maintenance pass (file-free: a few turns of the loop) finish. */
async function turns(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !until(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('EmbeddedLog retention', () => {
  it('deletes expired segments on its timer, and a group that had not read them continues at the log start, counted', async () => {
    const clock = new ManualClock(0);
    const warnings: unknown[] = [];
    const log = openLog({ clock, retentionCheckIntervalMs: 1_000, retention: { t: { retentionMs: 10_000, segmentBytes: 1 << 20, segmentMs: 5_000 } } }, warnings);
    await log.ensureTopics([{ name: 't', partitions: 1 }]);
    await send(log, 't', [['a', '1'], ['b', '2']]);
    clock.advance(6_000); // the quiet segment is rolled at the next check
    await turns();
    clock.advance(1_000);
    await turns();
    await send(log, 't', [['c', '3']]);
    clock.advance(10_000); // past retention: the first segment goes
    await settle(() => log.stats().retentionSegmentsDeleted > 0);
    expect(log.stats()).toMatchObject({ retentionSegmentsDeleted: 1, retentionRecordsDeleted: 2 });
    expect((await log.endOffsets('t')).get(0)).toBe('3');

    const seen: ConsumedRecord[] = [];
    const c = log.consumer({ groupId: 'late', topics: ['t'], fromBeginning: true }, { async handleBatch(b) { seen.push(...b.records); } });
    await c.start();
    await settle(() => seen.length > 0);
    expect(seen.map((r) => `${r.offset}:${r.value}`)).toEqual(['2:3']);
    await c.stop();

    // A group whose commit lies below the log start: skipped records are counted and logged.
    const g = log.consumer({ groupId: 'behind', topics: ['t'], fromBeginning: true }, { async handleBatch() {} });
    await g.start();
    await g.commit([{ topic: 't', partition: 0, offset: '0' }]);
    await g.stop();
    const again: ConsumedRecord[] = [];
    const h = log.consumer({ groupId: 'behind', topics: ['t'], fromBeginning: true }, { async handleBatch(b) { again.push(...b.records); } });
    await h.start();
    await settle(() => again.length > 0);
    expect(again.map((r) => r.offset)).toEqual(['2']);
    expect(log.stats().recordsSkippedByRetention).toBe(2);
    expect(log.retentionGaps()).toEqual({ gaps: new Map([['t', 1]]), recordsLost: new Map([['t', 2]]) });
    expect(JSON.stringify(warnings)).toMatch(/records deleted by retention before this group read them/);
    await h.stop();
  });

  it('compacts a compacted topic only below the lowest commit of the groups reading it', async () => {
    const clock = new ManualClock(0);
    const log = openLog({ clock, retentionCheckIntervalMs: 60_000, retention: { s: { segmentBytes: 4096, compactionKey: (r) => r.key } } });
    await log.ensureTopics([{ name: 's', partitions: 1 }]);
    for (let i = 0; i < 200; i++) await send(log, 's', [[`k${i % 4}`, `value-${i}-${'x'.repeat(40)}`]]);
    const seen: ConsumedRecord[] = [];
    const c = log.consumer({ groupId: 'g', topics: ['s'], fromBeginning: true }, {
      async handleBatch(b) {
        seen.push(...b.records);
        // Commits only up to offset 100: records after it are unread as far as compaction knows.
        if (Number(b.records.at(-1)!.offset) < 100) await c.commit([{ topic: 's', partition: 0, offset: String(Number(b.records.at(-1)!.offset) + 1) }]);
      },
    });
    await c.start();
    await settle(() => seen.length === 200);
    await log.runMaintenance();
    expect(log.stats().recordsCompacted).toBeGreaterThan(0);
    const left: ConsumedRecord[] = [];
    for await (const b of log.readAll('s')) left.push(...b.records);
    // Every record at or past the lowest commit is still there, and each key's newest before it.
    const commit = 101;
    expect(left.filter((r) => Number(r.offset) >= commit).length).toBe(200 - commit);
    expect(left.filter((r) => Number(r.offset) < commit).length).toBeLessThan(commit);
    await c.stop();
  });

  it('converts a data directory written before segments, keeping offsets and values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmf-legacy-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'topics', 'old'), { recursive: true });
    writeFileSync(join(dir, 'topics', 'old', 'topic.json'), JSON.stringify({ partitions: 1 }));
    writeFileSync(join(dir, 'topics', 'old', '0.log'), Buffer.concat([legacyLogRecord('a', 'one', 1234), legacyLogRecord('b', 'two', 1234)]));
    const log = openLog({ dataDir: dir });
    await log.ensureTopics([{ name: 'old', partitions: 1 }]);
    const records: ConsumedRecord[] = [];
    for await (const b of log.readAll('old')) records.push(...b.records);
    expect(records.map((r) => `${r.offset}:${r.key}:${r.value}:${r.timestamp}`)).toEqual(['0:a:one:1234', '1:b:two:1234']);
    expect(existsSync(join(dir, 'topics', 'old', '0.log'))).toBe(false);
    await send(log, 'old', [['c', 'three']]);
    expect((await log.endOffsets('old')).get(0)).toBe('3');
  });
});

describe('EmbeddedLog fsync policy', () => {
  /** Real segment files that count fdatasync calls. */
  function countingIo(counter: { syncs: number }) {
    return async (path: string, flags: 'r+' | 'w+') => {
      const { open } = await import('node:fs/promises');
      const h = await open(path, flags);
      return {
        read: (b: Buffer, o: number, l: number, p: number) => h.read(b, o, l, p),
        write: (b: Buffer, o: number, l: number, p: number) => h.write(b, o, l, p),
        datasync: async () => {
          counter.syncs++;
          await h.datasync();
        },
        truncate: (n: number) => h.truncate(n),
        close: () => h.close(),
      };
    };
  }

  for (const [policy, syncedBeforeTimer] of [['always', true], ['interval', false], ['never', false]] as const) {
    it(`${policy}: ${syncedBeforeTimer ? 'syncs before a send resolves' : 'acknowledges first'}${policy === 'interval' ? ', then syncs on the interval' : ''}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pmf-fsync-'));
      dirs.push(dir);
      const clock = new ManualClock(0);
      const counter = { syncs: 0 };
      const log = openLog({ dataDir: dir, clock, fsync: policy, fsyncIntervalMs: 1_000, openSegmentIo: countingIo(counter) });
      await log.ensureTopics([{ name: 't', partitions: 1 }]);
      await send(log, 't', [['a', '1']]);
      expect(counter.syncs > 0).toBe(syncedBeforeTimer);
      const before = counter.syncs;
      clock.advance(1_000);
      await settle(() => counter.syncs > before);
      expect(counter.syncs > before).toBe(policy === 'interval');
    });
  }
});
