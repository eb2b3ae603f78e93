// The README as a new user reads it: its "point your application at it" program runs as written
// and its span reaches a running pmf-guard; its `pmf-guard rules check` line works; and nothing it
// links or names lies outside the repository. (The flag-client example has its own test in
// test/integration/client/docs-example.test.ts.)

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app/build-app.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { loadRulesFile } from '../../src/config/rules-file.js';
import { uniqueName, waitFor } from '../helpers/services.js';

const run = promisify(execFile);
const readme = readFileSync('README.md', 'utf8');

describe('README', () => {
  it('runs the OpenTelemetry snippet as written, and pmf-guard receives its span', async () => {
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).filter((c) => c.includes('@opentelemetry/sdk-trace-node'));
    expect(blocks).toHaveLength(1);
    const dir = mkdtempSync(join(tmpdir(), 'pmf-readme-'));
    const config = loadConfig({ env: { PMF_GUARD_DATA_DIR: dir, PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0', PMF_GUARD_ADMIN_PORT: '0' }, rulesFile: 'deploy/rules.yaml' });
    const app = await buildApp(config, await loadRulesFile('deploy/rules.yaml'), { logger: silentLogger });
    await app.start();
    // Inside the repository, so the snippet resolves the OpenTelemetry packages from node_modules.
    const scratch = join('node_modules/.cache/pmf-guard-readme', uniqueName('run'));
    mkdirSync(scratch, { recursive: true });
    try {
      const file = join(scratch, 'otel-example.mts');
      writeFileSync(file, blocks[0]);
      await run(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, PMF_GUARD_OTLP: `http://127.0.0.1:${app.receiverPort()}` }, timeout: 60_000 });
      await waitFor(async () => /pmf_receiver_records_received_total\{signal="traces"\} 1\b/.test(await (await fetch(`http://127.0.0.1:${app.adminPort()}/metrics`)).text()), { timeoutMs: 20_000, message: 'span not received' });
    } finally {
      await app.stop();
      rmSync(scratch, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs its `pmf-guard rules check` line', async () => {
    const line = readme.split('\n').find((l) => l.startsWith('pmf-guard rules check '))!;
    const args = line.split('#')[0].trim().split(/\s+/).slice(1);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { timeout: 60_000 });
    expect(stdout).toMatch(/valid, version seed-2024-q3/);
  });

  it('links and names only files inside the repository, and shows the status page screenshot', () => {
    const root = resolve('.');
    for (const [, target] of readme.matchAll(/\]\(([^)#\s]+)[^)]*\)/g)) {
      if (/^https?:/.test(target)) continue;
      const inside = relative(root, resolve(root, target));
      expect(inside.startsWith('..') || isAbsolute(inside), `README links ${target}, outside the repository`).toBe(false);
      expect(existsSync(target), `README links ${target}`).toBe(true);
    }
    // A path written in prose (not as a link) must not climb out of the repository either.
    expect(readme.split('\n').filter((l) => /(^|[\s`(])\.\.\//.test(l))).toEqual([]);
    expect(readme).toMatch(/!\[[^\]]*\]\(docs\/status-page\.png\)/);
  });
});
