import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer, type AdminSources } from '../../../src/admin/admin-server.js';
import { MetricsRegistry } from '../../../src/admin/metrics-registry.js';
import { createLogger } from '../../../src/core/logger.js';

describe('admin API', () => {
  let server: AdminServer | undefined;
  afterEach(async () => server?.stop());

  let logged: string[] = [];
  async function start(sources: Partial<AdminSources>, routes: ConstructorParameters<typeof AdminServer>[0]['routes'] = []) {
    logged = [];
    const logger = createLogger('debug', 'test', (l) => logged.push(l));
    server = new AdminServer({ host: '127.0.0.1', port: 0, sources: { metrics: new MetricsRegistry(), probes: [], ...sources }, probeTimeoutMs: 200, logger, routes });
    await server.start();
    return (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${server!.port}${path}`, init);
  }

  it('is ready only when every probe answers, and says which one did not without saying why (the log does)', async () => {
    const get = await start({
      probes: [
        { name: 'kafka', check: async () => {} },
        { name: 'postgresql', check: async () => { throw new Error('connection refused'); } },
        { name: 'redis', check: () => new Promise(() => {}) },
      ],
    });
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(503);
    const body = await ready.json();
    expect(body.checks).toEqual([
      { name: 'kafka', ok: true },
      { name: 'postgresql', ok: false, correlationId: expect.any(String) },
      { name: 'redis', ok: false, correlationId: expect.any(String) },
    ]);
    expect(JSON.stringify(body)).not.toContain('refused');
    const pgLine = logged.map((l) => JSON.parse(l)).find((l) => l.check === 'postgresql');
    expect(pgLine).toMatchObject({ correlationId: body.checks[1].correlationId, err: 'connection refused' });
  });

  it('answers an internal error with a correlation id only, and logs the detail under it', async () => {
    const get = await start({}, [async (_req, _res, url) => {
      if (url.pathname === '/boom') throw new Error('relation "secret_schema.flags" does not exist at 10.0.0.7');
      return false;
    }]);
    const res = await get('/boom');
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body).toEqual({ error: 'ERR_INTERNAL', message: expect.any(String), correlationId: expect.any(String) });
    expect(JSON.stringify(body)).not.toMatch(/secret_schema|10\.0\.0\.7/);
    const line = logged.map((l) => JSON.parse(l)).find((l) => l.correlationId === body.correlationId);
    expect(line.err.message).toContain('secret_schema');
  });

  it('renders histograms with cumulative buckets, +Inf, _sum and _count, and NaN for unknown values', async () => {
    const metrics = new MetricsRegistry();
    metrics.register(() => [
      { name: 'pmf_d_seconds', help: 'd', type: 'histogram', value: 3, labels: { stage: 's' }, histogram: { buckets: [{ le: 0.1, count: 1 }, { le: 1, count: 2 }], sum: 1.5, count: 3 } },
      { name: 'pmf_g', help: 'g', type: 'gauge', value: NaN },
    ]);
    const get = await start({ metrics });
    const text = await (await get('/metrics')).text();
    expect(text).toContain('# TYPE pmf_d_seconds histogram\npmf_d_seconds_bucket{stage="s",le="0.1"} 1\npmf_d_seconds_bucket{stage="s",le="1"} 2\npmf_d_seconds_bucket{stage="s",le="+Inf"} 3\npmf_d_seconds_sum{stage="s"} 1.5\npmf_d_seconds_count{stage="s"} 3');
    expect(text).toContain('pmf_g NaN');
  });

  it('renders Prometheus text, keeps scraping when one source fails, and counts the failure', async () => {
    const metrics = new MetricsRegistry();
    metrics.register(() => [{ name: 'pmf_x_total', help: 'x', type: 'counter', labels: { reason: 'a"b' }, value: 3 }]);
    metrics.register(async () => { throw new Error('kafka down'); });
    const get = await start({ metrics });
    const text = await (await get('/metrics')).text();
    expect(text).toContain('# TYPE pmf_x_total counter\npmf_x_total{reason="a\\"b"} 3');
    expect(text).toContain('pmf_metrics_collector_errors_total 1');
  });

  it('serves flags and verdicts, with 404 for an unknown feature and 400 without a feature', async () => {
    const get = await start({
      getFlag: async (f) => (f === 'known' ? { feature: 'known', version: 2, cohorts: {} } : null),
      latestVerdicts: async (f, c) => [{ feature: f, cohort: c ?? 'all' } as never],
    });
    expect(await (await get('/v1/flags/known')).json()).toEqual({ feature: 'known', version: 2, cohorts: {} });
    expect((await get('/v1/flags/unknown')).status).toBe(404);
    expect((await get('/v1/flags/%E0%A4%A')).status).toBe(400);
    expect((await get('/v1/verdicts')).status).toBe(400);
    expect(await (await get('/v1/verdicts?feature=f&cohort=t')).json()).toEqual({ verdicts: [{ feature: 'f', cohort: 't' }] });
    expect((await get('/nowhere')).status).toBe(404);
  });
});
