// What an operator gets from a seeded run on the embedded default, with auth on: every read needs
// the token (probes excepted); the metrics pass promtool and a real Prometheus scrapes them; the
// dashboard's queries all name exported metrics; a rollback is announced by a signed webhook; the
// status page renders the rolled-back cohort with its chart in headless Chromium without a console
// error (and the screenshot becomes docs/status-page.png); `status` and `report` answer from the
// CLI; and after a restart the verdicts and charts are there before any new traffic.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app/build-app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/logger.js';
import { loadRulesFile } from '../../src/config/rules-file.js';
import { verifySignature } from '../../src/notify/webhook-signature.js';
import { dashboardMetricNames, exposedFamilies } from '../helpers/dashboard-metrics.js';
import { PrometheusServer } from '../helpers/prometheus-server.js';
import { sendSeedScenario } from '../helpers/seed-scenario.js';
import { waitFor } from '../helpers/services.js';
import { tool } from '../helpers/tools.js';

const run = promisify(execFile);

async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(tool('promtool'), ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (b) => (output += b));
  child.stderr.on('data', (b) => (output += b));
  const code = new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
  child.stdin.end(text);
  return { code: await code, output };
}

const TOKEN = 'operability-test-token-0123456789';
const SIGNING_KEY = 'operability-signing-key-0123456789';
const FEATURE = 'feat_smart_recs_v1';
// The seed rule, made quick: fewer users and shorter windows, so the run takes seconds.
const RULES = `version: operability
rules:
  - featureId: ${FEATURE}
    activationThreshold: 0.15
    retentionThreshold: 0.40
    latencyP95Threshold: 200
    minCohortSize: 300
    evaluationWindowSeconds: 1800
    activation: { action: { spanName: recs.click }, windowSeconds: 86400 }
    retention: { returnAfterSeconds: 86400, windowSeconds: 604800 }
    latency: { spanName: "GET /dashboard" }
    cohorts: { control: control, guarded: [treatment] }
    mode: enforce
`;

describe('operability on the embedded default, auth on', () => {
  let dir: string;
  let config: Config;
  let app: App;
  let hooks: Server;
  const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  const admin = (path: string, token: string | null = TOKEN) => fetch(`http://127.0.0.1:${app.adminPort()}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pmf-ops-'));
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    writeFileSync(join(dir, 'rules.yaml'), RULES);
    writeFileSync(join(dir, 'config.yaml'), JSON.stringify({
      admin: { host: '127.0.0.1', port: 0 },
      notify: { webhooks: [{ url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/pmf`, format: 'json', events: ['rollback'] }] },
    }));
    config = loadConfig({
      configFile: join(dir, 'config.yaml'),
      env: {
        PMF_GUARD_DATA_DIR: join(dir, 'data'), PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0',
        PMF_GUARD_BEARER_TOKEN: TOKEN, PMF_GUARD_WEBHOOK_SIGNING_KEY: SIGNING_KEY,
      },
      rulesFile: join(dir, 'rules.yaml'),
    });
    app = await buildApp(config, await loadRulesFile(config.rulesFile!), { logger: silentLogger });
    await app.start();
  });

  afterAll(async () => {
    await app?.stop();
    await new Promise((r) => hooks?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('needs the token for every read but the probes, and exposes valid metrics with every dashboard series from start-up', async () => {
    for (const path of ['/metrics', '/status', '/v1/status', '/v1/flags', `/v1/flags/${FEATURE}`, `/v1/flags/${FEATURE}/audit`, `/v1/verdicts?feature=${FEATURE}`, '/v1/features/report']) {
      expect((await admin(path, null)).status, path).toBe(401);
    }
    expect((await admin('/healthz', null)).status).toBe(200);
    expect((await admin('/readyz', null)).status).toBe(200);

    const text = await (await admin('/metrics')).text();
    const check = await promtoolCheck(text);
    expect(check.output, 'promtool check metrics').toBe('');
    expect(check.code).toBe(0);
    const families = exposedFamilies(text);
    for (const name of dashboardMetricNames()) expect(families.has(name), `${name} is on the dashboard but not exported at start-up`).toBe(true);
    expect(text).toContain(`pmf_cohort_outcome{feature="${FEATURE}",cohort="treatment",outcome="pending"} 1`);
    expect(text).toMatch(/pmf_flag_write_duration_seconds_bucket\{le="\+Inf"\} 0/);
    expect(text).not.toMatch(/_ms\b|_ms_|status="traces:/);
  });

  it('rolls the treatment back, announces it by a signed webhook, and shows it on the status page with its chart', async () => {
    const flags = await (await admin('/v1/flags')).json();
    expect(flags.features.map((f: { feature: string }) => f.feature)).toEqual([FEATURE]);

    // In eight slices of event time, each judged before the next is sent, so the chart has points.
    const start = Date.now() - 3 * 3600_000;
    const slice = 15 * 60_000;
    for (let i = 0; i < 8; i++) {
      await sendSeedScenario({ endpoint: `http://127.0.0.1:${app.receiverPort()}`, startMs: start + i * slice, durationMs: slice, usersPerCohort: 100, seed: 100 + i, bearerToken: TOKEN });
      await waitFor(async () => {
        const { verdicts } = await (await admin(`/v1/verdicts?feature=${FEATURE}&cohort=treatment`)).json();
        return verdicts[0] && Date.parse(verdicts[0].evaluatedAt) >= start + (i + 1) * slice - 10 * 60_000;
      }, { timeoutMs: 60_000, intervalMs: 200, message: `slice ${i} not judged` });
    }
    await waitFor(async () => (await (await admin(`/v1/flags/${FEATURE}`)).json()).cohorts.treatment.state === 'off', { timeoutMs: 90_000, intervalMs: 250, message: 'treatment not rolled back' });

    const hook = await waitFor(() => received.find((r) => r.headers['x-pmf-guard-event'] === 'rollback'), { timeoutMs: 30_000, message: 'no rollback webhook' });
    const body = JSON.parse(hook.body);
    expect(body).toMatchObject({ type: 'rollback', feature: FEATURE, cohort: 'treatment', outcome: 'fail' });
    expect(hook.headers['idempotency-key']).toBe(`rollback:${body.verdictId}`);
    expect(verifySignature(SIGNING_KEY, { signature: hook.headers['x-pmf-guard-signature'] as string, timestamp: hook.headers['x-pmf-guard-timestamp'] as string }, hook.body, Math.floor(Date.now() / 1000))).toBe(true);
    expect(received.every((r) => r.headers['x-pmf-guard-event'] === 'rollback')).toBe(true);

    // The outcome has not changed since the rollback, yet later (heartbeat) verdicts carry the current n.
    const { verdicts } = await (await admin(`/v1/verdicts?feature=${FEATURE}&cohort=treatment`)).json();
    expect(verdicts[0].outcome).toBe('fail');
    expect(verdicts[0].metrics.latencyP95.n).toBeGreaterThan(body.metrics.latencyP95.n);

    // Heartbeats carry the current n: the points after the decision keep counting users.
    await waitFor(async () => {
      const s = await (await admin('/v1/status')).json();
      const t = s.features[0].cohorts.find((c: { cohort: string }) => c.cohort === 'treatment');
      return t.outcome === 'fail' && t.flag === 'off' && t.pmfScore !== null;
    }, { timeoutMs: 30_000, message: 'status does not show the rollback' }).catch(async (err) => {
      throw new Error(`${err.message}: ${await (await admin('/v1/status')).text()}`);
    });

    const browser = await chromium.launch({
      executablePath: tool('chromium'),
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, extraHTTPHeaders: { authorization: `Bearer ${TOKEN}` } });
      const problems: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
      const res = await page.goto(`http://127.0.0.1:${app.adminPort()}/status`);
      expect(res?.status()).toBe(200);
      const row = page.locator('tr', { hasText: 'treatment' }).first();
      expect(await row.locator('.outcome').innerText()).toBe('fail');
      expect(await row.innerText()).toMatch(/off/);
      const charts = page.locator(`[id="chart-${FEATURE}-treatment"] + .charts svg.chart`);
      expect(await charts.count()).toBeGreaterThanOrEqual(1);
      const latency = page.locator('svg.chart[aria-label$="treatment: latencyP95"]');
      expect(await latency.locator('polyline.estimate').count()).toBe(1);
      expect(await latency.locator('line.threshold').count()).toBe(1);
      expect(await latency.locator('polygon.band').count()).toBe(1);
      expect(await page.locator('text=Zombie-feature report').count()).toBe(1);
      expect(await page.locator('text=audit trail').count()).toBe(1);
      await page.screenshot({ path: 'docs/status-page.png', fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('is scraped by a real Prometheus, which sees the failed cohort', async () => {
    const prom = new PrometheusServer(`127.0.0.1:${app.adminPort()}`, TOKEN);
    await prom.start();
    try {
      const up = await waitFor(async () => (await prom.query('up{job="pmf-guard"} == 1')).length === 1, { timeoutMs: 60_000, message: 'target not up' }).catch((err) => {
        throw new Error(`${err.message}\n${prom.log.slice(-2000)}`);
      });
      expect(up).toBe(true);
      const failed = await waitFor(async () => {
        const r = await prom.query(`pmf_cohort_outcome{feature="${FEATURE}",outcome="fail"} == 1`);
        return r.length > 0 ? r : undefined;
      }, { timeoutMs: 30_000, message: 'failed cohort not visible in Prometheus' });
      expect(failed.map((r) => r.metric.cohort)).toEqual(['treatment']);
      const quantile = await prom.query('histogram_quantile(0.95, sum by (le) (pmf_flag_write_duration_seconds_bucket))');
      expect(Number(quantile[0].value[1])).toBeGreaterThan(0);
    } finally {
      await prom.stop();
    }
  });

  it('answers `pmf-guard status` and `pmf-guard report` from the terminal', async () => {
    const env = { PATH: process.env.PATH ?? '', PMF_GUARD_BEARER_TOKEN: TOKEN };
    const url = `http://127.0.0.1:${app.adminPort()}`;
    // Asynchronously: the instance answering runs in this very process.
    const cli = async (args: string[], e: Record<string, string> = env) => (await run(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { env: e, encoding: 'utf8' })).stdout;
    const status = await cli(['status', '--url', url]);
    expect(status).toMatch(new RegExp(`${FEATURE}\\n`));
    expect(status).toMatch(/treatment\s+fail\s+\d+\s+off\s+.*latencyP95 fail/);
    const report = JSON.parse(await cli(['report', '--url', url, '--json']));
    const f = report.features.find((x: { feature: string }) => x.feature === FEATURE);
    // Counted up to the watermark: the last few exposures may still be above it.
    expect(f.exposedUsers).toBeGreaterThan(1500);
    expect(f.exposedUsers).toBeLessThanOrEqual(1600);
    expect(f.requests).toBeGreaterThan(3000);
    expect(f.requests).toBeLessThanOrEqual(3200);
    expect(f.spanSeconds).toBeGreaterThan(0);
    // Activation windows (a day) have not matured in this short run: no zombie verdict yet.
    expect(f.activationRate).toBeNull();
    expect(f.zombie).toBe(false);
    expect(f.cohorts.find((c: { cohort: string }) => c.cohort === 'treatment')).toMatchObject({ outcome: 'fail' });
    expect(await cli(['report', '--url', url])).toMatch(/zombie-feature report/);
    const denied = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'status', '--url', url], { env: { PATH: env.PATH }, encoding: 'utf8' }).catch((e) => e);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/needs a bearer token/);
  });

  it('serves the last verdicts and their history after a restart, before any new traffic', async () => {
    const before = await (await admin(`/v1/verdicts?feature=${FEATURE}`)).json();
    await app.stop();
    app = await buildApp(config, await loadRulesFile(config.rulesFile!), { logger: silentLogger });
    await app.start();
    const after = await (await admin(`/v1/verdicts?feature=${FEATURE}`)).json();
    expect(after.verdicts.map((v: { verdictId: string }) => v.verdictId).sort()).toEqual(before.verdicts.map((v: { verdictId: string }) => v.verdictId).sort());
    const page = await (await admin('/status')).text();
    expect(page).toMatch(/class="estimate"/);
  });
});
