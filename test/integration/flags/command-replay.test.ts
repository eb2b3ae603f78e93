// Replaying pmf.commands.v1 from the beginning (test plan T15): new consumer groups read every
// command again, twice, through the real consumer and writer; PostgreSQL, Redis, the audit log,
// the outbox and the change notices stay exactly as they were.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import type { FlagCommand } from '../../../src/events/flag-command.js';
import { FlagCommandConsumer } from '../../../src/flags/flag-command-consumer.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { CommandLog } from '../../helpers/flags/command-log.js';
import { uniqueName, waitFor } from '../../helpers/services.js';
import { countRows, restore, rollback, type MigratedStore } from './flag-store-fixture.js';
import { openFlagStack, type FlagStack } from './flag-stack.js';
import { NoticeRecorder } from './redis-fixture.js';
import { silentLogger } from '../../../src/core/logger.js';

describe('replaying the commands topic', () => {
  let stack: FlagStack;
  let store: MigratedStore;
  let repo: FlagRepository;
  let cache: RedisFlagCache;
  let log: CommandLog;
  let notices: NoticeRecorder;
  const stoppers: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    stack = await openFlagStack();
    ({ store, repo, cache } = stack);
    notices = await NoticeRecorder.subscribe(cache.channel);
    log = await CommandLog.open(3);
  });
  afterEach(async () => {
    for (const stop of stoppers.splice(0)) await stop();
    await log.close();
    await notices.close();
    await stack.close();
  });

  /** Runs one consumer group over the whole topic, until it has committed every partition's end. */
  const consumeAll = async (ends: number[]) => {
    const relay = new OutboxRelay({ logger: silentLogger, repository: repo, cache, clock: systemClock, pollIntervalMs: 0, reconcileIntervalMs: 0 });
    const writer = new FlagWriter({ logger: silentLogger, repository: repo, relay, clock: systemClock, pinSweepIntervalMs: 0 });
    const groupId = uniqueName('flag-writer');
    const consumer = new FlagCommandConsumer({ log: log.log, writer, groupId, topic: log.topic, keyRing: log.keyRing, isDeclared: () => true });
    await writer.start();
    await consumer.start();
    try {
      await waitFor(async () => (await Promise.all(ends.map((_, p) => log.committed(groupId, p)))).every((c, p) => c === ends[p]), {
        message: `group ${groupId} at the end of the topic`,
      });
    } finally {
      await consumer.stop();
      await writer.stop();
    }
    return writer.metrics().commands;
  };

  const state = async () => ({
    flags: await Promise.all(['f1', 'f2', 'f3'].map((f) => repo.getFlag(f))),
    redis: await Promise.all(['f1', 'f2', 'f3'].map((f) => cache.readFeature(f))),
    audit: await countRows(store.sql, store.schema, 'audit_log'),
    outbox: await countRows(store.sql, store.schema, 'outbox'),
    applied: await countRows(store.sql, store.schema, 'applied_commands'),
    versions: await store.sql.query(`SELECT feature, version FROM "${store.schema}".feature_versions ORDER BY feature`),
  });

  it('changes nothing when the topic is read again from offset 0, twice', async () => {
    const commands: FlagCommand[] = [];
    for (const f of ['f1', 'f2', 'f3']) {
      commands.push(rollback(f, 'a'), rollback(f, 'b'), restore(f, 'a'));
    }
    const duplicated = [...commands, commands[0], commands[4]]; // delivered twice even the first time
    await log.send(...duplicated);
    // Features map to partitions by key; count what each partition holds from the log itself.
    const ends = [0, 0, 0];
    for await (const batch of log.log.readAll!(log.topic)) ends[batch.partition] += batch.records.length;
    expect(ends.reduce((a, b) => a + b, 0)).toBe(duplicated.length);

    const first = await consumeAll(ends);
    expect(first).toMatchObject({ applied: 9, duplicate: 2 });
    await notices.waitForCount(9);
    const before = await state();
    expect(before).toMatchObject({ audit: 9, outbox: 9, applied: 9 });
    expect(before.redis).toEqual([1, 2, 3].map(() => ({ version: 3, cohorts: { a: 'on', b: 'off' } })));

    for (let replay = 0; replay < 2; replay++) {
      const again = await consumeAll(ends);
      expect(again).toEqual({ applied: 0, duplicate: 11, no_change: 0, skipped_pinned: 0 });
      expect(await state()).toEqual(before);
    }
    // Start-up reconcile found Redis current and the replays applied nothing: no new notices.
    const marker = 'marker';
    await cache.writeFeature(marker, 1, { a: 'on' });
    await waitFor(() => notices.messages.includes(marker), { message: 'marker notice' });
    expect(notices.messages.filter((m) => m !== marker)).toHaveLength(9);
  });
});
