// Flag-writer throughput and latency, end to end: commands on the embedded log, consumed by the
// real FlagCommandConsumer, applied by the FlagWriter (PostgreSQL: lock, idempotency check, flag,
// audit, result and outbox rows; then the Redis script and change notice). Latency is from the
// consumer handing a command to the writer to Redis holding the new version (for commands on a
// pinned cohort, which change nothing in Redis: to the command recorded). Three kinds of command,
// each on both write paths in the same run:
//   plain   rollbacks and restores of unpinned cohorts;
//   rollout steps of a ramp (advance and hold, each moving allocation or status);
//   pinned  automatic rollbacks and rollout steps against pinned cohorts (held until the pin ends).
// The previous path (FlagRepository option commandsInOneCall: false) is a multi-statement
// transaction, then the relay reads the outbox, runs the script and marks the row; the current
// path is one PostgreSQL call (the apply_command function) and one Redis call, plus one marking
// statement per batch of rows. Round trips are counted, not assumed. A bare baseline (one
// PostgreSQL transaction that bumps a version, then the same Redis script) runs too.
//
// Run: npm run bench:flags   (needs PostgreSQL and Redis: bash scripts/stack.sh up pg redis)
// Env: PMF_BENCH_DATABASE_URL, PMF_BENCH_REDIS_URL (or PMF_BENCH_REDIS_CLUSTER=host:port,...),
//      PMF_BENCH_COMMANDS (default 3000 per kind and path), PMF_BENCH_FEATURES (default 50),
//      PMF_BENCH_CONSUMERS (default 1).
// The last line printed is one JSON object with every number.

import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import { systemClock } from '../src/core/clock.js';
import { encodeJson } from '../src/events/codec.js';
import { commandKeyRing, signCommand } from '../src/events/command-signature.js';
import type { FlagCommand, FlagState, RolloutTarget } from '../src/events/flag-command.js';
import { FlagCommandConsumer } from '../src/flags/flag-command-consumer.js';
import { FlagRepository, type ApplyResult, type ApplyStatus } from '../src/flags/flag-repository.js';
import { FlagWriter } from '../src/flags/flag-writer.js';
import { migrate } from '../src/store/migrations.js';
import { OutboxRelay } from '../src/flags/outbox-relay.js';
import { PgSqlClient } from '../src/store/pg-sql-client.js';
import { RedisFlagCache, type RedisFlagClient } from '../src/flags/redis-flag-cache.js';
import { EmbeddedLog } from '../src/log/embedded/embedded-log.js';
import { silentLogger } from '../src/core/logger.js';
import { CountingSql, countingRedis } from '../test/helpers/round-trip-counters.js';

const env = (name: string, fallback: string) => process.env[name]?.trim() || fallback;
const DATABASE_URL = env('PMF_BENCH_DATABASE_URL', env('PMF_TEST_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/postgres'));
const REDIS_URL = env('PMF_BENCH_REDIS_URL', env('PMF_TEST_REDIS_URL', 'redis://127.0.0.1:6379'));
const REDIS_CLUSTER = process.env.PMF_BENCH_REDIS_CLUSTER?.trim();
const COMMANDS = Number(env('PMF_BENCH_COMMANDS', '3000'));
const FEATURES = Number(env('PMF_BENCH_FEATURES', '50'));
const CONSUMERS = Number(env('PMF_BENCH_CONSUMERS', '1'));
const COHORTS = ['c0', 'c1', 'c2', 'c3'];
const PARTITIONS = 6;

function redisClient(): RedisFlagClient {
  if (!REDIS_CLUSTER) return new Redis(REDIS_URL);
  return new Cluster(REDIS_CLUSTER.split(',').map((n) => ({ host: n.split(':')[0], port: Number(n.split(':')[1]) })));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(latenciesMs: number[], elapsedMs: number) {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    count: sorted.length,
    perSecond: Math.round((sorted.length / elapsedMs) * 1000),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1]),
  };
}

type Kind = 'plain' | 'rollout' | 'pinned';
const KINDS: readonly Kind[] = ['plain', 'rollout', 'pinned'];
/** What every command of a kind must end as (checked, so a run that took another branch fails). */
const EXPECTED: Record<Kind, ApplyStatus> = { plain: 'applied', rollout: 'applied', pinned: 'skipped_pinned' };
const RAMP = { stages: 100, salt: 'bench-salt', control: 'c0' };

/** Commands spread over features and cohorts; each changes its cohort (plain, rollout) or meets its pin (pinned). */
function commands(run: string, kind: Kind): FlagCommand[] {
  const states = new Map<string, FlagState>();
  const steps = new Map<string, number>();
  return Array.from({ length: COMMANDS }, (_, i) => {
    const feature = `bench_f${i % FEATURES}`;
    const cohort = COHORTS[Math.floor(i / FEATURES) % COHORTS.length];
    const key = `${feature}/${cohort}`;
    const base = { commandId: `${run}-${kind}-${i}`, feature, cohort, source: 'verdict' as const, reason: `bench #${i}`, issuedAt: new Date().toISOString() };
    const n = steps.get(key) ?? 0;
    steps.set(key, n + 1);
    if (kind === 'rollout' || (kind === 'pinned' && n % 2 === 1)) {
      // advance (a larger share each time) and hold (the same share, another status) in turn: each applies.
      const advance = n % 2 === 0;
      const rollout: RolloutTarget = { stage: 2 + n, percent: Math.min(100, 2 + n), status: advance ? 'ramping' : 'holding', ...RAMP };
      return { ...base, action: advance ? 'advance' : 'hold', state: 'on', rollout };
    }
    const state: FlagState = kind === 'pinned' ? 'off' : (states.get(key) ?? 'on') === 'on' ? 'off' : 'on';
    states.set(key, state);
    return { ...base, action: state === 'off' ? 'rollback' : 'restore', state };
  });
}

/** The writer, timing each apply (consumed → Redis written) and resolving when all are done. */
class TimedWriter extends FlagWriter {
  readonly latenciesMs: number[] = [];
  private done!: () => void;
  readonly allApplied = new Promise<void>((resolve) => (this.done = resolve));

  override async apply(cmd: FlagCommand): Promise<ApplyResult> {
    const started = performance.now();
    const result = await super.apply(cmd);
    this.latenciesMs.push(performance.now() - started);
    if (this.latenciesMs.length === COMMANDS) this.done();
    return result;
  }
}

async function endToEnd(pool: pg.Pool, redis: RedisFlagClient, schema: string, prefix: string, kind: Kind, commandsInOneCall: boolean) {
  await migrate(new PgSqlClient(pool), schema);
  const sql = new CountingSql(new PgSqlClient(pool));
  const repository = new FlagRepository(sql, schema, { commandsInOneCall });
  const redisCalls = { calls: 0 };
  const cache = new RedisFlagCache(countingRedis<RedisFlagClient>(redis, redisCalls, ['evalsha', 'eval']), { keyPrefix: prefix });
  for (let f = 0; f < FEATURES; f++) {
    const feature = `bench_f${f}`;
    await repository.ensureGuarded(feature, COHORTS, undefined, kind === 'rollout' ? { percent: 1, ...RAMP } : undefined);
    if (kind !== 'pinned') continue;
    const until = new Date(Date.now() + 86_400_000).toISOString();
    for (const cohort of COHORTS) await repository.pin({ commandId: `pin-${feature}-${cohort}`, feature, cohort, state: 'on', until, actor: 'bench', reason: 'bench' });
  }
  const relay = new OutboxRelay({ logger: silentLogger, repository, cache, clock: systemClock, pollIntervalMs: 0, reconcileIntervalMs: 0 });
  const writer = new TimedWriter({ logger: silentLogger, repository, relay, clock: systemClock, pinSweepIntervalMs: 0 });
  await writer.start(); // reconcile puts the registered flags in Redis

  const dir = await mkdtemp(join(tmpdir(), 'pmf-bench-flags-'));
  const log = new EmbeddedLog({ logger: silentLogger, dataDir: dir });
  const topic = 'pmf.commands.v1';
  await log.ensureTopics([{ name: topic, partitions: PARTITIONS }]);
  const producer = log.producer('bench');
  await producer.start();
  // Signed as the verdict stage signs them, so the bench includes the consumer's HMAC check.
  const keyRing = commandKeyRing(['bench-command-signing-key-0123456789']);
  const cmds = commands(commandsInOneCall ? 'one' : 'prev', kind).map((c) => signCommand(c, keyRing));
  for (let i = 0; i < cmds.length; i += 500) {
    await producer.send(topic, cmds.slice(i, i + 500).map((c) => ({ key: c.feature, value: encodeJson(c) })));
  }

  const consumers = Array.from({ length: CONSUMERS }, () => new FlagCommandConsumer({ log, writer, groupId: 'bench-flag-writer', topic, keyRing, isDeclared: () => true }));
  sql.calls = 0;
  redisCalls.calls = 0;
  const started = performance.now();
  await Promise.all(consumers.map((c) => c.start()));
  await writer.allApplied;
  const elapsedMs = performance.now() - started;
  for (const c of consumers) await c.stop();
  await writer.stop(); // marks the last batch of rows published, so its statement is counted
  const roundTrips = { postgres: round2(sql.calls / COMMANDS), redis: round2(redisCalls.calls / COMMANDS) };

  const metrics = writer.metrics();
  if (metrics.commands[EXPECTED[kind]] !== COMMANDS) throw new Error(`${kind}: expected ${COMMANDS} ${EXPECTED[kind]} commands, got ${JSON.stringify(metrics.commands)}`);
  if (metrics.relayFailures > 0) throw new Error(`${metrics.relayFailures} Redis pushes failed`);
  for (let f = 0; f < FEATURES; f++) {
    const truth = await repository.featureSnapshot(`bench_f${f}`);
    const cached = await cache.readFeature(`bench_f${f}`);
    if (cached?.version !== truth?.version) throw new Error(`bench_f${f}: Redis v${cached?.version}, PostgreSQL v${truth?.version}`);
  }
  await log.close();
  await rm(dir, { recursive: true, force: true });
  return { ...summary(writer.latenciesMs, elapsedMs), roundTripsPerCommand: roundTrips };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

async function baseline(pool: pg.Pool, redis: RedisFlagClient, schema: string, prefix: string) {
  await pool.query(`CREATE TABLE "${schema}".bench_baseline (feature text PRIMARY KEY, version bigint NOT NULL)`);
  await pool.query(`INSERT INTO "${schema}".bench_baseline SELECT 'bench_f' || g, 0 FROM generate_series(0, $1::int - 1) g`, [FEATURES]);
  const cache = new RedisFlagCache(redis, { keyPrefix: `${prefix}baseline:` });
  const cmds = commands('baseline', 'plain');
  const latenciesMs: number[] = [];
  const client = await pool.connect();
  const started = performance.now();
  try {
    for (const cmd of cmds) {
      const t0 = performance.now();
      await client.query('BEGIN');
      const { rows } = await client.query<{ version: string }>(`UPDATE "${schema}".bench_baseline SET version = version + 1 WHERE feature = $1 RETURNING version`, [cmd.feature]);
      await client.query('COMMIT');
      await cache.writeFeature(cmd.feature, Number(rows[0].version), { [cmd.cohort]: cmd.state });
      latenciesMs.push(performance.now() - t0);
    }
  } finally {
    client.release();
  }
  return summary(latenciesMs, performance.now() - started);
}

async function main(): Promise<void> {
  const run = `${Date.now().toString(36)}`;
  const schema = `pmf_bench_flags_${run}`;
  const prefix = `pmfbench:${run}:`;
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  const redis = redisClient();
  const schemas = [schema];
  try {
    await pool.query(`CREATE SCHEMA "${schema}"`);
    const loadBefore = loadavg()[0];
    console.log(`flag writer bench: ${COMMANDS} commands per kind and path over ${FEATURES} features x ${COHORTS.length} cohorts, ${CONSUMERS} consumer(s), Redis ${REDIS_CLUSTER ? `Cluster ${REDIS_CLUSTER}` : REDIS_URL}, load ${loadBefore.toFixed(1)}`);
    const base = await baseline(pool, redis, schema, prefix);
    console.log(`baseline (1 PG tx + Redis script): ${base.perSecond}/s, p50 ${base.p50Ms} ms, p99 ${base.p99Ms} ms`);
    const kinds: Record<string, { oneCall: Measured; previousPath: Measured; vsPreviousPath: ReturnType<typeof ratios> }> = {};
    for (const kind of KINDS) {
      const measure = async (oneCall: boolean) => {
        const name = `${schema}_${kind}_${oneCall ? 'one' : 'prev'}`;
        schemas.push(name);
        const m = await endToEnd(pool, redis, name, `${prefix}${kind}:${oneCall ? 'one' : 'prev'}:`, kind, oneCall);
        const rt = m.roundTripsPerCommand;
        console.log(`${kind.padEnd(7)} ${oneCall ? 'one call' : 'previous'}: ${m.perSecond}/s, p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms; per command ${rt.postgres} PG + ${rt.redis} Redis calls`);
        return m;
      };
      const previousPath = await measure(false);
      const oneCall = await measure(true);
      kinds[kind] = { oneCall, previousPath, vsPreviousPath: ratios(oneCall, previousPath) };
      const r = kinds[kind].vsPreviousPath;
      console.log(`${kind.padEnd(7)} one call vs previous: ${r.throughput}x the rate, p50 ${r.p50}x, p99 ${r.p99}x`);
    }
    console.log(
      JSON.stringify({
        bench: 'flags',
        commands: COMMANDS,
        features: FEATURES,
        consumers: CONSUMERS,
        redis: REDIS_CLUSTER ? 'cluster' : 'single',
        loadAverage: { before: round2(loadBefore), after: round2(loadavg()[0]) },
        kinds,
        baseline: base,
        plainVsBaseline: ratios(kinds.plain.oneCall, base),
      }),
    );
  } finally {
    for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
    await pool.end();
    await deletePrefix(redis, prefix);
    redis.disconnect();
  }
}

type Measured = ReturnType<typeof summary>;

function ratios(a: ReturnType<typeof summary>, b: ReturnType<typeof summary>) {
  return { throughput: round2(a.perSecond / b.perSecond), p50: round2(a.p50Ms / b.p50Ms), p99: round2(a.p99Ms / b.p99Ms) };
}

async function deletePrefix(redis: RedisFlagClient, prefix: string): Promise<void> {
  for (const node of redis instanceof Cluster ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      for (const key of keys) await node.del(key);
      cursor = next;
    } while (cursor !== '0');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
