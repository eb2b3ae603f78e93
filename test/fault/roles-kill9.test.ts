// Fault matrix, first slice: every role as its own process in distributed mode (receiver, two
// aggregators, verdict, flag writer; real Kafka, PostgreSQL and Redis), the seed story sent through
// a real OTLP exporter, and kill -9 of the verdict process and of the flag writer while it runs
// (each restarted). The outcome must be the fault-free one (the distributed seed-story test): a
// fail verdict for the treatment only, the treatment off and the control on in PostgreSQL and
// Redis, and the rollback applied once, signed by one process and checked by another.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { stringify as toYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { sendSeedScenario } from '../helpers/seed-scenario.js';
import { testServices, uniqueName, waitFor } from '../helpers/services.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

class RoleProcess {
  private child?: ChildProcess;
  private exit?: Promise<unknown>;
  constructor(readonly role: string, readonly logFile: string, private readonly env: Record<string, string>) {}

  start(): this {
    const fd = openSync(this.logFile, 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'start', '--role', this.role], {
      cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...this.env }, stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.exit = new Promise((resolve) => child.once('exit', resolve));
    return this;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Waits for the n-th "started" line of this log file (one per start). */
  async waitStarted(n: number): Promise<void> {
    await waitFor(() => {
      if (!this.running) throw new Error(`${this.role} exited during start-up:\n${this.log().slice(-3000)}`);
      return this.log().split('\n').filter((l) => l.includes('"msg":"started"')).length >= n;
    }, { timeoutMs: 90_000, message: `${this.role} started (${this.logFile})` });
  }

  async kill9(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGKILL');
    await this.exit;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGTERM');
    await this.exit;
  }
}

describe('every role in its own process, under kill -9', () => {
  const id = uniqueName('roles');
  const dir = mkdtempSync(join(tmpdir(), 'pmf-roles-'));
  const schema = `pmf_${id}`;
  const keyPrefix = `${id}:`;
  const processes: RoleProcess[] = [];
  const pool = new pg.Pool({ connectionString: testServices.databaseUrl, max: 1 });
  const redis = new Redis(testServices.redisUrl);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill9()));
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rolls the treatment back once, as without faults, though the verdict process and the flag writer die mid-run', async () => {
    const configFile = join(dir, 'pmf.yaml');
    writeFileSync(configFile, toYaml({ kafka: { groupPrefix: id, partitions: 3, sessionTimeoutMs: 6000 }, logLevel: 'info' }));
    const otlpPort = await freePort();
    const common = {
      PMF_GUARD_CONFIG: configFile, PMF_GUARD_RULES: 'test/fixtures/seed-rules.yaml',
      KAFKA_BROKERS: testServices.kafkaBrokers.join(','), DATABASE_URL: testServices.databaseUrl, REDIS_URL: testServices.redisUrl,
      PMF_GUARD_TOPIC_PREFIX: `${id}.`, PMF_GUARD_DATABASE_SCHEMA: schema, PMF_GUARD_REDIS_KEY_PREFIX: keyPrefix,
      PMF_GUARD_PSEUDONYM_KEY: randomBytes(32).toString('hex'), PMF_GUARD_COMMAND_KEY: randomBytes(32).toString('hex'),
      PMF_GUARD_ADMIN_PORT: '0', PMF_GUARD_OTLP_GRPC_PORT: String(otlpPort), PMF_GUARD_OTLP_HTTP_PORT: '0',
    };
    const role = (name: string, n = '') => {
      const p = new RoleProcess(name, join(dir, `${name}${n}.log`), { ...common, PMF_GUARD_DATA_DIR: join(dir, `${name}${n}`) });
      processes.push(p);
      return p;
    };
    const flagWriter = role('flag-writer').start();
    await flagWriter.waitStarted(1);
    const verdict = role('verdict').start();
    const aggregators = [role('aggregator', '1').start(), role('aggregator', '2').start()];
    const receiver = role('receiver').start();
    await Promise.all([verdict.waitStarted(1), ...aggregators.map((a) => a.waitStarted(1)), receiver.waitStarted(1)]);

    const sending = sendSeedScenario({ endpoint: `http://127.0.0.1:${otlpPort}`, startMs: Date.parse('2026-03-02T08:00:00Z') });
    // Both die while spans stream in, and come back.
    await waitFor(() => /"msg":"started"/.test(verdict.log()), { message: 'verdict up' });
    await new Promise((r) => setTimeout(r, 3000));
    await verdict.kill9();
    await flagWriter.kill9();
    verdict.start();
    flagWriter.start();
    await Promise.all([verdict.waitStarted(2), flagWriter.waitStarted(2)]);
    await sending;

    const flag = async () => (await pool.query(`SELECT cohort, state FROM ${schema}.flags WHERE feature = 'feat_smart_recs_v1' ORDER BY cohort`)).rows;
    await waitFor(async () => (await flag()).some((r) => r.cohort === 'treatment' && r.state === 'off'), { timeoutMs: 120_000, message: 'treatment rolled back' });
    expect(await flag()).toEqual([{ cohort: 'treatment', state: 'off' }]);
    await waitFor(async () => (await redis.hget(`${keyPrefix}pmf:flag:{feat_smart_recs_v1}`, 'treatment')) === 'off', { message: 'Redis follows' });
    expect(await redis.hget(`${keyPrefix}pmf:flag:{feat_smart_recs_v1}`, 'control')).toBeNull();
    const audit = (await pool.query(`SELECT source, outcome FROM ${schema}.audit_log WHERE feature = 'feat_smart_recs_v1'`)).rows;
    expect(audit).toEqual([{ source: 'verdict', outcome: 'applied' }]);
    // Nothing refused: every command was signed by a verdict process with the shared key.
    expect(flagWriter.log()).not.toContain('ERR_COMMAND_REFUSED');
    await Promise.all(processes.map((p) => p.stop()));
  }, 360_000);
});
