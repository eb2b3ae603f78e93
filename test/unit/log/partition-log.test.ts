// One partition of the embedded log: segments roll, retention deletes whole closed segments by time
// and size, compaction keeps the newest record per key below the given offset (and survives a
// restart), and a full disk or a short write is a retryable coded error that acknowledges nothing.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSegmentStore, type OpenSegmentIo, type SegmentIo } from '../../../src/log/embedded/file-segment.js';
import { PartitionLog, type PartitionPolicy } from '../../../src/log/embedded/partition-log.js';
import { MemorySegmentStore, type SegmentStore } from '../../../src/log/embedded/segment.js';

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pmf-partition-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const policy = (p: Partial<PartitionPolicy> = {}): PartitionPolicy => ({ segmentBytes: 200, segmentMs: 60_000, ...p });
const rec = (key: string, value: string) => ({ key, value: Buffer.from(value) });
/** Every record from `from` to the end, read as a consumer does: batch after batch. */
async function readAll(log: PartitionLog, from = 0) {
  const out = [];
  for (let at = Math.max(from, log.start); at < log.end; ) {
    const batch = await log.read(at, 1000, 1 << 20);
    if (batch.length === 0) break;
    out.push(...batch);
    at = batch[batch.length - 1].offset + 1;
  }
  return out;
}
const values = async (log: PartitionLog) => (await readAll(log)).map((r) => `${r.offset}:${r.key}=${r.value}`);

const stores: [string, () => SegmentStore][] = [
  ['in memory', () => new MemorySegmentStore()],
  ['in files', () => new FileSegmentStore(dir(), true)],
];

for (const [name, makeStore] of stores) {
  describe(`PartitionLog ${name}`, () => {
    it('rolls segments by size and deletes the oldest closed ones past the size retention', async () => {
      const log = await PartitionLog.open(makeStore(), policy({ retentionBytes: 500 }), 'always', () => undefined);
      for (let i = 0; i < 30; i++) await log.append([rec(`k${i}`, 'x'.repeat(20))], 1000);
      expect(log.segmentCount).toBeGreaterThan(3);
      const before = log.sizeBytes;
      const r = await log.maintain(1000, undefined);
      expect(r.segmentsDeleted).toBeGreaterThan(0);
      expect(log.sizeBytes).toBeLessThan(before);
      expect(log.sizeBytes).toBeLessThanOrEqual(500);
      expect(log.end).toBe(30);
      // What is left is the newest contiguous run, starting at the new log start.
      const left = await readAll(log);
      expect(left[0].offset).toBe(log.start);
      expect(left.map((x) => x.offset)).toEqual(Array.from({ length: 30 - log.start }, (_, i) => log.start + i));
      await log.close();
    });

    it('deletes closed segments older than the time retention, rolling a quiet one first', async () => {
      const log = await PartitionLog.open(makeStore(), policy({ segmentBytes: 1 << 20, segmentMs: 10_000, retentionMs: 60_000 }), 'always', () => undefined);
      await log.append([rec('a', '1'), rec('b', '2')], 0);
      await log.maintain(5_000, undefined); // young: nothing happens
      expect(log.segmentCount).toBe(1);
      await log.maintain(20_000, undefined); // older than segmentMs: rolled, not yet expired
      expect(log.segmentCount).toBe(2);
      await log.append([rec('c', '3')], 20_000);
      const r = await log.maintain(61_000, undefined);
      expect(r).toMatchObject({ segmentsDeleted: 1, recordsDeleted: 2 });
      expect(log.start).toBe(2);
      expect(await values(log)).toEqual(['2:c=3']);
      await log.close();
    });

    it('compacts closed segments below the lowest commit to the newest record per key', async () => {
      const log = await PartitionLog.open(makeStore(), policy({ segmentBytes: 100, compactionKey: (r) => r.key }), 'always', () => undefined);
      for (let i = 0; i < 12; i++) await log.append([rec(`k${i % 3}`, `v${i}`)], 1000);
      const all = await values(log);
      // Nothing read yet by any group: nothing compacted.
      expect((await log.maintain(1000, undefined)).recordsCompacted).toBe(0);
      expect((await log.maintain(1000, 0)).recordsCompacted).toBe(0);
      const r = await log.maintain(1000, 12);
      expect(r.recordsCompacted).toBeGreaterThan(0);
      const after = await values(log);
      // Per key the newest value is still there, offsets kept, order kept, the active segment untouched.
      for (const k of ['k0', 'k1', 'k2']) expect(after.filter((v) => v.includes(`${k}=`)).at(-1)).toBe(all.filter((v) => v.includes(`${k}=`)).at(-1));
      expect(after.length).toBe(all.length - r.recordsCompacted);
      expect(after).toEqual([...after].sort((a, b) => Number(a.split(':')[0]) - Number(b.split(':')[0])));
      // Reading inside a hole continues at the next record that exists.
      const hole = all.map((v) => Number(v.split(':')[0])).find((o) => !after.some((v) => v.startsWith(`${o}:`)))!;
      expect(Number((await log.read(hole, 1, 1 << 20))[0].offset)).toBeGreaterThan(hole);
      // A second pass finds nothing more to drop.
      expect((await log.maintain(1000, 12)).recordsCompacted).toBe(0);
      await log.append([rec('k9', 'new')], 1000);
      expect(log.end).toBe(13);
      await log.close();
    });
  });
}

describe('PartitionLog in files, across restarts', () => {
  it('finds compacted segments, offsets and the end again after reopening', async () => {
    const d = dir();
    const p = policy({ segmentBytes: 100, compactionKey: (r) => r.key });
    const first = await PartitionLog.open(new FileSegmentStore(d, true), p, 'always', () => undefined);
    for (let i = 0; i < 12; i++) await first.append([rec(`k${i % 3}`, `v${i}`)], 1000);
    await first.maintain(1000, 12);
    const expected = await values(first);
    await first.close();
    const second = await PartitionLog.open(new FileSegmentStore(d, true), p, 'always', () => undefined);
    expect(await values(second)).toEqual(expected);
    expect(second.end).toBe(12);
    await second.close();
  });

  it('drops a segment a crashed compaction left behind (its records are in the rewritten one)', async () => {
    const d = dir();
    const p = policy({ segmentBytes: 100, compactionKey: (r) => r.key });
    const first = await PartitionLog.open(new FileSegmentStore(d, true), p, 'always', () => undefined);
    for (let i = 0; i < 12; i++) await first.append([rec(`k${i % 3}`, `v${i}`)], 1000);
    const names = readdirSync(d).sort();
    // Keep a copy of the second segment, as if the crash came before its deletion.
    const second = names[1];
    const { readFileSync, writeFileSync } = await import('node:fs');
    const copy = readFileSync(join(d, second));
    await first.maintain(1000, 12);
    const expected = await values(first);
    await first.close();
    writeFileSync(join(d, second), copy);
    writeFileSync(join(d, `${names[0]}.cleaned`), 'half-written output');
    const reopened = await PartitionLog.open(new FileSegmentStore(d, true), p, 'always', () => undefined);
    expect(await values(reopened)).toEqual(expected);
    expect(readdirSync(d)).not.toContain(second);
    expect(readdirSync(d).some((n) => n.endsWith('.cleaned'))).toBe(false);
    await reopened.close();
  });
});

/** Real files whose writes fail the way a full disk makes them fail. */
function failingIo(mode: { failWrites: 'enospc' | 'short' | 'none' }): OpenSegmentIo {
  return async (path, flags) => {
    const handle = await open(path, flags);
    const io: SegmentIo = {
      read: (b, o, l, p) => handle.read(b, o, l, p),
      async write(b, o, l, p) {
        if (mode.failWrites === 'enospc') {
          // Part of the bytes land before the disk fills up: the segment must cut them back.
          await handle.write(b, o, Math.min(l, 5), p);
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }
        if (mode.failWrites === 'short') return handle.write(b, o, Math.min(l, 3), p).then((r) => ({ bytesWritten: r.bytesWritten > 0 && l > 3 ? 0 : r.bytesWritten }));
        return handle.write(b, o, l, p);
      },
      datasync: () => handle.datasync(),
      truncate: (len) => handle.truncate(len),
      close: () => handle.close(),
    };
    return io;
  };
}

describe('PartitionLog when the disk is full', () => {
  for (const failWrites of ['enospc', 'short'] as const) {
    it(`answers ${failWrites === 'enospc' ? 'ENOSPC' : 'a write that makes no progress'} with a retryable ERR_DISK_FULL, keeps nothing of it, and works once space is back`, async () => {
      const d = dir();
      const mode: { failWrites: 'enospc' | 'short' | 'none' } = { failWrites: 'none' };
      const log = await PartitionLog.open(new FileSegmentStore(d, true, failingIo(mode)), policy({ segmentBytes: 1 << 20 }), 'always', () => undefined);
      await log.append([rec('a', 'kept')], 1);
      mode.failWrites = failWrites;
      await expect(log.append([rec('b', 'refused')], 2)).rejects.toMatchObject({ code: 'ERR_DISK_FULL', retryable: true });
      expect(log.end).toBe(1);
      mode.failWrites = 'none';
      await log.append([rec('b', 'retried')], 3);
      expect(await values(log)).toEqual(['0:a=kept', '1:b=retried']);
      await log.close();
      const reopened = await PartitionLog.open(new FileSegmentStore(d, true), policy(), 'always', () => undefined);
      expect(await values(reopened)).toEqual(['0:a=kept', '1:b=retried']);
      await reopened.close();
    });
  }
});
