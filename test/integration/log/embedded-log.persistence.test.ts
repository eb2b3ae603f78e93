// The embedded log keeps its records and committed offsets in a data directory, so `npm start`
// resumes where it stopped. Real files in a temporary directory.

import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import type { ConsumedRecord, PartitionBatch } from '../../../src/log/partitioned-log.js';
import { waitFor } from '../../helpers/services.js';
import { silentLogger } from '../../../src/core/logger.js';

const dirs: string[] = [];
const logs: EmbeddedLog[] = [];

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pmf-embedded-persist-'));
  dirs.push(dir);
  return dir;
}

function open(dir: string): EmbeddedLog {
  const log = new EmbeddedLog({ dataDir: dir, fsync: 'always', logger: silentLogger });
  logs.push(log);
  return log;
}

afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function readAll(log: EmbeddedLog, topic: string): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = [];
  for await (const batch of log.readAll(topic)) records.push(...batch.records);
  return records;
}

async function sendValues(log: EmbeddedLog, topic: string, values: string[]): Promise<void> {
  const producer = log.producer('p');
  await producer.start();
  await producer.send(topic, values.map((v) => ({ key: v, value: Buffer.from(v) })));
  await producer.stop();
}

describe('EmbeddedLog with a data directory', () => {
  it('keeps records, partition counts and committed offsets across close and reopen', async () => {
    const dir = dataDir();
    const first = open(dir);
    await first.ensureTopics([{ name: 'events', partitions: 3 }]);
    const values = Array.from({ length: 20 }, (_, i) => `v${i}`);
    await sendValues(first, 'events', values);
    const before = await readAll(first, 'events');

    const seen: PartitionBatch[] = [];
    const consumer = first.consumer(
      { groupId: 'stage', topics: ['events'], fromBeginning: true },
      {
        async handleBatch(batch) {
          seen.push(batch);
          // Commit all but the last record of each partition: those must come again after reopen.
          const last = batch.records[batch.records.length - 1];
          await consumer.commit([{ topic: 'events', partition: batch.partition, offset: last.offset }]);
        },
      },
    );
    await consumer.start();
    await waitFor(() => seen.flatMap((b) => b.records).length === 20, { message: 'all records consumed' });
    await first.close();

    const second = open(dir);
    await second.ensureTopics([{ name: 'events', partitions: 8 }]); // exists: keeps its 3 partitions
    const after = await readAll(second, 'events');
    expect(after).toEqual(before);
    expect(new Set(after.map((r) => r.partition))).toEqual(new Set(before.map((r) => r.partition)));

    const resumed: ConsumedRecord[] = [];
    const again = second.consumer(
      { groupId: 'stage', topics: ['events'], fromBeginning: true },
      { async handleBatch(batch) { resumed.push(...batch.records); } },
    );
    await again.start();
    const lastPerPartition = [0, 1, 2]
      .map((p) => before.filter((r) => r.partition === p).at(-1))
      .filter((r): r is ConsumedRecord => r !== undefined);
    await waitFor(() => resumed.length >= lastPerPartition.length, { message: 'the uncommitted records again' });
    expect(resumed.map((r) => `${r.partition}@${r.offset}`).sort()).toEqual(
      lastPerPartition.map((r) => `${r.partition}@${r.offset}`).sort(),
    );

    // New appends continue the offsets.
    await sendValues(second, 'events', ['late']);
    const late = (await readAll(second, 'events')).find((r) => r.value.toString() === 'late')!;
    expect(Number(late.offset)).toBe(before.filter((r) => r.partition === late.partition).length);
  });

  /** A closed log whose one topic, 'one', has one partition holding a and b; and that partition's segment file. */
  async function closedLogOfAB(): Promise<{ dir: string; segment: string }> {
    const dir = dataDir();
    const log = open(dir);
    await log.ensureTopics([{ name: 'one', partitions: 1 }]);
    await sendValues(log, 'one', ['a', 'b']);
    await log.close();
    return { dir, segment: join(dir, 'topics', 'one', '0', '00000000000000000000.log') };
  }

  it('cuts off a record torn by a crash and keeps appending after it', async () => {
    const { dir, segment } = await closedLogOfAB();
    const goodSize = statSync(segment).size;
    appendFileSync(segment, Buffer.from([0, 0, 0, 40, 1, 2, 3])); // header of a record never finished

    const second = open(dir);
    expect((await readAll(second, 'one')).map((r) => r.value.toString())).toEqual(['a', 'b']);
    expect(statSync(segment).size).toBe(goodSize);
    await sendValues(second, 'one', ['c']);
    await second.close();

    const third = open(dir);
    expect((await readAll(third, 'one')).map((r) => `${r.offset}:${r.value}`)).toEqual(['0:a', '1:b', '2:c']);
  });

  it('refuses to load a segment corrupted in the middle', async () => {
    const { dir, segment } = await closedLogOfAB();
    const bytes = readFileSync(segment);
    bytes[bytes.length - 45] ^= 0xff; // inside the first record: more data follows it
    writeFileSync(segment, bytes);
    await expect(open(dir).ensureTopics([{ name: 'one', partitions: 1 }])).rejects.toMatchObject({
      code: 'ERR_INTERNAL',
      message: expect.stringContaining('00000000000000000000.log: corrupt record'),
    });
  });

  it('lets only one log use a data directory at a time, and takes over a dead owner\'s lock', async () => {
    const dir = dataDir();
    const owner = open(dir);
    await owner.ensureTopics([{ name: 'one', partitions: 1 }]);
    await expect(open(dir).ensureTopics([{ name: 'one', partitions: 1 }])).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: expect.stringContaining('in use'),
    });
    await owner.close();

    writeFileSync(join(dir, 'LOCK'), '999999999'); // a pid no process has: left by a crash
    const next = open(dir);
    await next.ensureTopics([{ name: 'one', partitions: 1 }]);
    expect(JSON.parse(readFileSync(join(dir, 'LOCK'), 'utf8')).pid).toBe(process.pid);
  });
});
