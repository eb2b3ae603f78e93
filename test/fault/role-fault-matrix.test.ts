// Fault matrix per role: every role as its own process in distributed mode (receiver, two
// aggregators, verdict, flag writer; real Kafka, and PostgreSQL and Redis of the test's own so
// they can be killed), the seed story sent through a real OTLP exporter, and one fault per
// scenario while the spans stream in: kill -9 of the verdict process and the flag writer, of the
// receiver, of an aggregator, or of PostgreSQL and Redis (each restarted), a restart of Kafka
// (a private broker for that run), or a network partition: one aggregator runs in its own network
// namespace and is cut off from Kafka and PostgreSQL for longer than its session, then healed
// (root and iproute2 needed; the run fails, saying why, without them). The outcome must be the
// fault-free one: the treatment rolled back once, in PostgreSQL and Redis, by a command signed by
// one process and checked by another; nothing refused. And every span the receiver acknowledged
// is in the aggregates exactly once: per cohort, the users exposed and the dashboard requests
// recorded (restored from the aggregators' checkpoints once they cover the whole events topic)
// equal what the sender counted as acknowledged, with no request left unjoined or refused as too
// late. Each scenario prints how long after the
// last span the rollback landed, next to the fault-free run's figure (docs/reliability.md).

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { stringify as toYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { OwnPostgres } from '../helpers/flags/own-postgres.js';
import { OwnRedis } from '../helpers/flags/own-redis.js';
import { PrivateKafka } from '../helpers/private-kafka.js';
import { RoleProcess } from '../helpers/role-process.js';
import { sendSeedScenario } from '../helpers/seed-scenario.js';
import { testServices, uniqueName, waitFor } from '../helpers/services.js';
import { checkpointedAggregates } from '../helpers/checkpointed-aggregates.js';
import { NetnsHost } from '../helpers/netns/netns-host.js';
import { loadRulesFile } from '../../src/config/rules-file.js';
import { topicNames } from '../../src/events/topics.js';

/** The private broker of the Kafka-restart run; the shared one is never restarted. */
const PRIVATE_KAFKA_PORT = Number(process.env.PMF_TEST_KAFKA_MATRIX_PORT ?? '9792');

/** A role's process; the n-th "started" line of its log file marks its n-th start. */
class MatrixRole extends RoleProcess {
  /** Waits for the n-th "started" line of this log file (one per start). */
  async waitStarted(n: number): Promise<void> {
    await waitFor(() => {
      if (!this.running) throw new Error(`${this.role} exited during start-up:\n${this.log().slice(-3000)}`);
      return this.log().split('\n').filter((l) => l.includes('"msg":"started"')).length >= n;
    }, { timeoutMs: 90_000, message: `${this.role} started (${this.logFile})` });
  }
}

interface Stack {
  /** The run's private broker, if it has one. */
  privateKafka?: PrivateKafka;
  flagWriter: MatrixRole;
  verdict: MatrixRole;
  aggregators: MatrixRole[];
  receiver: MatrixRole;
  postgres: OwnPostgres;
  redis: OwnRedis;
  /** The namespace the first aggregator runs in, in the partition run. */
  netns?: NetnsHost;
  brokers: string[];
  /** The aggregators' consumer group. */
  aggregatorGroup: string;
}

/** Members of a consumer group with partitions assigned, as the broker sees them. */
async function assignedMembers(brokers: string[], groupId: string): Promise<number> {
  const admin = new kafkajs.Kafka({ brokers, clientId: 'pmf-test-matrix', logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    return groups[0]?.state === 'Stable' ? groups[0].members.filter((m) => m.memberAssignment.length > 0).length : 0;
  } finally {
    await admin.disconnect();
  }
}

/** Longer than the aggregators' Kafka session (sessionTimeoutMs below), so the group moves its partitions. */
const PARTITION_MS = 20_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What happens while the spans stream in; resolves once everything it broke is back. */
const SCENARIOS: { name: string; privateKafka?: boolean; partition?: boolean; fault: (s: Stack) => Promise<void> }[] = [
  { name: 'no fault', fault: async () => {} },
  {
    name: 'kill -9 verdict and flag writer',
    fault: async (s) => {
      await Promise.all([s.verdict.kill9(), s.flagWriter.kill9()]);
      s.verdict.start();
      s.flagWriter.start();
      await Promise.all([s.verdict.waitStarted(2), s.flagWriter.waitStarted(2)]);
    },
  },
  {
    name: 'kill -9 receiver',
    fault: async (s) => {
      await s.receiver.kill9();
      s.receiver.start();
      await s.receiver.waitStarted(2);
    },
  },
  {
    name: 'restart Kafka',
    privateKafka: true,
    fault: async (s) => {
      await s.privateKafka!.stack('restart');
    },
  },
  {
    name: 'kill -9 an aggregator',
    fault: async (s) => {
      await s.aggregators[0].kill9();
      s.aggregators[0].start();
      await s.aggregators[0].waitStarted(2);
    },
  },
  {
    name: 'network partition of an aggregator',
    partition: true,
    fault: async (s) => {
      await s.netns!.cut();
      await sleep(PARTITION_MS);
      await s.netns!.heal();
      expect(s.aggregators[0].running, 'the cut-off aggregator kept running').toBe(true);
      // Healed means back at work: both aggregators hold partitions again.
      await waitFor(async () => (await assignedMembers(s.brokers, s.aggregatorGroup).catch(() => 0)) === 2, {
        timeoutMs: 120_000, intervalMs: 1000, message: 'the healed aggregator back in its group with partitions',
      });
    },
  },
  {
    name: 'kill -9 PostgreSQL and Redis',
    fault: async (s) => {
      await Promise.all([s.postgres.down(), s.redis.node.kill()]);
      await sleep(3000);
      await Promise.all([s.postgres.up(), s.redis.node.start()]);
    },
  },
];

const seedRules = loadRulesFile('test/fixtures/seed-rules.yaml');

describe('every role in its own process, one fault per run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmf-roles-'));
  const processes: MatrixRole[] = [];
  const owned: { dispose(): Promise<void> }[] = [];
  const figures: Record<string, unknown>[] = [];

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill9()));
    for (const o of owned) await o.dispose().catch(() => undefined);
    console.log('fault matrix:', JSON.stringify(figures));
    // PMF_KEEP_FAULT_LOGS=1 keeps the roles' logs (printed path) for a look after the run.
    if (process.env.PMF_KEEP_FAULT_LOGS === '1') console.log('role logs kept in', dir);
    else rmSync(dir, { recursive: true, force: true });
  });

  for (const scenario of SCENARIOS) {
    it(`rolls the treatment back once, as without faults: ${scenario.name}`, async () => {
      const id = uniqueName('roles');
      const [postgres, redisServer] = await Promise.all([OwnPostgres.start(), OwnRedis.start()]);
      owned.push(postgres, redisServer);
      const privateKafka = scenario.privateKafka ? new PrivateKafka(PRIVATE_KAFKA_PORT, { temporaryDir: true, timeoutMs: 300_000 }) : undefined;
      if (privateKafka) {
        await privateKafka.stack('up');
        owned.push({ dispose: () => privateKafka.remove() });
      }
      const brokerList = [...(privateKafka?.brokers ?? testServices.kafkaBrokers)];
      const brokers = brokerList.join(',');
      let netns: NetnsHost | undefined;
      if (scenario.partition) {
        if (!(await NetnsHost.available())) throw new Error('a network partition needs Linux network namespaces: run as root with iproute2 (ip netns)');
        const ports = [...brokerList.map((b) => Number(b.split(':').at(-1))), Number(new URL(postgres.url).port), redisServer.port];
        netns = await NetnsHost.create(ports);
        owned.push(netns);
      }
      const configFile = join(dir, `${id}.yaml`);
      // PostgreSQL's waits end within the short session (the config refuses longer ones).
      writeFileSync(configFile, toYaml({ kafka: { groupPrefix: id, partitions: 3, sessionTimeoutMs: 6000 }, database: { idleInTransactionTimeoutMs: 3000, lockTimeoutMs: 2000, statementTimeoutMs: 5000 } }));
      const otlpPort = await freePort();
      const common = {
        PMF_GUARD_CONFIG: configFile, PMF_GUARD_RULES: 'test/fixtures/seed-rules.yaml',
        KAFKA_BROKERS: brokers, DATABASE_URL: postgres.url, REDIS_URL: redisServer.url,
        PMF_GUARD_TOPIC_PREFIX: `${id}.`,
        PMF_GUARD_PSEUDONYM_KEY: randomBytes(32).toString('hex'), PMF_GUARD_COMMAND_KEY: randomBytes(32).toString('hex'),
        PMF_GUARD_ADMIN_PORT: '0', PMF_GUARD_OTLP_GRPC_PORT: String(otlpPort), PMF_GUARD_OTLP_HTTP_PORT: '0',
      };
      const role = (name: string, n = '', prefix: string[] = []) => {
        const p = new MatrixRole(name, join(dir, `${id}-${name}${n}.log`), { ...common, PMF_GUARD_DATA_DIR: join(dir, `${id}-${name}${n}`) }, prefix);
        processes.push(p);
        return p;
      };
      const stack: Stack = { flagWriter: role('flag-writer').start(), verdict: role('verdict'), aggregators: [role('aggregator', '1', netns?.prefix()), role('aggregator', '2')], receiver: role('receiver'), postgres, redis: redisServer, privateKafka, netns, brokers: brokerList, aggregatorGroup: `${id}.aggregator` };
      await stack.flagWriter.waitStarted(1);
      for (const p of [stack.verdict, ...stack.aggregators, stack.receiver]) p.start();
      await Promise.all([stack.verdict, ...stack.aggregators, stack.receiver].map((p) => p.waitStarted(1)));

      const pool = new pg.Pool({ connectionString: postgres.url, max: 1 });
      pool.on('error', () => {});
      const redis = new Redis(redisServer.url, { lazyConnect: true });
      redis.on('error', () => {});
      try {
        // Failed batches are sent again, as a Collector's queue would: the receiver acknowledges only
        // what the log has, so a batch it could not take (down, or Kafka down) must come again.
        const sending = sendSeedScenario({ endpoint: `http://127.0.0.1:${otlpPort}`, startMs: Date.parse('2026-03-02T08:00:00Z'), retryUntilAcked: true });
        await sleep(3000);
        const faultAt = Date.now();
        await scenario.fault(stack);
        const recoveredMs = Date.now() - faultAt;
        const { spans, retries, acked } = await sending;
        const sentAt = Date.now();
        // The seed's spans are all valid: a partial-success rejection would be a receiver fault.
        expect(acked.rejected, 'spans rejected by partial success').toBe(0);
        const aggregates = await checkpointedAggregates({
          pool, schema: 'pmf_guard', brokers: brokerList, topics: topicNames(`${id}.`), rules: await seedRules, feature: 'feat_smart_recs_v1',
        });
        expect({ cohorts: aggregates.cohorts, latencyUnjoined: aggregates.latencyUnjoined, tooLate: aggregates.tooLate }).toEqual({
          cohorts: Object.fromEntries(Object.keys(acked.exposures).map((c) => [c, { exposed: acked.exposures[c], requests: acked.requests[c] }])),
          latencyUnjoined: 0,
          tooLate: 0,
        });

        const flags = async () => (await pool.query(`SELECT cohort, state FROM pmf_guard.flags WHERE feature = 'feat_smart_recs_v1' ORDER BY cohort`)).rows;
        await waitFor(async () => (await flags()).some((r) => r.cohort === 'treatment' && r.state === 'off'), { timeoutMs: 180_000, message: 'treatment rolled back' });
        const rollbackAfterLastSpanMs = Date.now() - sentAt;
        expect(await flags()).toEqual([{ cohort: 'treatment', state: 'off' }]);
        const key = 'pmf:flag:{feat_smart_recs_v1}';
        await waitFor(async () => (await redis.hget(key, 'treatment')) === 'off', { timeoutMs: 60_000, message: 'Redis follows' });
        expect(await redis.hget(key, 'control')).toBeNull();
        // The rollback once (re-deliveries are duplicates, not rows); the guarded row from the rules aside.
        const audit = (await pool.query(`SELECT source, outcome FROM pmf_guard.audit_log WHERE feature = 'feat_smart_recs_v1' AND source <> 'rules' ORDER BY id`)).rows;
        expect(audit).toEqual([{ source: 'verdict', outcome: 'applied' }]);
        for (const p of processes) expect(p.log(), p.logFile).not.toContain('ERR_COMMAND_REFUSED');
        figures.push({ scenario: scenario.name, spans, batchesRetried: retries, duplicatesDropped: aggregates.duplicates, recoveredMs, rollbackAfterLastSpanMs });
      } finally {
        await Promise.all([stack.flagWriter, stack.verdict, ...stack.aggregators, stack.receiver].map((p) => p.stop()));
        await pool.end();
        redis.disconnect();
      }
    }, 360_000);
  }
});
