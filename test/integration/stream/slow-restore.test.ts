// A stage whose checkpoint loads or decodes outlast the Kafka session keeps its partitions: the
// runner heartbeats while it loads (stream/restore-heartbeat.ts) and, as the decode gives the
// event loop back between slices, while it decodes. Without it, a 7 s load or decode against a
// 6 s session throws the member out of the group; kafkajs re-joins (a new generation,
// onAssignment again) and, with other members, the partitions would move and be restored again
// elsewhere. Real Kafka and PostgreSQL; each partition starts from a stored checkpoint, so it is
// restored.

import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import { KafkaLog } from '../../../src/log/kafka/kafka-log.js';
import type { BatchHandler, ConsumedRecord, GroupConsumerOptions, PartitionedLog, TopicPartition } from '../../../src/log/partitioned-log.js';
import { SqlCheckpointStore } from '../../../src/store/sql-checkpoint-store.js';
import type { CheckpointStore } from '../../../src/stream/checkpoint-store.js';
import type { PartitionProcessor, RestorePacing } from '../../../src/stream/partition-processor.js';
import { StatefulRunner } from '../../../src/stream/stateful-runner.js';
import { openMigratedStore, pgDriver, type MigratedStore } from '../flags/flag-store-fixture.js';
import { testServices, uniqueName, waitFor } from '../../helpers/services.js';

const PARTITIONS = 2;
const PER_PARTITION = 300;
const SESSION_MS = 6000;
const HEARTBEAT_MS = 1000;
/** Each partition's load or decode: longer than the session, as a 10 M-pair restore is than a 30 s one. */
const SLOW_MS = 7000;
/** A slice of the slow decode: the CPU held, as a decode holds it between two pauses. */
const DECODE_SLICE_MS = 20;

/** Counts values per key, and how often each offset was applied (must be once). */
class CountProcessor implements PartitionProcessor {
  constructor(private readonly counts: Map<string, number>) {}
  apply(r: ConsumedRecord) {
    const key = `${r.partition}:${r.offset}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  takeOutputs() {
    return [];
  }
  serialize() {
    return Buffer.from('{}');
  }
}

/** The real store, with loads slowed as a large checkpoint's are. */
function slowLoads(store: CheckpointStore, loads: number[]): CheckpointStore {
  return {
    load: async (stage, topic, partition) => {
      loads.push(partition);
      await new Promise((resolve) => setTimeout(resolve, SLOW_MS));
      return store.load(stage, topic, partition);
    },
    loadOffset: (stage, topic, partition) => store.loadOffset(stage, topic, partition),
    save: (stage, topic, cp) => store.save(stage, topic, cp),
  };
}

/** A restore whose decode holds the CPU for SLOW_MS: in slices with pauses between them when the runner paces it, in one piece otherwise. */
async function slowDecode(pacing: RestorePacing | undefined, decodes: number[], partition: number): Promise<void> {
  decodes.push(partition);
  const busy = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end);
  };
  if (pacing === undefined) return busy(SLOW_MS);
  for (const end = performance.now() + SLOW_MS; performance.now() < end; ) {
    busy(DECODE_SLICE_MS);
    await pacing.pause();
  }
}

/** The Kafka log, recording every assignment the runner's consumer is told about (one per generation it joins). */
function recordingAssignments(log: PartitionedLog, assignments: TopicPartition[][]): PartitionedLog {
  return Object.assign(Object.create(log) as PartitionedLog, {
    consumer: (options: GroupConsumerOptions, handler: BatchHandler) =>
      log.consumer(options, {
        handleBatch: (batch, heartbeat) => handler.handleBatch(batch, heartbeat),
        onAssignment: async (owned) => {
          assignments.push(owned);
          await handler.onAssignment?.(owned);
        },
      }),
  });
}

describe('stateful runner: restores longer than the Kafka session', () => {
  const opened: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of opened.splice(0).reverse()) await c.close();
  });

  it.each(['load', 'decode'] as const)('keeps its partitions (one generation) and applies every record once (slow %s)', { timeout: 60_000 }, async (slow) => {
    const topic = uniqueName('pmf_slow_restore');
    const log = new KafkaLog({
      brokers: [...testServices.kafkaBrokers], clientId: 'pmf-slow-restore', logLevel: 'nothing', logger: silentLogger,
      sessionTimeoutMs: SESSION_MS, heartbeatIntervalMs: HEARTBEAT_MS,
    });
    opened.push(log);
    const db: MigratedStore = await openMigratedStore(pgDriver);
    opened.push(db);
    await log.ensureTopics([{ name: topic, partitions: PARTITIONS }]);
    const producer = log.producer('slow-restore');
    await producer.start();
    opened.push({ close: () => producer.stop() });
    for (let p = 0; p < PARTITIONS; p++) {
      await producer.send(topic, Array.from({ length: PER_PARTITION }, (_, i) => ({ key: `k${i}`, value: Buffer.from(String(i)), partition: p })));
    }
    const store = new SqlCheckpointStore(db.sql, db.schema);
    // A checkpoint before any record, so each partition is restored, not created.
    for (let p = 0; p < PARTITIONS; p++) expect(await store.save('count', topic, { partition: p, offset: '0', state: Buffer.from('{}') })).toBe(true);

    const counts = new Map<string, number>();
    const loads: number[] = [];
    const decodes: number[] = [];
    const assignments: TopicPartition[][] = [];
    const runner = new StatefulRunner({
      name: 'count', log: recordingAssignments(log, assignments), producer, store: slow === 'load' ? slowLoads(store, loads) : store,
      factory: {
        create: () => new CountProcessor(counts),
        restore: async (p, _state, _parts, pacing) => {
          if (slow === 'decode') await slowDecode(pacing, decodes, p);
          return new CountProcessor(counts);
        },
      },
      groupId: uniqueName('pmf_slow_restore'), inputTopic: topic, checkpointIntervalMs: 200, clock: systemClock,
    });
    await runner.start();
    opened.push({ close: () => runner.stop() });

    const stored = async () => Promise.all(Array.from({ length: PARTITIONS }, (_, p) => store.loadOffset('count', topic, p)));
    await waitFor(async () => (await stored()).every((o) => o === String(PER_PARTITION)), {
      timeoutMs: 45_000, intervalMs: 200, message: 'every partition checkpointed at its end',
      describe: () => ({ assignments, loads, decodes, applied: runner.stats.recordsApplied }),
    });

    // One generation: the member was never thrown out while it restored.
    expect(assignments).toHaveLength(1);
    expect(assignments[0].map((tp) => tp.partition).sort()).toEqual([0, 1]);
    // Each partition restored once, and nothing dropped as stale.
    expect((slow === 'load' ? loads : decodes).sort()).toEqual([0, 1]);
    expect(runner.stats.staleStatesDropped).toBe(0);
    // Exactly once: every offset applied, none twice.
    expect(counts.size).toBe(PARTITIONS * PER_PARTITION);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });
});
