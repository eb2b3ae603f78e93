// The program as a user runs it: a bad rules file or config stops it with exit code 2 and every
// problem listed; nothing is started.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  });
}

describe('pmf-guard start', () => {
  it('exits 2 and lists every problem of an invalid rules file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmf-cli-'));
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, 'rules:\n  - featureId: ""\n    activationThreshold: 2\n    retentionThreshold: 0.4\n    latencyP95Threshold: 200\n    minCohortSize: 0\n    evaluationWindowSeconds: 10\n');
    const r = run(['start', '--rules', rules], { PMF_GUARD_DATA_DIR: join(dir, 'data') });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/3 problem\(s\)/);
    expect(r.stderr).toMatch(/rules\[0\]\.featureId/);
    expect(r.stderr).toMatch(/rules\[0\]\.activationThreshold/);
    expect(r.stderr).toMatch(/rules\[0\]\.minCohortSize/);
    expect(r.stderr).not.toMatch(/started/);
  });

  it('exits 2 on an invalid environment, naming the variable to fix', () => {
    const r = run(['start'], { REDIS_URL: 'http://cache:6379' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/redis\.url: redis\.url must start with redis:\/\/ or rediss:\/\//);
  });

  it('refuses to pseudonymise into Kafka without a key, and says how to make one', () => {
    const r = run(['start', '--role', 'receiver'], { KAFKA_BROKERS: '127.0.0.1:1' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/PMF_GUARD_PSEUDONYM_KEY/);
  });
});

describe('pmf-guard start, running', () => {
  it('serves the admin API, reloads rules on SIGHUP, refuses an invalid reload, and drains on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const { waitFor } = await import('../../helpers/services.js');
    const dir = mkdtempSync(join(tmpdir(), 'pmf-cli-'));
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, 'version: one\nrules:\n  - { featureId: feat_a, activationThreshold: 0.1, retentionThreshold: 0.3, latencyP95Threshold: 200, minCohortSize: 10, evaluationWindowSeconds: 60, cohorts: { guarded: [treatment] } }\n');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'start', '--rules', rules], {
      env: { PATH: process.env.PATH ?? '', PMF_GUARD_DATA_DIR: join(dir, 'data'), PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0', PMF_GUARD_ADMIN_PORT: '18089' },
    });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => stderr.includes('"msg":"started"'), { timeoutMs: 60_000, message: 'pmf-guard did not start' });
      const flag = await (await fetch('http://127.0.0.1:18089/v1/flags/feat_a')).json();
      expect(flag.cohorts.treatment.state).toBe('on');
      expect((await fetch('http://127.0.0.1:18089/v1/flags/feat_b')).status).toBe(404);

      writeFileSync(rules, 'rules:\n  - { featureId: feat_b, activationThreshold: 7 }\n');
      child.kill('SIGHUP');
      await waitFor(() => stderr.includes('rules reload refused'), { timeoutMs: 20_000, message: 'invalid reload not refused' });
      expect(stderr).toMatch(/activationThreshold/);

      writeFileSync(rules, 'version: two\nrules:\n  - { featureId: feat_b, activationThreshold: 0.1, retentionThreshold: 0.3, latencyP95Threshold: 200, minCohortSize: 10, evaluationWindowSeconds: 60, cohorts: { guarded: [v2] } }\n');
      child.kill('SIGHUP');
      await waitFor(async () => (await fetch('http://127.0.0.1:18089/v1/flags/feat_b')).status === 200, { timeoutMs: 20_000, message: 'reloaded rule not in force' });
      expect(stderr).toMatch(/"msg":"rules in force","rules":"two"/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/"msg":"stopped"/);
  });
});
