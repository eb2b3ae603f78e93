// The seed story end to end on the embedded default: a real OpenTelemetry SDK exporter sends the
// 450 ms /dashboard regression; pmf-guard must fail the treatment on latency, turn its flag off, and
// leave the control alone, all observed through the admin API as a user would.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app/build-app.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { loadRulesFile } from '../../src/rules/load.js';
import { sendSeedScenario } from '../helpers/seed-scenario.js';
import { waitFor } from '../helpers/services.js';

describe('seed story on the embedded default', () => {
  let app: App;
  let dataDir: string;
  const admin = (path: string) => fetch(`http://127.0.0.1:${app.adminPort()}${path}`);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pmf-e2e-'));
    const config = loadConfig({
      env: { PMF_GUARD_DATA_DIR: dataDir, PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_ADMIN_PORT: '0' },
      rulesFile: 'test/fixtures/seed-rules.yaml',
    });
    app = await buildApp(config, await loadRulesFile(config.rulesFile!), { logger: silentLogger });
    await app.start();
  });

  afterAll(async () => {
    await app?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('fails the treatment on latency, turns it off, and leaves the control on', async () => {
    const health = await admin('/readyz');
    expect(health.status).toBe(200);

    const flagBefore = await (await admin('/v1/flags/feat_smart_recs_v1')).json();
    expect(flagBefore.cohorts.treatment.state).toBe('on');

    const sent = await sendSeedScenario({ endpoint: `http://127.0.0.1:${app.receiverPort()}`, startMs: Date.now() - 5 * 3600_000 });
    expect(sent.users).toBeGreaterThan(10_000);

    const verdicts = await waitFor(
      async () => {
        const body = await (await admin('/v1/verdicts?feature=feat_smart_recs_v1')).json();
        const treatment = body.verdicts.find((v: { cohort: string }) => v.cohort === 'treatment');
        return treatment?.outcome === 'fail' ? body.verdicts : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250, message: 'treatment verdict did not become fail' },
    );
    const treatment = verdicts.find((v: { cohort: string }) => v.cohort === 'treatment');
    const control = verdicts.find((v: { cohort: string }) => v.cohort === 'control');
    expect(treatment.metrics.latencyP95.status).toBe('fail');
    expect(treatment.metrics.latencyP95.estimate).toBeGreaterThan(450);
    expect(treatment.reason).toMatch(/latency/);
    expect(control?.outcome).not.toBe('fail');

    const flag = await waitFor(
      async () => {
        const body = await (await admin('/v1/flags/feat_smart_recs_v1')).json();
        return body.cohorts.treatment.state === 'off' ? body : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, message: 'treatment flag was not turned off' },
    );
    expect(flag.cohorts.treatment.reason).toMatch(/latency/);
    expect(flag.cohorts.control).toBeUndefined();
  });
});
