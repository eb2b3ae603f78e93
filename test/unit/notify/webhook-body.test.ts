import { describe, expect, it } from 'vitest';
import { notificationsFor, renderBody } from '../../../src/notify/webhook-body.js';
import { signBody, verifySignature } from '../../../src/notify/webhook-signature.js';
import { verdict } from '../../helpers/verdict-fixture.js';

describe('webhook bodies', () => {
  it('announces a change of outcome, a rollback and a hold, each with its own stable idempotency key', () => {
    const fail = verdict({ id: 'v1', at: 0, outcome: 'fail', reason: 'fail: latency' });
    expect(notificationsFor(fail, 'pending', true).map((n) => [n.kind, n.idempotencyKey])).toEqual([
      ['outcome-changed', 'outcome-changed:v1'],
      ['rollback', 'rollback:v1'],
    ]);
    expect(notificationsFor(verdict({ id: 'v2', at: 0, outcome: 'inconclusive' }), 'pending', false).map((n) => n.kind)).toEqual(['outcome-changed', 'hold']);
    expect(notificationsFor(verdict({ id: 'v3', at: 0, outcome: 'pending' }), 'pending', false)).toEqual([]);
  });

  it('renders the generic JSON and a Slack-compatible message', () => {
    const [n] = notificationsFor(verdict({ id: 'v1', at: 0, outcome: 'fail', reason: 'fail: latency P95 above 200 ms' }), 'pending', false);
    const json = JSON.parse(renderBody(n, 'json'));
    expect(json).toMatchObject({ type: 'outcome-changed', feature: 'f', cohort: 'treatment', outcome: 'fail', previousOutcome: 'pending', idempotencyKey: 'outcome-changed:v1' });
    const slack = JSON.parse(renderBody(n, 'slack'));
    expect(slack.text).toBe('pmf-guard: f/treatment verdict changed (pending → fail): fail: latency P95 above 200 ms');
    expect(slack.blocks[1].fields.map((f: { text: string }) => f.text)).toContain('*latencyP95* pending: 180 [170, 190] vs 200, n=10');
  });
});

describe('webhook signatures', () => {
  it('verifies its own signature within the tolerance, and nothing else', () => {
    const sig = signBody('k'.repeat(32), 1000, '{"a":1}');
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    const ok = (s: string | undefined, ts: string, body: string, now: number) => verifySignature('k'.repeat(32), { signature: s, timestamp: ts }, body, now);
    expect(ok(sig, '1000', '{"a":1}', 1100)).toBe(true);
    expect(ok(sig, '1000', '{"a":2}', 1100)).toBe(false);
    expect(ok(sig, '1001', '{"a":1}', 1100)).toBe(false);
    expect(ok(sig, '1000', '{"a":1}', 2000)).toBe(false);
    expect(ok(undefined, '1000', '{"a":1}', 1000)).toBe(false);
  });
});
