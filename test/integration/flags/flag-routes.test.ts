// The admin API's flag routes over real HTTP, on the real admin server, PostgreSQL and Redis:
// bearer auth, pin / unpin with an expiry, manual rollback / restore through the command path,
// and the audit log with verdict evidence.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BearerAuth } from '../../../src/core/bearer-auth.js';
import { AdminServer } from '../../../src/admin/admin-server.js';
import { flagRoutes } from '../../../src/admin/flag-routes.js';
import { MetricsRegistry } from '../../../src/admin/metrics-registry.js';
import { systemClock } from '../../../src/core/clock.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { countRows, rollback, type MigratedStore } from './flag-store-fixture.js';
import { openFlagStack, type FlagStack } from './flag-stack.js';
import { silentLogger } from '../../../src/core/logger.js';

const TOKEN = 's3cret-admin-token';

describe('admin flag routes', () => {
  let stack: FlagStack;
  let store: MigratedStore;
  let repo: FlagRepository;
  let writer: FlagWriter;
  let cache: RedisFlagCache;
  let servers: AdminServer[];

  const serve = async (token: string | undefined) => {
    const server = new AdminServer({
      host: '127.0.0.1',
      port: 0,
      sources: { metrics: new MetricsRegistry(), probes: [], getFlag: (f) => repo.getFlag(f) },
      routes: [flagRoutes({ writer, reader: repo, auth: token === undefined ? undefined : new BearerAuth([token]) })],
    });
    await server.start();
    servers.push(server);
    return `http://127.0.0.1:${server.port}`;
  };
  const call = async (base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
  };

  beforeEach(async () => {
    stack = await openFlagStack();
    ({ store, repo, cache } = stack);
    const relay = new OutboxRelay({ logger: silentLogger, repository: repo, cache, clock: systemClock, pollIntervalMs: 0, reconcileIntervalMs: 0 });
    writer = new FlagWriter({ logger: silentLogger, repository: repo, relay, clock: systemClock, pinSweepIntervalMs: 0 });
    await writer.start();
    await writer.ensureGuarded('feat', ['treatment', 'beta']);
    servers = [];
  });
  afterEach(async () => {
    for (const s of servers) await s.stop();
    await writer.stop();
    await stack.close();
  });

  it('refuses every flag route without the right bearer token, and every change when no token is set', async () => {
    const base = await serve(TOKEN);
    const routes: [string, string][] = [
      ['POST', '/v1/flags/feat/cohorts/treatment/pin'],
      ['DELETE', '/v1/flags/feat/cohorts/treatment/pin'],
      ['POST', '/v1/flags/feat/cohorts/treatment/rollback'],
      ['POST', '/v1/flags/feat/cohorts/treatment/restore'],
      ['GET', '/v1/flags/feat/audit'],
    ];
    for (const [method, path] of routes) {
      for (const auth of [undefined, 'Bearer wrong', `Basic ${TOKEN}`, 'Bearer ']) {
        const res = await fetch(`${base}${path}`, { method, headers: auth ? { authorization: auth } : {} });
        expect(res.status, `${method} ${path} with ${auth}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
    }
    const open = await serve(undefined);
    const read = await fetch(`${open}/v1/flags/feat/audit`);
    expect(read.status).toBe(200);
    const change = await call(open, 'POST', '/v1/flags/feat/cohorts/treatment/rollback', { actor: 'eve', reason: 'x' });
    expect(change).toMatchObject({ status: 403, body: { error: 'ERR_FORBIDDEN' } });
    expect(await countRows(store.sql, store.schema, 'applied_commands')).toBe(0);
    // The admin server's own routes are untouched.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/v1/flags/feat`)).status).toBe(200);
  });

  it('pins, holds an automatic rollback, refuses a manual one, and releases the held one on unpin', async () => {
    const base = await serve(TOKEN);
    const pinned = await call(base, 'POST', '/v1/flags/feat/cohorts/treatment/pin', { state: 'on', ttlSeconds: 3600, actor: 'bob', reason: 'partner demo' });
    expect(pinned.status).toBe(200);
    expect(pinned.body.result).toEqual({ status: 'applied', version: 1 });
    expect(pinned.body.flag.cohorts.treatment).toMatchObject({ state: 'on', pinnedState: 'on', pinnedBy: 'bob' });
    expect(Date.parse(pinned.body.flag.cohorts.treatment.pinnedUntil) - Date.now()).toBeGreaterThan(3_500_000);

    const auto = rollback('feat', 'treatment');
    await expect(writer.apply(auto)).resolves.toMatchObject({ status: 'skipped_pinned' });
    const manual = await call(base, 'POST', '/v1/flags/feat/cohorts/treatment/rollback', { actor: 'dave', reason: 'looks bad' });
    expect(manual).toMatchObject({ status: 409, body: { error: 'ERR_PINNED', result: { status: 'skipped_pinned' } } });
    expect(manual.body.message).toMatch(/^cohort is pinned on until .* by bob: unpin it first$/);
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 1, cohorts: { treatment: 'on', beta: 'on' } });

    const unpinned = await call(base, 'DELETE', '/v1/flags/feat/cohorts/treatment/pin', { actor: 'carol', reason: 'demo over' });
    expect(unpinned.status).toBe(200);
    expect(unpinned.body.result).toEqual({ status: 'applied', version: 2, released: auto.commandId });
    expect(unpinned.body.flag.cohorts.treatment.state).toBe('off');
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 2, cohorts: { treatment: 'off', beta: 'on' } });

    const audit = await call(base, 'GET', '/v1/flags/feat/audit?cohort=treatment');
    expect(audit.status).toBe(200);
    expect(audit.body.entries.map((e: any) => [e.action, e.outcome, e.actor ?? e.source])).toEqual([
      ['rollback', 'applied', 'verdict'],
      ['unpin', 'applied', 'carol'],
      ['rollback', 'skipped_pinned', 'dave'],
      ['rollback', 'skipped_pinned', 'verdict'],
      ['pin', 'applied', 'bob'],
      ['register', 'applied', 'rules'],
    ]);
    // The automatic change carries its verdict as evidence, in both of its entries.
    expect(audit.body.entries[0].evidence).toEqual(auto.evidence);
    expect(audit.body.entries[3].evidence).toEqual(auto.evidence);
  });

  it('rolls back and restores by hand through the command path, once per Idempotency-Key', async () => {
    const base = await serve(TOKEN);
    const headers = { 'idempotency-key': 'incident-42-rollback' };
    const first = await call(base, 'POST', '/v1/flags/feat/cohorts/beta/rollback', { actor: 'alice', reason: 'checkout errors' }, headers);
    expect(first).toMatchObject({ status: 200, body: { commandId: 'manual:incident-42-rollback', result: { status: 'applied', version: 2 } } });
    const again = await call(base, 'POST', '/v1/flags/feat/cohorts/beta/rollback', { actor: 'alice', reason: 'checkout errors' }, headers);
    expect(again).toMatchObject({ status: 200, body: { result: { status: 'duplicate', version: 2 } } });
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 2, cohorts: { treatment: 'on', beta: 'off' } });

    const restored = await call(base, 'POST', '/v1/flags/feat/cohorts/beta/restore', { actor: 'alice', reason: 'fixed' });
    expect(restored.body.result).toEqual({ status: 'applied', version: 3 });
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 3, cohorts: { treatment: 'on', beta: 'on' } });

    const [latest, rolled] = await repo.auditLog('feat', 2);
    expect(latest).toMatchObject({ action: 'restore', source: 'manual', actor: 'alice', reason: 'fixed', outcome: 'applied', evidence: null });
    expect(rolled).toMatchObject({ commandId: 'manual:incident-42-rollback', action: 'rollback', actor: 'alice' });
    expect(await countRows(store.sql, store.schema, 'applied_commands')).toBe(2);
  });

  it('answers bad requests with what is wrong', async () => {
    const base = await serve(TOKEN);
    const pin = '/v1/flags/feat/cohorts/treatment/pin';
    const noPerson = await call(base, 'POST', pin, { state: 'on', ttlSeconds: 60 });
    expect(noPerson.status).toBe(400);
    expect(noPerson.body.message).toMatch(/actor: .*; reason: /);
    expect((await call(base, 'POST', pin, { state: 'on', actor: 'a', reason: 'r' })).body.message).toMatch(/exactly one of until/);
    expect((await call(base, 'POST', pin, { state: 'on', until: '2001-01-01T00:00:00Z', actor: 'a', reason: 'r' })).body.message).toMatch(/not in the future/);
    expect((await call(base, 'POST', pin, { state: 'on', ttlSeconds: 400 * 86_400, actor: 'a', reason: 'r' })).body.message).toMatch(/at most/);
    expect((await call(base, 'POST', pin, { state: 'maybe', ttlSeconds: 60, actor: 'a', reason: 'r' })).status).toBe(400);
    expect((await call(base, 'POST', pin, { state: 'on', ttlSeconds: 60, actor: 'a', reason: 'r', extra: 1 })).body.message).toMatch(/unknown key/);
    expect((await call(base, 'POST', pin, '{not json')).status).toBe(400);
    expect((await call(base, 'POST', pin, { state: 'on', ttlSeconds: 60, actor: 'a', reason: 'x'.repeat(20_000) })).status).toBe(413);
    expect((await call(base, 'POST', '/v1/flags/feat/cohorts/nope/pin', { state: 'on', ttlSeconds: 60, actor: 'a', reason: 'r' })).status).toBe(404);
    expect((await call(base, 'POST', '/v1/flags/feat/cohorts/nope/rollback', { actor: 'a', reason: 'r' })).status).toBe(404);
    expect((await call(base, 'POST', '/v1/flags/unknown/cohorts/treatment/restore', { actor: 'a', reason: 'r' })).status).toBe(404);
    expect((await call(base, 'GET', '/v1/flags/unknown/audit')).status).toBe(404);
    expect((await call(base, 'GET', '/v1/flags/feat/audit?limit=0')).status).toBe(400);
    const wrongMethod = await call(base, 'GET', '/v1/flags/feat/cohorts/treatment/rollback');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(await countRows(store.sql, store.schema, 'applied_commands')).toBe(0);
    expect(await repo.getFlag('unknown')).toBeNull();
  });

  it('pages the audit log with nextBefore', async () => {
    const base = await serve(TOKEN);
    for (let i = 0; i < 3; i++) {
      await call(base, 'POST', '/v1/flags/feat/cohorts/beta/rollback', { actor: 'a', reason: `r${i}` });
      await call(base, 'POST', '/v1/flags/feat/cohorts/beta/restore', { actor: 'a', reason: `s${i}` });
    }
    const page1 = await call(base, 'GET', '/v1/flags/feat/audit?limit=5');
    expect(page1.body.entries).toHaveLength(5);
    const page2 = await call(base, 'GET', `/v1/flags/feat/audit?limit=5&before=${page1.body.nextBefore}`);
    expect(page2.body.entries).toHaveLength(3);
    expect(page2.body.nextBefore).toBeUndefined();
    expect(new Set([...page1.body.entries, ...page2.body.entries].map((e: any) => e.id)).size).toBe(8);
  });
});
