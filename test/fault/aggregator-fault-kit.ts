// Shared machinery of the aggregator fault tests: a deterministic event stream (many users,
// features and cohorts, duplicates, late and far-too-late events, cohort switches, a few
// undecodable records), aggregators run as real child processes (`pmf-guard start --role
// aggregator`) that can be kill -9'd, and the exactness check: every (feature, cohort) aggregate
// in the checkpoints and in the latest FeaturePartial per (feature, partition) on the cohort-stats
// topic must equal the oracle's recomputation from the events read back from Kafka.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout } from 'node:timers/promises';
import { join } from 'node:path';
import kafkajs, { type Admin } from 'kafkajs';
import pg from 'pg';
import { stringify as toYaml } from 'yaml';
import { expect } from 'vitest';
import { PgSqlClient } from '../../src/store/pg-sql-client.js';
import { SqlCheckpointStore } from '../../src/store/sql-checkpoint-store.js';
import { aggregatorProcessorFactory, type AggregatorProcessor } from '../../src/stream/aggregator-processor.js';
import { decodeCohortStats } from '../../src/events/cohort-stats-codec.js';
import { decodeEventRecord } from '../../src/events/event-record-codec.js';
import { encodeEventRecord } from '../../src/events/event-record-writer.js';
import type { CohortPartial } from '../../src/events/cohort-stats.js';
import type { FeatureEvent, FlagExposure } from '../../src/events/feature-event.js';
import { compareSnapshotPositions, positionText, type FeaturePartial } from '../../src/events/feature-partial.js';
import { topicNames, type Topics } from '../../src/events/topics.js';
import { KafkaLog } from '../../src/log/kafka/kafka-log.js';
import type { LogProducer, LogRecord } from '../../src/log/partitioned-log.js';
import { silentLogger } from '../../src/core/logger.js';
import { loadRulesFile } from '../../src/config/rules-file.js';
import type { RuleSet } from '../../src/rules/schema.js';
import { atPosition, oracleAggregate, upToPosition, type OracleRecord } from '../helpers/aggregation-oracle.js';
import { RoleProcess } from '../helpers/role-process.js';
import { testServices, uniqueName, waitFor } from '../helpers/services.js';
import { mulberry32, randomHex } from '../helpers/prng.js';

export const PARTITIONS = 6;
export const ALLOWED_LATENESS_MS = 60_000;
/** Events older than watermark − this are refused (exercises refusals: 0.5 % of events are 1–2 h late). */
export const MAX_LATENESS_MS = 90 * 60_000;
export const LATE_GRACE_MS = 30 * 60_000;
export const CHECKPOINT_INTERVAL_MS = 200;
const TRACE_EVERY_MS = 5000;

const RULES_YAML = {
  version: 'fault-tests',
  rules: [
    {
      featureId: 'f_checkout',
      activationThreshold: 0.2,
      retentionThreshold: 0.2,
      latencyP95Threshold: 300,
      minCohortSize: 10,
      evaluationWindowSeconds: 3600,
      activation: { action: { spanName: 'purchase' }, windowSeconds: 1800 },
      retention: { returnAfterSeconds: 1200, windowSeconds: 3600 },
      cohorts: { control: 'control', guarded: ['treatment'], map: { on: 'treatment', off: 'control' } },
      mode: 'dry-run',
    },
    {
      featureId: 'f_dash',
      activationThreshold: 0.2,
      retentionThreshold: 0.2,
      latencyP95Threshold: 250,
      minCohortSize: 10,
      evaluationWindowSeconds: 3600,
      activation: { action: { attribute: { key: 'clicked', value: 'yes' } }, windowSeconds: 2400 },
      retention: { returnAfterSeconds: 900, windowSeconds: 5400 },
      latency: { spanName: 'GET /dashboard' },
      mode: 'dry-run',
    },
    {
      featureId: 'f_search',
      activationThreshold: 0.2,
      retentionThreshold: 0.2,
      latencyP95Threshold: 200,
      minCohortSize: 10,
      evaluationWindowSeconds: 3600,
      retention: { returnAfterSeconds: 600, windowSeconds: 2700 },
      mode: 'dry-run',
    },
  ],
};

// ---------------------------------------------------------------- the stream

export interface StreamRecord {
  key: string;
  value: Buffer;
}

/**
 * `count` records over 8 hours of event time. Users arrive over the first 7 hours and are active
 * for about 2.5 hours (5 % of events come from any earlier user, mostly after their windows
 * closed); events expose them to three ruled features (and one without a rule) and carry
 * actions, named and flag-carrying latency spans. 3 % are resends of a recent event, 0.3 %
 * resends of an old one; 12 % are late within a few minutes, 2.5 % by 5–25 minutes, 0.5 % by
 * 1–2 hours; 2 % of exposures name another cohort; 0.05 % are not JSON. Out of order by origin:
 * users send from `web`, `edge` or `fast` (a clock 20 minutes ahead); what `edge` sent between
 * 3 h and 4 h of the run is held back and flushed at 4 h (a collector's backlog after an outage)
 * while the others keep sending.
 */
export function generateStream(seed: number, count: number, users = 12_000): StreamRecord[] {
  const rand = mulberry32(seed);
  const hex = (digits: number) => randomHex(rand, digits);
  const ids = Array.from({ length: users }, () => hex(32));
  const activity = ids.map(() => 0.2 + rand() * rand() * 4); // a few heavy users, many light ones
  const variants: Record<string, string[]> = { f_checkout: ['on', 'off'], f_dash: ['a', 'b', 'c'], f_search: ['x', 'y'], f_other: ['z'] };
  const sticky = ids.map(() => Object.fromEntries(Object.entries(variants).map(([f, vs]) => [f, vs[Math.floor(rand() * vs.length)]])));
  const t0 = 1_700_000_000_000;
  const span = 8 * 3600_000;
  const arrivalSpan = 7 * 3600_000;
  const activeFor = 2.5 * 3600_000;
  const pickUser = (offset: number): number => {
    // users arrive in index order: the active ones are a contiguous range
    const hi = Math.min(users - 1, Math.floor((offset / arrivalSpan) * users));
    if (rand() < 0.05) return Math.floor(rand() * (hi + 1));
    const lo = Math.max(0, Math.floor(((offset - activeFor) / arrivalSpan) * users));
    for (;;) {
      const u = lo + Math.floor(rand() * (hi - lo + 1));
      if (rand() * 4.2 < activity[u]) return u;
    }
  };
  const out: StreamRecord[] = [];
  const backlog: StreamRecord[] = [];
  const events: FeatureEvent[] = [];
  for (let i = 0; i < count; i++) {
    const offset = Math.floor((i * span) / count);
    const r = rand();
    if (r < 0.0005) {
      out.push({ key: ids[pickUser(offset)], value: Buffer.from(`{not json ${i}`) });
      continue;
    }
    if (r < 0.03 && events.length > 10) {
      const e = events[events.length - 1 - Math.floor(rand() * Math.min(500, events.length))];
      out.push({ key: e.user, value: encodeEventRecord([e]) });
      continue;
    }
    if (r < 0.033 && events.length > 20_000) {
      const e = events[Math.floor(rand() * (events.length - 20_000))];
      out.push({ key: e.user, value: encodeEventRecord([e]) });
      continue;
    }
    const u = pickUser(offset);
    const lateness = rand();
    let time = t0 + offset - Math.floor(rand() * 5000);
    if (lateness < 0.12) time -= Math.floor(rand() * 180_000);
    else if (lateness < 0.145) time -= 300_000 + Math.floor(rand() * 1_200_000);
    else if (lateness < 0.15) time -= 3_600_000 + Math.floor(rand() * 3_600_000);
    const flags: FlagExposure[] = [];
    for (const [feature, p] of [['f_checkout', 0.35], ['f_dash', 0.25], ['f_search', 0.2], ['f_other', 0.05]] as const) {
      if (rand() >= p) continue;
      const vs = variants[feature];
      const variant = rand() < 0.02 ? vs[Math.floor(rand() * vs.length)] : sticky[u][feature];
      flags.push({ feature, variant });
    }
    const kind = rand();
    const name = kind < 0.4 ? 'page' : kind < 0.5 ? 'purchase' : kind < 0.75 ? 'GET /dashboard' : 'search';
    const origin = ORIGINS[u % ORIGINS.length];
    const event: FeatureEvent = {
      user: ids[u],
      time: origin === 'fast' ? time + 20 * 60_000 : time,
      id: hex(32) + hex(16),
      name,
      flags,
      source: name === 'purchase' ? 'log' : 'span',
      origin,
    };
    if (name !== 'purchase') event.durationMs = Math.round(Math.exp(Math.log(150) + 0.8 * (rand() + rand() + rand() - 1.5) * 2) * 1000) / 1000;
    if (rand() < 0.1) event.attrs = { clicked: 'yes' };
    events.push(event);
    const record = { key: event.user, value: encodeEventRecord([event]) };
    if (origin === 'edge' && offset >= 3 * 3600_000 && offset < 4 * 3600_000) backlog.push(record);
    else {
      if (offset >= 4 * 3600_000 && backlog.length > 0) out.push(...backlog.splice(0));
      out.push(record);
    }
  }
  out.push(...backlog);
  return out;
}

const ORIGINS = ['web', 'edge', 'web', 'fast'] as const;

// ---------------------------------------------------------------- environment

export interface FaultEnv {
  readonly name: string;
  readonly brokers: string[];
  readonly databaseUrl: string;
  readonly schema: string;
  readonly topics: Topics;
  readonly dir: string;
  readonly configFile: string;
  readonly rulesFile: string;
}

export function makeFaultEnv(name: string, brokers: readonly string[] = testServices.kafkaBrokers): FaultEnv {
  const id = uniqueName(name).toLowerCase();
  const dir = mkdtempSync(join(tmpdir(), `pmf-${name}-`));
  const rulesFile = join(dir, 'rules.yaml');
  writeFileSync(rulesFile, toYaml(RULES_YAML));
  const env: FaultEnv = {
    name: id,
    brokers: [...brokers],
    databaseUrl: testServices.databaseUrl,
    schema: id,
    topics: topicNames(`${id}.`),
    dir,
    configFile: join(dir, 'config.yaml'),
    rulesFile,
  };
  writeFileSync(
    env.configFile,
    toYaml({
      role: 'aggregator',
      rulesFile,
      logLevel: 'info',
      admin: { host: '127.0.0.1', port: 0 },
      kafka: { brokers: env.brokers, topicPrefix: `${id}.`, groupPrefix: id, partitions: PARTITIONS, clientId: id },
      database: { url: env.databaseUrl, schema: id },
      aggregation: {
        allowedLatenessSeconds: ALLOWED_LATENESS_MS / 1000,
        maxLatenessSeconds: MAX_LATENESS_MS / 1000,
        lateGraceSeconds: LATE_GRACE_MS / 1000,
        checkpointIntervalMs: CHECKPOINT_INTERVAL_MS,
      },
    }),
  );
  return env;
}

// ---------------------------------------------------------------- aggregator processes

let instanceCounter = 0;

/** One `pmf-guard start --role aggregator` child process; its output goes to a file in env.dir. */
export class AggregatorProcess extends RoleProcess {
  constructor(env: FaultEnv) {
    // Only what the program needs: the config file names everything else.
    super('aggregator', join(env.dir, `aggregator-${++instanceCounter}.log`), { PMF_GUARD_CONFIG: env.configFile });
  }

  /** The admin port from the "started" line; undefined until then. */
  adminPort(): number | undefined {
    for (const line of this.log().split('\n')) {
      if (!line.includes('"msg":"started"')) continue;
      return (JSON.parse(line) as { adminPort: number }).adminPort;
    }
    return undefined;
  }

  async waitStarted(timeoutMs = 60_000): Promise<number> {
    return waitFor(
      () => {
        if (!this.running) throw new Error(`aggregator exited during start-up:\n${this.log().slice(-3000)}`);
        return this.adminPort();
      },
      { timeoutMs, message: `aggregator started (${this.logFile})` },
    );
  }

  /** Partitions this member owns now, from its /metrics. */
  async ownedPartitions(): Promise<number> {
    const m = /^pmf_stage_owned_partitions\{stage="aggregator"\} (\d+)$/m.exec(await this.metrics());
    return m ? Number(m[1]) : 0;
  }

  /** Its /metrics text ('' before it started); a frozen member never answers, hence the timeout. */
  async metrics(timeoutMs = 10_000): Promise<string> {
    const port = this.adminPort();
    if (port === undefined) return '';
    return (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })).text();
  }

  /** Its stage counters (owned partitions, records applied, checkpoints written or refused…), for a failure report. */
  async stageMetrics(): Promise<string> {
    try {
      const text = await this.metrics(2000);
      return text.split('\n').filter((l) => l.startsWith('pmf_stage_') && l.includes('stage="aggregator"')).join('\n');
    } catch (err) {
      return `(no /metrics answer: ${(err as Error).message}${this.running ? '' : ', not running'})`;
    }
  }
}

/**
 * Runs fn; if it throws, prints what the aggregators logged above info level and, with a harness,
 * what they were doing (their stage counters, the checkpoint offsets over time, the database
 * sessions and what they wait for), then rethrows: a timeout then tells a stall from slowness.
 */
export async function withLogsOnFailure<T>(members: readonly AggregatorProcess[], fn: () => Promise<T>, harness?: FaultHarness): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    for (const m of members) {
      const lines = m.log().split('\n').filter((l) => l !== '' && !l.includes('"level":"info"') && !l.includes('ERR_EVENT_DECODE'));
      console.error(`--- ${m.logFile} (last ${Math.min(40, lines.length)} of ${lines.length} warnings/errors)\n${lines.slice(-40).join('\n')}`);
      console.error(`--- ${m.logFile} stage metrics\n${await m.stageMetrics()}`);
    }
    if (harness !== undefined) console.error(await harness.diagnostics().catch((e: unknown) => `(no diagnostics: ${(e as Error).message})`));
    throw err;
  }
}

// ---------------------------------------------------------------- Kafka and PostgreSQL access

export interface Feeder {
  /** Records acknowledged so far. */
  sent: number;
  done: Promise<void>;
}

export class FaultHarness {
  readonly log: KafkaLog;
  readonly producer: LogProducer;
  readonly pool: pg.Pool;
  readonly rules: Promise<RuleSet>;
  private admin?: Admin;

  constructor(readonly env: FaultEnv) {
    this.log = new KafkaLog({ brokers: env.brokers, clientId: `${env.name}-harness`, logger: silentLogger, sendTimeoutMs: 15_000 });
    this.producer = this.log.producer(`${env.name}-feeder`);
    this.pool = new pg.Pool({ connectionString: env.databaseUrl, max: 2 });
    this.rules = loadRulesFile(env.rulesFile);
  }

  async start(): Promise<void> {
    await this.log.ensureTopics(Object.values(this.env.topics).map((name) => ({ name, partitions: PARTITIONS })));
    await this.producer.start();
  }

  private async adminClient(): Promise<Admin> {
    if (this.admin === undefined) {
      const kafka = new kafkajs.Kafka({
        brokers: this.env.brokers,
        clientId: `${this.env.name}-admin`,
        logLevel: kafkajs.logLevel.NOTHING,
        retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 2000 },
      });
      const admin = kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  /** Sends records in chunks; a chunk that fails (broker down) is retried until it is acknowledged. */
  async produce(records: readonly StreamRecord[], chunk = 2000, patienceMs = 120_000): Promise<void> {
    for (let i = 0; i < records.length; i += chunk) {
      const batch: LogRecord[] = records.slice(i, i + chunk);
      await waitFor(
        async () => {
          await this.producer.send(this.env.topics.events, batch);
          return true;
        },
        { timeoutMs: patienceMs, intervalMs: 500, message: `events chunk at ${i} acknowledged` },
      );
    }
  }

  /**
   * Streams `records` in the background at the aggregators' pace: a chunk is sent only while
   * the checkpoints are at most `maxLagRecords` behind what was sent (back-pressure by condition),
   * so membership changes, kills and broker restarts happen with records in flight.
   */
  feed(records: readonly StreamRecord[], chunk = 2000, maxLagRecords = 10_000): Feeder {
    const feeder: Feeder = { sent: 0, done: Promise.resolve() };
    feeder.done = (async () => {
      for (let i = 0; i < records.length; i += chunk) {
        await this.waitCheckpointedAtLeast(BigInt(Math.max(0, i - maxLagRecords)), 150_000);
        await this.produce(records.slice(i, i + chunk), chunk);
        feeder.sent = Math.min(records.length, i + chunk);
      }
    })();
    feeder.done.catch(() => undefined); // awaited by the test; this only avoids an unhandled rejection
    return feeder;
  }

  async waitSent(feeder: Feeder, records: number, timeoutMs = 150_000): Promise<void> {
    await waitFor(() => feeder.sent >= records, { timeoutMs, intervalMs: 50, message: `${records} records sent` });
  }

  async endOffsets(): Promise<Map<number, bigint>> {
    const admin = await this.adminClient();
    const offsets = await admin.fetchTopicOffsets(this.env.topics.events);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  }

  async checkpoints(): Promise<Map<number, { offset: bigint; state: Buffer }>> {
    const { rows } = await this.pool.query<{ partition: number; next_offset: string; state: Buffer }>(
      `SELECT partition, next_offset::text AS next_offset, state FROM "${this.env.schema}".stream_checkpoints WHERE stage = 'aggregator' AND topic = $1`,
      [this.env.topics.events],
    );
    const cps = new Map(rows.map((r) => [r.partition, { offset: BigInt(r.next_offset), state: r.state }]));
    this.trace(cps);
    return cps;
  }

  /** Checkpoint offsets per partition as read over time (one sample per TRACE_EVERY_MS), for a failure report. */
  private readonly offsetTrace: { at: number; offsets: string }[] = [];
  private readonly startedAt = Date.now();

  private trace(cps: Map<number, { offset: bigint }>): void {
    const at = Date.now() - this.startedAt;
    const last = this.offsetTrace.at(-1);
    if (last !== undefined && at - last.at < TRACE_EVERY_MS) return;
    const offsets = Array.from({ length: PARTITIONS }, (_, p) => cps.get(p)?.offset.toString() ?? '-').join(' ');
    this.offsetTrace.push({ at, offsets });
  }

  /**
   * The sessions of this test's database work (their state, wait event, transaction age and the
   * sessions blocking them): a save waiting on a lock shows as wait_event_type Lock here.
   */
  async sessions(): Promise<string[]> {
    const { rows } = await this.pool.query<{ line: string }>(
      `SELECT format('pid %s %s wait=%s/%s xact=%s blocked_by=%s: %s', pid, state, wait_event_type, wait_event,
                     date_trunc('milliseconds', now() - xact_start), pg_blocking_pids(pid), left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 100)) AS line
         FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%' || $1 || '%' ORDER BY xact_start NULLS LAST`,
      [this.env.schema],
    );
    return rows.map((r) => r.line);
  }

  /** What a failure report prints: the checkpoint offsets over time, the end offsets and the database sessions. */
  async diagnostics(): Promise<string> {
    const trace = this.offsetTrace.map((t) => `  +${(t.at / 1000).toFixed(1)} s: ${t.offsets}`);
    const ends = await this.endOffsets().then(
      (m) => Array.from({ length: PARTITIONS }, (_, p) => m.get(p)?.toString() ?? '-').join(' '),
      (err: unknown) => `(unknown: ${(err as Error).message})`,
    );
    return [
      `--- checkpoint offsets per partition 0..${PARTITIONS - 1} over time`, ...trace, `  end offsets now: ${ends}`,
      '--- database sessions of this test', ...(await this.sessions()),
    ].join('\n');
  }

  /**
   * Sessions holding an open checkpoint save (a write lock on the checkpoint table, idle in
   * transaction): a member frozen now keeps that transaction, and its row locks, open.
   */
  async openCheckpointSaves(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      `SELECT count(DISTINCT l.pid)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.granted AND l.mode = 'RowExclusiveLock' AND l.relation = to_regclass($1) AND a.state LIKE 'idle in transaction%'`,
      [`"${this.env.schema}".stream_checkpoints`],
    );
    return rows[0].n;
  }

  /**
   * Freezes `member` (SIGSTOP) at the worst moment for whoever takes over: while it holds a
   * checkpoint save's transaction open. Pauses and resumes it until it is caught in one; returns
   * how many tries that took. `member` must be the only writer of the checkpoints.
   */
  async pauseInCheckpointSave(member: AggregatorProcess, tries = 200): Promise<number> {
    for (let i = 1; i <= tries; i++) {
      member.pause();
      await setTimeout(100); // a statement in flight ends, so what is left open stays open
      if ((await this.openCheckpointSaves()) > 0) return i;
      member.resume();
      await setTimeout(20 + ((i * 53) % 200)); // out of step with the checkpoint interval
    }
    throw new Error(`${member.logFile}: not caught inside a checkpoint save in ${tries} tries`);
  }

  /** Records covered by checkpoints, summed over partitions (0 before the schema exists). */
  async checkpointedRecords(): Promise<bigint> {
    try {
      let sum = 0n;
      for (const cp of (await this.checkpoints()).values()) sum += cp.offset;
      return sum;
    } catch (err) {
      if ((err as { code?: string }).code === '42P01' || (err as { code?: string }).code === '3F000') return 0n;
      throw err;
    }
  }

  async waitCheckpointedAtLeast(records: bigint, timeoutMs: number): Promise<void> {
    await waitFor(async () => (await this.checkpointedRecords()) >= records, {
      timeoutMs,
      intervalMs: 100,
      message: `checkpoints cover ${records} records`,
    });
  }

  /** Until every partition's checkpoint is past where it was in `before`. */
  async waitEveryCheckpointPast(before: Map<number, { offset: bigint }>, timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        const cps = await this.checkpoints();
        return [...before].every(([p, cp]) => (cps.get(p)?.offset ?? -1n) > cp.offset);
      },
      { timeoutMs, intervalMs: 250, message: `every checkpoint past ${[...before].map(([p, cp]) => `${p}:${cp.offset}`).join(' ')}` },
    );
  }

  /** Until every partition's checkpoint offset equals its end offset. */
  async waitCaughtUp(timeoutMs: number): Promise<Map<number, bigint>> {
    const ends = await this.endOffsets();
    await waitFor(
      async () => {
        const cps = await this.checkpoints();
        return [...ends].every(([p, end]) => cps.get(p)?.offset === end);
      },
      { timeoutMs, intervalMs: 200, message: 'aggregators caught up (checkpoint offsets == end offsets)' },
    );
    return ends;
  }

  /**
   * The exactness check. Reads the events topic back, recomputes every partition with the
   * oracle, and compares (1) the snapshot of the restored checkpoint state and (2) the latest
   * FeaturePartial per (feature, partition) on the cohort-stats topic, exactly. Also: every
   * FeaturePartial published twice for the same (feature, partition, offset) is identical — a
   * replay that counted anything twice would differ. Returns the summed checkpoint counters.
   */
  async verifyExact(ends: Map<number, bigint>): Promise<Record<string, number>> {
    const rules = await this.rules;
    const byPartition = new Map<number, OracleRecord[]>();
    let undecodable = 0;
    for await (const batch of this.log.readAll!(this.env.topics.events)) {
      const list = byPartition.get(batch.partition) ?? [];
      for (const r of batch.records) {
        try {
          decodeEventRecord(r.value).forEach((event, k) => list.push({ event, offset: r.offset, continuesRecord: k > 0 }));
        } catch {
          undecodable++; // the runner rejects these too (counted), the aggregator never sees them
        }
      }
      byPartition.set(batch.partition, list);
    }
    const options = { rules, allowedLatenessMs: ALLOWED_LATENESS_MS, maxLatenessMs: MAX_LATENESS_MS, lateGraceMs: LATE_GRACE_MS };
    const expected = new Map<number, CohortPartial[]>();
    const oracleTotals: Record<string, number> = { events: 0, duplicates: 0, tooLate: 0, lateEvents: 0, untracked: 0 };
    for (const [partition, records] of byPartition) {
      const o = oracleAggregate(records, { ...options, partition });
      expected.set(partition, o.partials);
      for (const k of Object.keys(oracleTotals)) oracleTotals[k] += o[k as keyof typeof o] as number;
    }

    // (1) checkpoints
    const store = new SqlCheckpointStore(new PgSqlClient(this.pool), this.env.schema);
    const totals: Record<string, number> = {};
    for (const [partition, end] of ends) {
      // Head and part rows in one snapshot, restored the way the runner restores them.
      const cp = await store.load('aggregator', this.env.topics.events, partition);
      expect(cp === null ? undefined : BigInt(cp.offset), `checkpoint offset of partition ${partition}`).toBe(end);
      const processor = await aggregatorProcessorFactory(this.env.topics, 60_000, () => options).restore(partition, cp!.state, cp!.parts ?? []);
      const agg = (processor as AggregatorProcessor).aggregator;
      expect(agg.snapshot(), `checkpointed aggregates of partition ${partition}`).toEqual(expected.get(partition) ?? []);
      for (const [k, v] of Object.entries(agg.stats())) if (typeof v === 'number') totals[k] = (totals[k] ?? 0) + v;
    }
    for (const k of Object.keys(oracleTotals)) expect(totals[k], `counter ${k}`).toBe(oracleTotals[k]);
    totals.undecodable = undecodable;

    // (2) the published partials
    const latest = new Map<string, { partial: FeaturePartial; text: string }>();
    const seen = new Map<string, string>();
    let published = 0;
    for await (const batch of this.log.readAll!(this.env.topics.cohortStats)) {
      // A record may carry several step snapshots (the later ones as changes): compared decoded.
      for (const p of batch.records.flatMap((r) => decodeCohortStats(r.value))) {
        published++;
        const text = JSON.stringify(p);
        const at = `${p.feature}|${p.partition}|${positionText(p)}`;
        const before = seen.get(at);
        if (before !== undefined) expect(text, `two different snapshots of ${at}`).toBe(before);
        else seen.set(at, text);
        const key = `${p.feature}|${p.partition}`;
        const prev = latest.get(key);
        if (prev === undefined || compareSnapshotPositions(p, prev.partial) > 0) latest.set(key, { partial: p, text });
      }
    }
    // Snapshots are taken when the watermark crosses a verdict step, so the latest one reflects the
    // events up to its position: it must equal the oracle's recomputation over exactly those.
    for (const [key, { partial }] of latest) {
      const partition = partial.partition;
      const before = upToPosition(byPartition.get(partition) ?? [], partial);
      const want = oracleAggregate(before, { ...options, partition }).partials.filter((c) => c.feature === partial.feature);
      expect(partial.cohorts, `published aggregates of ${key} as of ${positionText(partial)}`).toEqual(atPosition(want, partial));
    }
    expect(latest.size, 'every partition with ruled data published a snapshot').toBeGreaterThanOrEqual(expected.size);
    totals.publishedPartials = published;
    return totals;
  }

  async close(): Promise<void> {
    await this.log.close();
    await this.pool.query(`DROP SCHEMA IF EXISTS "${this.env.schema}" CASCADE`);
    await this.pool.end();
    if (this.admin) {
      await this.admin.deleteTopics({ topics: Object.values(this.env.topics), timeout: 30_000 });
      await this.admin.disconnect();
    }
    // Failures print the aggregators' warnings (withLogsOnFailure); set PMF_KEEP_FAULT_LOGS=1 to keep everything.
    if (process.env.PMF_KEEP_FAULT_LOGS !== '1') rmSync(this.env.dir, { recursive: true, force: true });
  }
}
