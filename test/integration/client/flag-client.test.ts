// The application-side flag client against a real Redis written by pmf-guard's own script:
// reads, change notices, never going back a version, serving the last known state while Redis
// is down (a redis-server this test owns and kills), and recording evaluations on spans that
// pmf-guard's receiver maps back to the same feature, cohort and user (closing the loop).

import { trace } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FlagClient, type FlagEvaluation } from '../../../src/client/flag-client.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { mapTraces } from '../../../src/receiver/mapping/feature-mapper.js';
import { createProtobufDecoder } from '../../../src/receiver/decode/otlp-decoder.js';
import { OwnRedis } from '../../helpers/flags/own-redis.js';
import { waitFor } from '../../helpers/services.js';
import { deleteKeys, redisClient, uniquePrefix } from '../flags/redis-fixture.js';

describe('FlagClient on a real Redis', () => {
  let redis: Redis;
  let prefix: string;
  let cache: RedisFlagCache;
  const clients: FlagClient[] = [];
  const newClient = (extra: Partial<ConstructorParameters<typeof FlagClient>[0]> = {}) => {
    const c = new FlagClient({ redis: redisClient(), keyPrefix: prefix, refreshIntervalMs: 0, ...extra });
    clients.push(c);
    return c;
  };

  beforeEach(() => {
    redis = redisClient();
    prefix = uniquePrefix();
    cache = new RedisFlagCache(redis, { keyPrefix: prefix });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.stop();
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  it('uses the key and channel of the contract', () => {
    const client = new FlagClient({ redis, keyPrefix: prefix });
    expect(client.key('feat')).toBe(cache.key('feat'));
    expect(client.channel).toBe(cache.channel);
    expect(new FlagClient({ redis }).key('feat_smart_recs_v1')).toBe('pmf:flag:{feat_smart_recs_v1}');
  });

  it('answers per cohort, with defaults for what pmf-guard does not know', async () => {
    await cache.writeFeature('feat', 3, { treatment: 'off', beta: 'on' });
    const client = newClient();
    await client.start();
    await expect(client.evaluate('feat', { cohort: 'treatment' })).resolves.toEqual({ feature: 'feat', cohort: 'treatment', enabled: false, version: 3, reason: 'TARGETING_MATCH' });
    await expect(client.isEnabled('feat', { cohort: 'beta' })).resolves.toBe(true);
    await expect(client.evaluate('feat', { cohort: 'control' })).resolves.toMatchObject({ enabled: false, version: 3, reason: 'DEFAULT' });
    await expect(client.evaluate('feat', { cohort: 'control' }, true)).resolves.toMatchObject({ enabled: true, reason: 'DEFAULT' });
    await expect(client.evaluate('missing', { cohort: 'treatment' })).resolves.toMatchObject({ enabled: false, version: 0, reason: 'DEFAULT' });
  });

  it('follows change notices, tells listeners, and never moves back to an older or emptied hash', async () => {
    await cache.writeFeature('feat', 1, { treatment: 'on' });
    const client = newClient({ features: ['feat'] });
    const changes: [string, number][] = [];
    client.onChange((f, v) => changes.push([f, v]));
    await client.start();
    expect(client.snapshot('feat')).toEqual({ version: 1, cohorts: { treatment: 'on' } });

    await cache.writeFeature('feat', 5, { treatment: 'off' });
    await waitFor(() => client.snapshot('feat')?.version === 5, { message: 'client saw v5' });
    await expect(client.isEnabled('feat', { cohort: 'treatment' })).resolves.toBe(false);

    // Something (not pmf-guard) puts an older version there, then the hash vanishes (Redis restarted empty).
    await redis.hset(cache.key('feat'), 'version', '4', 'treatment', 'on');
    await redis.publish(cache.channel, 'feat');
    await redis.del(cache.key('feat'));
    await redis.publish(cache.channel, 'feat');
    await cache.writeFeature('marker', 1, { a: 'on' }); // tracked by nobody: must not be loaded
    await cache.writeFeature('feat', 6, { treatment: 'off' });
    await waitFor(() => client.snapshot('feat')?.version === 6, { message: 'client saw v6' });
    expect(changes).toEqual([
      ['feat', 1],
      ['feat', 5],
      ['feat', 6],
    ]);
    expect(client.snapshot('marker')).toBeUndefined();
  });

  it('does not lose a notice that arrives while a read of the feature is in flight', async () => {
    await cache.writeFeature('feat', 1, { treatment: 'on' });
    // The client's own connection, with each read's answer held until the test lets it go: the
    // read has already left, so it answers with what Redis held before the change announced next.
    const own = redisClient();
    const realHgetall = own.hgetall.bind(own);
    const gates: (() => void)[] = [];
    let holding = false;
    own.hgetall = (async (key: string) => {
      const answer = await realHgetall(key);
      if (holding) await new Promise<void>((release) => gates.push(release));
      return answer;
    }) as typeof own.hgetall;
    const client = newClient({ redis: own, features: ['feat'] });
    await client.start();
    expect(client.snapshot('feat')?.version).toBe(1);

    holding = true;
    await redis.publish(cache.channel, 'feat'); // a read starts and answers v1, held
    await waitFor(() => gates.length === 1, { message: 'first read held' });
    await cache.writeFeature('feat', 2, { treatment: 'off' }); // its notice lands while that read is out
    await new Promise((r) => setTimeout(r, 200)); // the notice's delivery; nothing observable to wait on
    holding = false;
    gates.splice(0).forEach((release) => release());
    await waitFor(() => client.snapshot('feat')?.version === 2, { timeoutMs: 10_000, message: 'client saw v2 after the held read' });
    await client.stop();
    await own.quit();
  });

  it('re-reads known features on its refresh interval, for notices that were lost', async () => {
    const clock = new (await import('../../../src/core/clock.js')).ManualClock(0);
    await cache.writeFeature('feat', 1, { treatment: 'on' });
    const client = newClient({ features: ['feat'], refreshIntervalMs: 1_000, clock });
    await client.start();
    await redis.hset(cache.key('feat'), 'version', '2', 'treatment', 'off'); // changed without a notice
    await waitFor(
      () => {
        clock.advance(1_000);
        return client.snapshot('feat')?.version === 2;
      },
      { message: 'refresh picked up v2' },
    );
  });
});

describe('FlagClient while its Redis is down', () => {
  let own: OwnRedis;
  beforeAll(async () => {
    own = await OwnRedis.start();
  });
  afterAll(async () => {
    await own.dispose();
  });

  it('serves the last known state as STALE, answers unknown features with ERROR, and catches up when Redis returns', async () => {
    const writer = own.client();
    await waitFor(() => writer.status === 'ready', { message: 'writer connected' });
    const cache = new RedisFlagCache(writer);
    await cache.writeFeature('feat', 2, { treatment: 'off', beta: 'on' });
    const errors: unknown[] = [];
    const client = new FlagClient({ redis: own.url, features: ['feat'], refreshIntervalMs: 0, onError: (e) => errors.push(e) });
    await client.start();
    try {
      await expect(client.evaluate('feat', { cohort: 'beta' })).resolves.toMatchObject({ enabled: true, reason: 'TARGETING_MATCH' });

      await own.down();
      await waitFor(() => errors.length > 0, { message: 'client noticed the outage' });
      const during = await client.evaluate('feat', { cohort: 'treatment' });
      expect(during).toEqual({ feature: 'feat', cohort: 'treatment', enabled: false, version: 2, reason: 'STALE' });
      await expect(client.evaluate('never-seen', { cohort: 'treatment' }, true)).resolves.toMatchObject({ enabled: true, version: 0, reason: 'ERROR' });
      expect(errors).toHaveLength(1); // once per outage, not per call

      await own.up(); // empty: no persistence
      await waitFor(async () => (await writer.ping().catch(() => '')) === 'PONG', { message: 'writer reconnected' });
      await cache.writeFeature('feat', 3, { treatment: 'on', beta: 'on' });
      await waitFor(async () => (await client.evaluate('feat', { cohort: 'treatment' })).reason === 'TARGETING_MATCH', { timeoutMs: 20_000, message: 'client back on fresh data' });
      await expect(client.evaluate('feat', { cohort: 'treatment' })).resolves.toMatchObject({ enabled: true, version: 3 });
    } finally {
      await client.stop();
      writer.disconnect();
    }
  }, 60_000);
});

describe('FlagClient evaluations on spans', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let redis: Redis;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    provider.register();
    redis = redisClient();
    await new RedisFlagCache(redis, { keyPrefix: prefix }).writeFeature('feat_smart_recs_v1', 7, { treatment: 'off', control: 'on' });
  });
  afterAll(async () => {
    await provider.shutdown();
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  it('records feature_flag.* span events that pmf-guard maps back to feature, cohort and user', async () => {
    exporter.reset();
    const client = new FlagClient({ redis, keyPrefix: prefix, refreshIntervalMs: 0 });
    await client.start();
    let evaluation: FlagEvaluation | undefined;
    await trace.getTracer('app').startActiveSpan('GET /dashboard', async (span) => {
      evaluation = await client.evaluate('feat_smart_recs_v1', { cohort: 'treatment', userId: 'user-42' });
      span.end();
    });
    await client.evaluate('feat_smart_recs_v1', { cohort: 'treatment', userId: 'no-span' }); // no active span: nothing recorded
    await client.stop();

    const [span] = exporter.getFinishedSpans();
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    expect(span.events.map((e) => [e.name, e.attributes])).toEqual([
      [
        'feature_flag.evaluation',
        {
          'feature_flag.key': 'feat_smart_recs_v1',
          'feature_flag.result.variant': 'treatment',
          'feature_flag.result.value': false,
          'feature_flag.result.reason': 'targeting_match',
          'feature_flag.provider.name': 'pmf-guard',
          'feature_flag.version': '7',
          'feature_flag.context.id': 'user-42',
        },
      ],
    ]);
    expect(evaluation).toMatchObject({ enabled: false, version: 7 });

    // The loop: the span as an exporter sends it, through pmf-guard's own decoder and mapper.
    const request = createProtobufDecoder().decodeTraces(ProtobufTraceSerializer.serializeRequest([span])!);
    const mapped = mapTraces(request, { attributeKeys: new Set(), now: Date.now(), pseudonymize: (id) => `pseudo(${id})` });
    expect(mapped.rejected).toBe(0);
    expect(mapped.events).toHaveLength(1);
    expect(mapped.events[0]).toMatchObject({ user: 'pseudo(user-42)', name: 'GET /dashboard', flags: [{ feature: 'feat_smart_recs_v1', variant: 'treatment' }] });
  });

  it('can also set the attributes on the span, or record nothing', async () => {
    exporter.reset();
    const withAttributes = new FlagClient({ redis, keyPrefix: prefix, refreshIntervalMs: 0, record: { spanAttributes: true, spanEvent: false } });
    const silent = new FlagClient({ redis, keyPrefix: prefix, refreshIntervalMs: 0, record: false });
    await trace.getTracer('app').startActiveSpan('checkout', async (span) => {
      await withAttributes.evaluate('feat_smart_recs_v1', { cohort: 'control', userId: 'u1' });
      await silent.evaluate('feat_smart_recs_v1', { cohort: 'treatment', userId: 'u2' });
      span.end();
    });
    await withAttributes.stop();
    await silent.stop();
    const [span] = exporter.getFinishedSpans();
    expect(span.events).toEqual([]);
    expect(span.attributes).toMatchObject({ 'feature_flag.key': 'feat_smart_recs_v1', 'feature_flag.result.variant': 'control', 'feature_flag.result.value': true, 'feature_flag.context.id': 'u1' });
  });
});
