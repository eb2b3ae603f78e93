// The CLI as a user meets it: usage on an empty command line (exit 2), help per command, `rules
// check`, an export that fails leaves no file, and `npm start` (the README's run command) stops the
// server on SIGTERM, freeing its ports and the data directory's lock.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockDataDir } from '../../../src/log/embedded/embedded-dir-lock.js';
import { freePort } from '../../helpers/prometheus-server.js';
import { waitFor } from '../../helpers/services.js';

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  });
}

const listening = (port: number) => new Promise<boolean>((resolve) => {
  const s = connect(port, '127.0.0.1');
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});

describe('pmf-guard CLI', () => {
  it('prints the usage and exits 2 without arguments; --help exits 0 and names the ports', () => {
    const empty = run([]);
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/^usage: pmf-guard <command>/);
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/OTLP\/HTTP on :4318/);
    expect(help.stdout).toMatch(/PMF_GUARD_ADMIN_PORT/);
    const report = run(['report', '--help']);
    expect(report.status).toBe(0);
    expect(report.stdout).toMatch(/^usage: pmf-guard report/);
  });

  it('`rules check` shows what would be guarded and how, and exits 2 on an invalid file', () => {
    const ok = run(['rules', 'check', 'deploy/rules.yaml']);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/deploy\/rules.yaml: valid, version seed-2024-q3, 1 feature/);
    expect(ok.stdout).toMatch(/feat_smart_recs_v1 \(enforce: failing cohorts are rolled back\)/);
    expect(ok.stdout).toMatch(/guarded cohorts: treatment; control: control/);
    expect(ok.stdout).toMatch(/latency P95 ≤ 200 ms on span "GET \/dashboard"/);
    const dir = mkdtempSync(join(tmpdir(), 'pmf-cli-'));
    writeFileSync(join(dir, 'bad.yaml'), 'rules:\n  - { featureId: f, activationThreshold: 3 }\n');
    const bad = run(['rules', 'check', join(dir, 'bad.yaml')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/activationThreshold/);
  });

  it('leaves no file when an export fails, and replay refuses an empty events file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmf-cli-'));
    const out = join(dir, 'events.jsonl');
    const failed = run(['export', '--out', out], { KAFKA_BROKERS: '127.0.0.1:1', PMF_GUARD_KAFKA_SESSION_TIMEOUT_MS: '6000' });
    expect(failed.status).not.toBe(0);
    expect(existsSync(out)).toBe(false);
    writeFileSync(join(dir, 'empty.jsonl'), '');
    const replay = run(['replay', '--rules', 'deploy/rules.yaml', '--input', join(dir, 'empty.jsonl')], { PMF_GUARD_DATA_DIR: join(dir, 'data') });
    expect(replay.status).toBe(2);
    expect(replay.stderr).toMatch(/holds no events/);
  });

  it('`npm start` stops on SIGTERM: ports and the data directory lock are free afterwards', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmf-npm-'));
    const data = join(dir, 'data');
    const [grpc, http, adminPort] = [await freePort(), await freePort(), await freePort()];
    const child = spawn('npm', ['start', '--silent'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PMF_GUARD_DATA_DIR: data, PMF_GUARD_OTLP_GRPC_PORT: String(grpc), PMF_GUARD_OTLP_HTTP_PORT: String(http), PMF_GUARD_ADMIN_PORT: String(adminPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => stderr.includes('"msg":"started"'), { timeoutMs: 180_000, intervalMs: 250, message: 'npm start did not start' });
      const starting = JSON.parse(stderr.split('\n').find((l) => l.includes('"msg":"starting"'))!);
      expect(starting).toMatchObject({ adminListen: expect.stringContaining(`:${adminPort}`), otlpGrpcListen: expect.stringContaining(`:${grpc}`), dataDir: data });
      expect(await listening(adminPort)).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    // npm has exited; the server it started must be gone too.
    await waitFor(async () => !(await listening(adminPort)) && !(await listening(grpc)) && !(await listening(http)), { timeoutMs: 10_000, message: 'ports still held after SIGTERM' });
    const lock = await lockDataDir(join(data, 'log'));
    await lock.release();
  });
});
