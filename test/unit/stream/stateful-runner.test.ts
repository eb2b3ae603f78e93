// The runner's exactly-once effect on the embedded log: state restored from its checkpoint,
// records already in the checkpoint skipped, outputs published before the checkpoint; and urgent
// outputs sent without waiting for the publish interval, even behind a flush in flight, without
// waiting for a checkpoint save in flight, and without waiting for the rest of their batch.

import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import { EmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import type { BatchHandler, ConsumedRecord, GroupConsumer, GroupConsumerOptions, LogProducer, LogRecord, PartitionBatch, PartitionedLog } from '../../../src/log/partitioned-log.js';
import { InMemoryCheckpointStore, type Checkpoint } from '../../../src/stream/checkpoint-store.js';
import type { PartitionProcessor, RestorePacing } from '../../../src/stream/partition-processor.js';
import { StatefulRunner } from '../../../src/stream/stateful-runner.js';
import { waitFor } from '../../helpers/services.js';

/** Sums values per key; publishes its running totals (cumulative) at each flush. */
class SumProcessor implements PartitionProcessor {
  constructor(readonly partition: number, public sums: Record<string, number> = {}) {}
  apply(r: ConsumedRecord) {
    this.sums[r.key!] = (this.sums[r.key!] ?? 0) + Number(r.value.toString());
  }
  takeOutputs() {
    return [{ topic: 'totals', records: [{ key: String(this.partition), value: Buffer.from(JSON.stringify(this.sums)) }] }];
  }
  serialize() {
    return Buffer.from(JSON.stringify(this.sums));
  }
}

const factory = {
  create: (p: number) => new SumProcessor(p),
  restore: async (p: number, s: Buffer) => new SumProcessor(p, JSON.parse(s.toString())),
};

async function setup(store: InMemoryCheckpointStore = new InMemoryCheckpointStore()) {
  const log = new EmbeddedLog({ logger: silentLogger, maxBatchSize: 37 });
  await log.ensureTopics([{ name: 'in', partitions: 3 }, { name: 'totals', partitions: 3 }]);
  const producer = log.producer('p');
  await producer.start();
  const runner = () =>
    new StatefulRunner({ name: 'sum', log, producer, store, factory, groupId: 'g', inputTopic: 'in', checkpointIntervalMs: 20, clock: systemClock });
  const send = (n: number, from = 0) =>
    producer.send('in', Array.from({ length: n }, (_, i) => ({ key: `k${(from + i) % 7}`, value: Buffer.from(String(from + i)) })));
  const totals = async () => {
    const out: Record<string, number> = {};
    for (let p = 0; p < 3; p++) {
      const cp = await store.load('sum', 'in', p);
      if (cp) for (const [k, v] of Object.entries(JSON.parse(cp.state.toString()) as Record<string, number>)) out[k] = (out[k] ?? 0) + v;
    }
    return out;
  };
  return { log, producer, store, runner, send, totals };
}

/** Order-insensitive comparison of two totals. */
function same(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = Object.keys(a).sort();
  return keys.join() === Object.keys(b).sort().join() && keys.every((k) => a[k] === b[k]);
}

function expected(n: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) out[`k${i % 7}`] = (out[`k${i % 7}`] ?? 0) + i;
  return out;
}

/** Every output is urgent, as a rollback command is. */
class UrgentSum extends SumProcessor {
  private taken = 0;
  private applied = 0;
  override apply(r: ConsumedRecord) {
    super.apply(r);
    this.applied++;
  }
  hasUrgentOutputs() {
    return this.applied > this.taken;
  }
  override takeOutputs() {
    this.taken = this.applied;
    return super.takeOutputs();
  }
}

const urgentFactory = { create: (p: number) => new UrgentSum(p), restore: async (p: number, st: Buffer) => new UrgentSum(p, JSON.parse(st.toString())) };

/** Refuses the next `refuse` saves, as the store does when another owner's checkpoint is ahead. */
class RefusingStore extends InMemoryCheckpointStore {
  refuse = 0;
  override async save(stage: string, topic: string, cp: Checkpoint): Promise<boolean> {
    if (this.refuse > 0) {
      this.refuse--;
      return false;
    }
    return super.save(stage, topic, cp);
  }
}

/** Holds sends of partition 0's outputs until released (a broker that does not ack): the first one, or every one. */
function holdingPartition0(inner: LogProducer, every: boolean) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let holding = false;
  const producer: LogProducer = {
    name: 'held',
    start: async () => undefined,
    stop: async () => undefined,
    send: async (topic, records) => {
      if ((every || !holding) && records.some((r) => r.key === '0')) {
        holding = true;
        await held;
      }
      await inner.send(topic, records);
    },
  };
  return { producer, release, holding: () => holding };
}

describe('stateful runner', () => {
  it('resumes from its checkpoint after a restart without losing or double-counting', async () => {
    const s = await setup();
    await s.send(500);
    const a = s.runner();
    await a.start();
    await waitFor(async () => same(await s.totals(), expected(500)), { message: 'first 500 not checkpointed' });
    await a.stop();
    await a.stop(); // idempotent

    await s.send(500, 500);
    const b = s.runner();
    await b.start();
    await waitFor(async () => same(await s.totals(), expected(1000)), { message: 'second 500 not checkpointed' });
    expect(b.stats.recordsApplied).toBe(500);
    await b.stop();
    await s.log.close();
  });

  it('skips records the checkpoint already holds when the committed offset lags behind it', async () => {
    const s = await setup();
    await s.send(300);
    const a = s.runner();
    await a.start();
    await waitFor(async () => same(await s.totals(), expected(300)));
    await a.stop();
    // Simulate a crash between checkpoint and commit: rewind the group's committed offsets.
    const c = s.log.consumer({ groupId: 'g', topics: ['in'], fromBeginning: true }, { handleBatch: async () => {} });
    await c.start();
    await c.commit([0, 1, 2].map((partition) => ({ topic: 'in', partition, offset: '0' })));
    await c.stop();

    const b = s.runner();
    await b.start();
    await s.send(1, 300);
    await waitFor(async () => same(await s.totals(), expected(301)), { message: 'replay changed the totals' });
    expect(b.stats.recordsSkippedBelowCheckpoint).toBe(300);
    await b.stop();
    await s.log.close();
  });

  it('publishes cumulative outputs before it checkpoints', async () => {
    const s = await setup();
    await s.send(100);
    const r = s.runner();
    await r.start();
    await waitFor(async () => same(await s.totals(), expected(100)));
    await r.stop();
    const latest: Record<string, Record<string, number>> = {};
    for await (const batch of s.log.readAll!('totals')) for (const rec of batch.records) latest[rec.key!] = JSON.parse(rec.value.toString());
    const merged: Record<string, number> = {};
    for (const sums of Object.values(latest)) for (const [k, v] of Object.entries(sums)) merged[k] = (merged[k] ?? 0) + v;
    expect(merged).toEqual(expected(100));
    await s.log.close();
  });

  it('after a refused save, reloads the checkpoint and re-reads what that state lacks', async () => {
    const store = new RefusingStore();
    const s = await setup(store);
    await s.send(300);
    const r = s.runner();
    await r.start();
    await waitFor(async () => same(await s.totals(), expected(300)));
    store.refuse = 2;
    await s.send(300, 300);
    await waitFor(async () => same(await s.totals(), expected(600)), { message: 'totals after the refused saves' });
    expect(r.stats.checkpointsRefused).toBe(2);
    expect(r.stats.staleStatesDropped).toBeGreaterThanOrEqual(1);
    await r.stop();
    await s.log.close();
  });

  it('sends an urgent output that arrived while a flush was in flight once that flush lands, not at the next tick', async () => {
    const s = await setup();
    // Every output is urgent (as a rollback command is); the first send hangs until released.
    let release!: () => void;
    const firstSendHeld = new Promise<void>((resolve) => (release = resolve));
    const sent: LogRecord[][] = [];
    const producer: LogProducer = {
      name: 'held',
      start: async () => undefined,
      stop: async () => undefined,
      send: async (topic, records) => {
        sent.push(records);
        if (sent.length === 1) await firstSendHeld;
        await s.producer.send(topic, records);
      },
    };
    // An hour between ticks and checkpoints: only the urgent path can publish in this test.
    const r = new StatefulRunner({
      name: 'urgent', log: s.log, producer, store: s.store, groupId: 'u', inputTopic: 'in', checkpointIntervalMs: 3600_000, clock: systemClock,
      factory: urgentFactory,
    });
    await r.start();
    await s.producer.send('in', [{ key: 'a', value: Buffer.from('1') }]);
    await waitFor(async () => (sent.length === 1 ? true : undefined), { message: 'the first urgent output' });
    await s.producer.send('in', [{ key: 'a', value: Buffer.from('2') }]);
    await waitFor(async () => (r.stats.recordsApplied === 2 ? true : undefined), { message: 'the second record applied' });
    expect(sent.length).toBe(1); // skipped: the first flush is still in flight
    release();
    await waitFor(async () => (sent.length === 2 ? true : undefined), { timeoutMs: 10_000, message: 'the urgent output left behind the in-flight flush' });
    expect(JSON.parse(sent[1][0].value.toString())).toEqual({ a: 3 });
    await r.stop();
    await s.log.close();
  });

  it('publishes an urgent output while a checkpoint save is in flight, and saves the state once that save lands', async () => {
    // The first save hangs until released (a slow PostgreSQL, or a commit behind a long poll).
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const saves: Checkpoint[] = [];
    class HeldStore extends InMemoryCheckpointStore {
      override async save(stage: string, topic: string, cp: Checkpoint): Promise<boolean> {
        saves.push(cp);
        if (saves.length === 1) await held;
        return super.save(stage, topic, cp);
      }
    }
    const s = await setup(new HeldStore());
    const sent: Record<string, number>[] = [];
    const producer: LogProducer = {
      name: 'recording',
      start: async () => undefined,
      stop: async () => undefined,
      send: async (topic, records) => {
        for (const r of records) sent.push(JSON.parse(r.value.toString()));
        await s.producer.send(topic, records);
      },
    };
    // Checkpoints fall due at once; publishing is urgent.
    const r = new StatefulRunner({ name: 'urgent', log: s.log, producer, store: s.store, groupId: 'u', inputTopic: 'in', checkpointIntervalMs: 1, clock: systemClock, factory: urgentFactory });
    await r.start();
    await s.producer.send('in', [{ key: 'a', value: Buffer.from('1') }]);
    await waitFor(async () => (saves.length === 1 ? true : undefined), { message: 'the first checkpoint save' });
    await s.producer.send('in', [{ key: 'a', value: Buffer.from('2') }]);
    await waitFor(async () => (sent.some((t) => t.a === 3) ? true : undefined), { timeoutMs: 10_000, message: 'the urgent output sent during the held save' });
    expect(saves.length).toBe(1); // no second save while the first is in flight
    expect(JSON.parse(saves[0].state.toString())).toEqual({ a: 1 });
    // Outputs stay in order: the first state's output before the second's.
    expect(sent.findIndex((t) => t.a === 1)).toBeLessThan(sent.findIndex((t) => t.a === 3));
    release();
    await waitFor(async () => (JSON.parse((await s.store.load('urgent', 'in', saves[0].partition))?.state.toString() ?? '{}').a === 3 ? true : undefined), {
      timeoutMs: 10_000, message: 'the due checkpoint saved after the held one landed',
    });
    await r.stop();
    await s.log.close();
  });

  it('tells the processor whether its batch came from a backlog when it asks what is urgent', async () => {
    // A log that hands over two batches: the first from a backlog, the second from the live tail.
    const records = (from: number, n: number): ConsumedRecord[] =>
      Array.from({ length: n }, (_, i) => ({ partition: 0, offset: String(from + i), key: 'a', value: Buffer.from('1'), timestamp: 0 }));
    const batches: PartitionBatch[] = [
      { topic: 'in', partition: 0, records: records(0, 3), catchingUp: true },
      { topic: 'in', partition: 0, records: records(3, 2), catchingUp: false },
    ];
    let delivered!: Promise<void>;
    const log = {
      consumer: (_options: unknown, handler: BatchHandler) => ({
        name: 'stub',
        start: async () => {
          delivered = (async () => {
            await handler.onAssignment?.([{ topic: 'in', partition: 0 }]);
            for (const b of batches) await handler.handleBatch(b, async () => undefined);
          })();
        },
        stop: async () => delivered,
        commit: async () => undefined,
      }),
    } as unknown as PartitionedLog;
    const asked: { offset: number; catchingUp: boolean }[] = [];
    class Asking extends SumProcessor {
      private last = -1;
      override apply(r: ConsumedRecord) {
        super.apply(r);
        this.last = Number(r.offset);
      }
      hasUrgentOutputs(catchingUp: boolean) {
        asked.push({ offset: this.last, catchingUp });
        return false;
      }
    }
    const producer: LogProducer = { name: 'none', start: async () => undefined, stop: async () => undefined, send: async () => undefined };
    const r = new StatefulRunner({
      name: 'asking', log, producer, store: new InMemoryCheckpointStore(), groupId: 'a', inputTopic: 'in', checkpointIntervalMs: 3600_000, clock: systemClock,
      factory: { create: (p: number) => new Asking(p), restore: async (p: number) => new Asking(p) },
    });
    await r.start();
    await delivered;
    await r.stop();
    expect(asked.filter((a) => a.offset < 3).map((a) => a.catchingUp)).toEqual([true, true, true]);
    expect(asked.filter((a) => a.offset >= 3).map((a) => a.catchingUp)).toEqual([false, false]);
  });

  it("keeps applying a kept partition's records after a rebalance while another partition's flush waits on the log", async () => {
    const s = await setup();
    const { producer, release, holding } = holdingPartition0(s.producer, false);
    const r = new StatefulRunner({ name: 'sum', log: s.log, producer, store: s.store, factory, groupId: 'g', inputTopic: 'in', checkpointIntervalMs: 20, clock: systemClock });
    await r.start();
    const toPartition = (partition: number, n: number) =>
      s.producer.send('in', Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: Buffer.from('1'), partition })));
    await toPartition(0, 10);
    await toPartition(1, 10);
    await waitFor(async () => (holding() && r.stats.recordsApplied === 20 ? true : undefined), { message: "partition 0's flush held" });

    // A second member joins: the runner keeps partitions 0 and 1 (range assignor, join order) and
    // checks that their checkpoints are still its own before it takes their next batch.
    const other = s.log.consumer({ groupId: 'g', topics: ['in'], fromBeginning: true }, { handleBatch: async () => {} });
    await other.start();
    await toPartition(1, 5);
    await waitFor(async () => (r.stats.recordsApplied === 25 ? true : undefined), {
      timeoutMs: 10_000, message: "partition 1's records applied while partition 0's publish is held",
    });
    expect([...r.processors().keys()].sort()).toEqual([0, 1]);
    release();
    await waitFor(async () => ((await s.store.loadOffset('sum', 'in', 0)) === '10' ? true : undefined), { message: "partition 0's checkpoint after the release" });
    await other.stop();
    await r.stop();
    await s.log.close();
  });

  it("drops a kept partition another owner moved on, and never saves the dropped state's flush that was still publishing", async () => {
    const s = await setup();
    // Every send of partition 0's outputs, the reloaded state's too, waits for the release.
    const { producer, release, holding } = holdingPartition0(s.producer, true);
    // Checkpoints fall due at once, so the held flush carries a state to save.
    const r = new StatefulRunner({ name: 'sum', log: s.log, producer, store: s.store, factory, groupId: 'g', inputTopic: 'in', checkpointIntervalMs: 1, clock: systemClock });
    await r.start();
    await s.producer.send('in', Array.from({ length: 10 }, (_, i) => ({ key: 'a', value: Buffer.from(String(i)), partition: 0 })));
    await waitFor(async () => (holding() && r.stats.recordsApplied === 10 ? true : undefined), { message: "partition 0's flush held" });
    // Meanwhile another owner (this runner was out of the group, say) checkpointed partition 0 at 3,
    // with a state of its own that tells its save from ours.
    expect(await s.store.save('sum', 'in', { partition: 0, offset: '3', state: Buffer.from(JSON.stringify({ theirs: 1, a: 3 })) })).toBe(true);
    const other = s.log.consumer({ groupId: 'g', topics: ['in'], fromBeginning: true }, { handleBatch: async () => {} });
    await other.start();
    await waitFor(async () => (r.stats.staleStatesDropped === 1 ? true : undefined), { message: 'the state of partition 0 dropped' });
    release();
    // The held flush (offset 10, past theirs) is not saved; the reloaded state re-reads 3..9 on top of theirs.
    await waitFor(async () => ((await s.store.loadOffset('sum', 'in', 0)) === '10' ? true : undefined), { message: 'partition 0 checkpointed again' });
    expect(JSON.parse((await s.store.load('sum', 'in', 0))!.state.toString())).toEqual({ theirs: 1, a: 3 + 3 + 4 + 5 + 6 + 7 + 8 + 9 });
    await other.stop();
    await r.stop();
    await s.log.close();
  });

  it('sends an urgent output before applying the rest of its batch', async () => {
    const s = await setup();
    const sent: Record<string, number>[] = [];
    const producer: LogProducer = {
      name: 'recording',
      start: async () => undefined,
      stop: async () => undefined,
      send: async (topic, records) => {
        for (const r of records) sent.push(JSON.parse(r.value.toString()));
        await s.producer.send(topic, records);
      },
    };
    // Five records of one key, there before the runner starts: one batch.
    await s.producer.send('in', [1, 2, 3, 4, 5].map((v) => ({ key: 'a', value: Buffer.from(String(v)) })));
    const r = new StatefulRunner({ name: 'urgent', log: s.log, producer, store: s.store, groupId: 'u', inputTopic: 'in', checkpointIntervalMs: 3600_000, clock: systemClock, factory: urgentFactory });
    await r.start();
    await waitFor(async () => (sent.some((t) => t.a === 15) ? true : undefined), { timeoutMs: 10_000, message: 'the whole batch published' });
    // The first record's output left as soon as it was applied, not after the other four.
    expect(sent[0]).toEqual({ a: 1 });
    await r.stop();
    await s.log.close();
  });

  it('stops a decode after a failed heartbeat, never uses its state, and ends the batch with the heartbeat error', async () => {
    const s = await setup();
    await s.send(100);
    const first = s.runner();
    await first.start();
    await waitFor(async () => (same(await s.totals(), expected(100)) ? true : undefined), { message: 'first 100 not checkpointed' });
    await first.stop();
    await s.send(100, 100);

    // A consumer that wants heartbeats (every 5 ms) and whose first heartbeat fails, as during a rebalance.
    const lost = new Error('The group is rebalancing, so a rejoin is needed');
    const batchErrors: unknown[] = [];
    let beats = 0;
    const log = Object.assign(Object.create(s.log) as PartitionedLog, {
      consumer: (options: GroupConsumerOptions, handler: BatchHandler) => {
        const inner = s.log.consumer(options, {
          onAssignment: (owned) => handler.onAssignment?.(owned) ?? Promise.resolve(),
          handleBatch: async (batch, heartbeat) => {
            try {
              await handler.handleBatch(batch, async () => {
                if (++beats === 1) throw lost;
                await heartbeat();
              });
            } catch (err) {
              batchErrors.push(err);
              throw err;
            }
          },
        });
        return Object.assign(Object.create(inner) as GroupConsumer, { heartbeatIntervalMs: 5 });
      },
    });
    // A decode of 40 slices of 2 ms each, pausing after every one (sliceMs is the runner's, so pause on every slice here).
    const decodes: { slices: number; finished: boolean }[] = [];
    const slowFactory = {
      create: (p: number) => new SumProcessor(p),
      restore: async (p: number, st: Buffer, _parts: unknown, pacing?: RestorePacing) => {
        const d = { slices: 0, finished: false };
        decodes.push(d);
        for (let i = 0; i < 40; i++) {
          const end = performance.now() + 2;
          while (performance.now() < end);
          d.slices++;
          await pacing!.pause();
        }
        d.finished = true;
        return new SumProcessor(p, JSON.parse(st.toString()));
      },
    };
    const r = new StatefulRunner({ name: 'sum', log, producer: s.producer, store: s.store, factory: slowFactory, groupId: 'g', inputTopic: 'in', checkpointIntervalMs: 20, clock: systemClock });
    await r.start();
    await waitFor(async () => (same(await s.totals(), expected(200)) ? true : undefined), { message: 'all 200 not checkpointed after the failed heartbeat' });
    await r.stop();
    await s.log.close();
    // The failed heartbeat ended its batch with its own error; that decode stopped before its end.
    expect(batchErrors[0]).toBe(lost);
    expect(decodes[0].finished).toBe(false);
    expect(decodes[0].slices).toBeLessThan(40);
    // Every partition was then decoded in full, and the totals are exact (nothing applied twice).
    expect(decodes.filter((d) => d.finished).length).toBe(3);
  });
});
