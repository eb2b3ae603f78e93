// The notifier against real local HTTP receivers: one healthy, one failing for a while; delivery is
// retried with the project's backoff on a manual clock, signed, keyed, and never blocks the caller.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Notifier, type WebhookTarget } from '../../../src/notify/notifier.js';
import { notificationsFor } from '../../../src/notify/webhook-body.js';
import { verifySignature } from '../../../src/notify/webhook-signature.js';
import { verdict } from '../../helpers/verdict-fixture.js';

const KEY = 'test-signing-key-0123456789';

interface Received { headers: IncomingMessage['headers']; body: string }

async function receiver(failFirst = 0): Promise<{ url: string; got: Received[]; attempts: () => number; server: Server }> {
  const got: Received[] = [];
  let attempts = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      attempts++;
      if (attempts <= failFirst) {
        res.writeHead(503).end('busy');
        return;
      }
      got.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, attempts: () => attempts, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function notifier(targets: WebhookTarget[], clock: ManualClock, maxQueue = 100, maxAttempts = 10) {
  return new Notifier({ targets, signingKey: KEY, maxQueue, maxAttempts, timeoutMs: 3_600_000, backoff: { initialMs: 1000, maxMs: 8000 }, clock, logger: silentLogger });
}

/** Lets the HTTP round trips run, advancing the manual clock through the backoff sleeps (the request timeout is far beyond it). */
async function settle(n: Notifier, clock: ManualClock): Promise<void> {
  const idle = n.whenIdle();
  let done = false;
  void idle.then(() => (done = true));
  for (let i = 0; i < 200 && !done; i++) {
    await new Promise((r) => setTimeout(r, 5));
    clock.advance(1000);
  }
  await idle;
}

describe('webhook notifier', () => {
  it('delivers signed JSON with an idempotency key, and Slack bodies to a Slack target', async () => {
    const json = await receiver();
    const slack = await receiver();
    servers.push(json.server, slack.server);
    const clock = new ManualClock(1_700_000_000_000);
    const n = notifier([{ url: json.url, format: 'json' }, { url: slack.url, format: 'slack' }], clock);
    for (const x of notificationsFor(verdict({ id: 'v1', at: 0, outcome: 'fail' }), 'pending', true)) n.notify(x);
    await settle(n, clock);
    expect(json.got.map((g) => g.headers['idempotency-key'])).toEqual(['outcome-changed:v1', 'rollback:v1']);
    for (const g of json.got) {
      expect(verifySignature(KEY, { signature: g.headers['x-pmf-guard-signature'] as string, timestamp: g.headers['x-pmf-guard-timestamp'] as string }, g.body, 1_700_000_000)).toBe(true);
    }
    expect(JSON.parse(slack.got[0].body).text).toMatch(/^pmf-guard: f\/treatment verdict changed/);
    expect(n.stats()).toMatchObject({ delivered: 4, failedAttempts: 0, dropped: 0, queued: 0 });
  });

  it('retries a receiver that fails for a while with backoff, in order, and delivers everything once it recovers', async () => {
    const flaky = await receiver(3);
    servers.push(flaky.server);
    const clock = new ManualClock(0);
    const n = notifier([{ url: flaky.url, format: 'json' }], clock);
    n.notify(notificationsFor(verdict({ id: 'a', at: 0, outcome: 'fail' }), 'pending', false)[0]);
    n.notify(notificationsFor(verdict({ id: 'b', at: 0, outcome: 'pass' }), 'fail', false)[0]);
    await settle(n, clock);
    expect(flaky.attempts()).toBe(5);
    expect(flaky.got.map((g) => g.headers['idempotency-key'])).toEqual(['outcome-changed:a', 'outcome-changed:b']);
    expect(n.stats()).toMatchObject({ delivered: 2, failedAttempts: 3, gaveUp: 0 });
  });

  it('gives up after maxAttempts, counted, and goes on with the next notification', async () => {
    const down = await receiver(1000);
    servers.push(down.server);
    const clock = new ManualClock(0);
    const n = notifier([{ url: down.url, format: 'json' }], clock, 100, 2);
    n.notify(notificationsFor(verdict({ id: 'a', at: 0, outcome: 'fail' }), 'pending', false)[0]);
    await settle(n, clock);
    expect(n.stats()).toMatchObject({ delivered: 0, failedAttempts: 2, gaveUp: 1, queued: 0 });
  });

  it('never blocks the caller: a full queue drops and counts, and targets filter by kind and feature', async () => {
    const slow = await receiver(1000);
    servers.push(slow.server);
    const clock = new ManualClock(0);
    const n = notifier([{ url: slow.url, format: 'json', events: ['rollback'], features: ['f'] }], clock, 2, 1);
    const all = notificationsFor(verdict({ id: 'a', at: 0, outcome: 'fail' }), 'pending', true);
    for (let i = 0; i < 5; i++) for (const x of all) n.notify({ ...x, idempotencyKey: `${x.idempotencyKey}:${i}` });
    n.notify({ ...all[1], feature: 'other' });
    expect(n.stats()).toMatchObject({ queued: 2, dropped: 3 });
    await settle(n, clock);
    await n.stop();
    n.notify(all[1]);
    expect(n.stats().queued).toBe(0);
  });
});
