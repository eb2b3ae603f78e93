// A cohort in a rollout, read from a real Redis written by pmf-guard's own script: the flag client
// and the OpenFeature provider put each user inside or outside the allocation by the documented
// hash, keep every user inside as the percentage rises, serve the control outside it, and record
// on the span which variant was served, so pmf-guard's receiver counts the user where they were.

import { OpenFeature } from '@openfeature/server-sdk';
import { trace } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketOf } from '../../../src/client/allocation.js';
import { FlagClient } from '../../../src/client/flag-client.js';
import { PmfGuardProvider } from '../../../src/client/openfeature-provider.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { createProtobufDecoder } from '../../../src/receiver/decode/otlp-decoder.js';
import { mapTraces } from '../../../src/receiver/mapping/feature-mapper.js';
import { waitFor } from '../../helpers/services.js';
import { deleteKeys, redisClient, uniquePrefix } from '../flags/redis-fixture.js';

const USERS = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
const control = { salt: 's1', control: 'control' };

describe('a cohort in a rollout, through the flag client', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let redis: Redis;
  let cache: RedisFlagCache;
  let client: FlagClient;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    provider.register();
    redis = redisClient();
    cache = new RedisFlagCache(redis, { keyPrefix: prefix });
    await cache.writeFeature('feat', 2, { treatment: 'on' }, { treatment: { percent: 10, ...control } });
    client = new FlagClient({ redis: redisClient(), keyPrefix: prefix, refreshIntervalMs: 0, record: false });
    await client.start();
  });
  afterAll(async () => {
    await client.stop();
    await OpenFeature.close();
    await provider.shutdown();
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  const inside = async () => {
    const set = new Set<string>();
    for (const u of USERS) if ((await client.evaluate('feat', { cohort: 'treatment', userId: u })).allocation?.included) set.add(u);
    return set;
  };

  it('writes the allocation fields next to the state, in one hash at one version', async () => {
    expect(await redis.hgetall(cache.key('feat'))).toEqual({ version: '2', treatment: 'on', 'allocation:treatment': '10', 'salt:treatment': 's1', 'control:treatment': 'control' });
    expect(await cache.readFeature('feat')).toEqual({ version: 2, cohorts: { treatment: 'on' }, allocations: { treatment: { percent: 10, ...control } } });
  });

  it('serves the cohort inside the allocation and the control outside, by the documented bucket', async () => {
    const e1 = await client.evaluate('feat', { cohort: 'treatment', userId: 'user-1' });
    const bucket = bucketOf('feat', 's1', 'user-1');
    expect(e1.allocation).toEqual({ cohort: 'treatment', percent: 10, bucket, included: bucket < 1000 });
    const first = await inside();
    expect(Math.abs(first.size - 200)).toBeLessThan(60); // 10 % of 2000, well within binomial noise
    for (const u of USERS.slice(0, 50)) {
      const e = await client.evaluate('feat', { cohort: 'treatment', userId: u });
      if (first.has(u)) expect(e).toMatchObject({ cohort: 'treatment', enabled: true, reason: 'TARGETING_MATCH' });
      else expect(e).toMatchObject({ cohort: 'control', enabled: false, reason: 'SPLIT' });
    }
    // No user id: nothing sticky to bucket on, so the control.
    expect(await client.evaluate('feat', { cohort: 'treatment' })).toMatchObject({ cohort: 'control', enabled: false, allocation: { included: false } });
    // The control itself is not in a rollout: as before.
    expect(await client.evaluate('feat', { cohort: 'control', userId: 'user-1' })).toMatchObject({ cohort: 'control', reason: 'DEFAULT' });

    // Raising 10 % to 25 % keeps every user who was inside.
    await cache.writeFeature('feat', 3, { treatment: 'on' }, { treatment: { percent: 25, ...control } });
    await waitFor(() => client.snapshot('feat')?.version === 3, { message: 'client saw v3' });
    const second = await inside();
    for (const u of first) expect(second.has(u)).toBe(true);
    expect(second.size).toBeGreaterThan(first.size);

    // A rollback: off and allocation 0 at one version; everyone is served the control.
    await cache.writeFeature('feat', 4, { treatment: 'off' }, { treatment: { percent: 0, ...control } });
    await waitFor(() => client.snapshot('feat')?.version === 4, { message: 'client saw v4' });
    expect((await inside()).size).toBe(0);
    await cache.writeFeature('feat', 5, { treatment: 'on' }, { treatment: { percent: 10, ...control } });
    await waitFor(() => client.snapshot('feat')?.version === 5, { message: 'client saw v5' });
  });

  it('records the served variant and the allocation on the span, and the receiver counts the user as control', async () => {
    exporter.reset();
    const recording = new FlagClient({ redis: redisClient(), keyPrefix: prefix, refreshIntervalMs: 0 });
    await recording.start();
    const outsider = USERS.find((u) => bucketOf('feat', 's1', u) >= 1000)!;
    await trace.getTracer('app').startActiveSpan('GET /dashboard', async (span) => {
      await recording.evaluate('feat', { cohort: 'treatment', userId: outsider });
      span.end();
    });
    await recording.stop();
    const [span] = exporter.getFinishedSpans();
    expect(span.events[0].attributes).toMatchObject({
      'feature_flag.key': 'feat',
      'feature_flag.result.variant': 'control',
      'feature_flag.result.value': false,
      'feature_flag.result.reason': 'split',
      'pmf_guard.allocation.cohort': 'treatment',
      'pmf_guard.allocation.percent': 10,
      'pmf_guard.allocation.included': false,
      'pmf_guard.allocation.bucket': bucketOf('feat', 's1', outsider),
    });
    const request = createProtobufDecoder().decodeTraces(ProtobufTraceSerializer.serializeRequest([span])!);
    const mapped = mapTraces(request, { attributeKeys: new Set(), now: Date.now(), pseudonymize: (id) => `p(${id})` });
    expect(mapped.events[0].flags).toEqual([{ feature: 'feat', variant: 'control' }]);
  });

  it('answers the OpenFeature provider with the served variant and SPLIT', async () => {
    const domain = `alloc-${prefix}`;
    await OpenFeature.setProviderAndWait(domain, new PmfGuardProvider({ redis: redisClient(), keyPrefix: prefix, refreshIntervalMs: 0, record: false }));
    const of = OpenFeature.getClient(domain);
    const insider = USERS.find((u) => bucketOf('feat', 's1', u) < 1000)!;
    const outsider = USERS.find((u) => bucketOf('feat', 's1', u) >= 1000)!;
    expect(await of.getBooleanDetails('feat', false, { targetingKey: insider, cohort: 'treatment' })).toMatchObject({ value: true, variant: 'treatment', reason: 'TARGETING_MATCH', flagMetadata: { allocationIncluded: true } });
    expect(await of.getBooleanDetails('feat', false, { targetingKey: outsider, cohort: 'treatment' })).toMatchObject({ value: false, variant: 'control', reason: 'SPLIT', flagMetadata: { allocationPercent: 10, allocationIncluded: false } });
  });
});
