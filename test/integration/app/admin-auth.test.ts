// The admin API of a running app uses the listeners' bearer tokens: probes stay open, everything
// else needs a token, and a person can pin and roll back a cohort through it.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../../src/app/build-app.js';
import { loadConfig } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/core/logger.js';
import { loadRulesFile } from '../../../src/config/rules-file.js';

const TOKEN = 'admin-test-token-0123456789';

describe('admin API with bearer auth (embedded app)', () => {
  let app: App;
  let dir: string;
  const call = (path: string, init: RequestInit = {}, token: string | null = TOKEN) =>
    fetch(`http://127.0.0.1:${app.adminPort()}${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) },
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pmf-admin-'));
    const config = loadConfig({
      env: { PMF_GUARD_DATA_DIR: dir, PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0', PMF_GUARD_ADMIN_PORT: '0', PMF_GUARD_BEARER_TOKEN: TOKEN },
      rulesFile: 'test/fixtures/seed-rules.yaml',
    });
    app = await buildApp(config, await loadRulesFile(config.rulesFile!), { logger: silentLogger });
    await app.start();
  });

  afterAll(async () => {
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves the probes open and refuses everything else without the token', async () => {
    expect((await call('/healthz', {}, null)).status).toBe(200);
    expect((await call('/readyz', {}, null)).status).toBe(200);
    for (const path of ['/metrics', '/v1/flags/feat_smart_recs_v1', '/v1/verdicts?feature=feat_smart_recs_v1']) {
      const res = await call(path, {}, null);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/Bearer/);
      expect((await call(path, {}, 'wrong-token-0123456789')).status, path).toBe(401);
      expect((await call(path)).status, path).toBe(200);
    }
  });

  it('lets a person pin the treatment off and audit it, through the same command path', async () => {
    const pin = await call('/v1/flags/feat_smart_recs_v1/cohorts/treatment/pin', {
      method: 'POST',
      body: JSON.stringify({ state: 'off', ttlSeconds: 3600, actor: 'oncall@example.com', reason: 'investigating dashboard latency' }),
    });
    expect(pin.status).toBe(200);
    const flag = await (await call('/v1/flags/feat_smart_recs_v1')).json();
    expect(flag.cohorts.treatment.state).toBe('off');
    expect(flag.cohorts.treatment.pinnedUntil).toBeDefined();
    const audit = await (await call('/v1/flags/feat_smart_recs_v1/audit')).json();
    expect(JSON.stringify(audit)).toMatch(/oncall@example\.com/);
    expect((await call('/v1/flags/feat_smart_recs_v1/cohorts/treatment/pin', { method: 'DELETE', body: '{}' }, null)).status).toBe(401);
  });
});
