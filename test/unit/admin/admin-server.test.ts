import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer, type AdminSources } from '../../../src/admin/admin-server.js';
import { MetricsRegistry } from '../../../src/admin/metrics-registry.js';

describe('admin API', () => {
  let server: AdminServer | undefined;
  afterEach(async () => server?.stop());

  async function start(sources: Partial<AdminSources>) {
    server = new AdminServer({ host: '127.0.0.1', port: 0, sources: { metrics: new MetricsRegistry(), probes: [], ...sources }, probeTimeoutMs: 200 });
    await server.start();
    return (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${server!.port}${path}`, init);
  }

  it('is ready only when every probe answers, and says which one did not', async () => {
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
      { name: 'postgresql', ok: false, error: 'connection refused' },
      { name: 'redis', ok: false, error: 'redis did not answer within 200 ms' },
    ]);
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
