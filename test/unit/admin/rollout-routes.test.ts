import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer } from '../../../src/admin/admin-server.js';
import { MetricsRegistry } from '../../../src/admin/metrics-registry.js';
import { rolloutRoutes } from '../../../src/admin/rollout-routes.js';
import type { RolloutSteer } from '../../../src/events/rollout-steer.js';
import { parseRules } from '../../../src/rules/load.js';

const TOKEN = 'unit-test-token-0123456789';
const rules = parseRules(JSON.stringify({
  rules: [
    { featureId: 'f', activationThreshold: 0.1, retentionThreshold: 0.1, latencyP95Threshold: 100, minCohortSize: 1, evaluationWindowSeconds: 1,
      cohorts: { control: 'control', guarded: ['treatment'] }, rollout: { stages: [{ percent: 5 }, { percent: 100 }] } },
    { featureId: 'plain', activationThreshold: 0.1, retentionThreshold: 0.1, latencyP95Threshold: 100, minCohortSize: 1, evaluationWindowSeconds: 1 },
  ],
}));

describe('rollout admin routes', () => {
  let server: AdminServer | undefined;
  afterEach(async () => server?.stop());

  async function start(auth: boolean) {
    const sent: RolloutSteer[] = [];
    const accepts = (h: string | undefined) => h === `Bearer ${TOKEN}`;
    server = new AdminServer({
      host: '127.0.0.1', port: 0, sources: { metrics: new MetricsRegistry(), probes: [] },
      auth: auth ? { accepts } : undefined,
      routes: [rolloutRoutes({ rules: () => rules, publish: async (s) => { sent.push(s); }, rollouts: () => [], auth: auth ? { accepts } : undefined })],
    });
    await server.start();
    const call = (path: string, body?: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
      fetch(`http://127.0.0.1:${server!.port}${path}`, body === undefined ? { headers } : { method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': 'k1' }, body: JSON.stringify(body) });
    return { sent, call };
  }

  it('accepts an authenticated steering request and appends it with the person and reason', async () => {
    const { sent, call } = await start(true);
    const res = await call('/v1/rollouts/f/cohorts/treatment/pause', { actor: 'ana', reason: 'tickets' });
    expect(res.status).toBe(202);
    expect(sent).toEqual([expect.objectContaining({ kind: 'rollout-steer', steerId: 'manual:k1', feature: 'f', cohort: 'treatment', action: 'pause', actor: 'ana', reason: 'tickets' })]);
    const status = await (await call('/v1/rollouts/f')).json();
    expect(status).toMatchObject({ feature: 'f', stages: [{ percent: 5 }, { percent: 100 }], cohorts: [{ cohort: 'treatment' }] });
  });

  it('refuses what it cannot send, with a code and a reason', async () => {
    const { sent, call } = await start(true);
    expect((await call('/v1/rollouts/f/cohorts/treatment/pause', { actor: 'ana', reason: 'x' }, {})).status).toBe(401);
    const bad = await call('/v1/rollouts/f/cohorts/treatment/pause', { actor: 'ana' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'ERR_BAD_REQUEST', message: expect.stringContaining('reason') });
    expect((await call('/v1/rollouts/plain/cohorts/treatment/pause', { actor: 'a', reason: 'b' })).status).toBe(404);
    expect((await call('/v1/rollouts/f/cohorts/control/abort', { actor: 'a', reason: 'b' })).status).toBe(404);
    expect((await call('/v1/rollouts/f/cohorts/treatment/pause')).status).toBe(405);
    expect(sent).toEqual([]);
  });

  it('never changes a rollout without a configured token', async () => {
    const { sent, call } = await start(false);
    const res = await call('/v1/rollouts/f/cohorts/treatment/abort', { actor: 'a', reason: 'b' }, {});
    expect(res.status).toBe(403);
    expect((await res.json()).error).toBe('ERR_FORBIDDEN');
    expect(sent).toEqual([]);
  });
});
