// The OpenFeature server provider over a real Redis: boolean flags per cohort through the
// OpenFeature SDK, with variant, reason, version metadata, error codes, and change events.

import { OpenFeature, ProviderEvents, type EventDetails } from '@openfeature/server-sdk';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlagClient } from '../../../src/client/flag-client.js';
import { PmfGuardProvider } from '../../../src/client/openfeature-provider.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { waitFor } from '../../helpers/services.js';
import { deleteKeys, redisClient, uniquePrefix } from '../flags/redis-fixture.js';

describe('PmfGuardProvider through the OpenFeature SDK', () => {
  let redis: Redis;
  let cache: RedisFlagCache;
  const prefix = uniquePrefix();
  const domain = 'pmf-guard-test';

  beforeAll(async () => {
    redis = redisClient();
    cache = new RedisFlagCache(redis, { keyPrefix: prefix });
    await cache.writeFeature('feat', 4, { treatment: 'off', beta: 'on' });
    await OpenFeature.setProviderAndWait(domain, new PmfGuardProvider({ redis: redisClient(), keyPrefix: prefix, refreshIntervalMs: 0 }));
  });
  afterAll(async () => {
    await OpenFeature.close();
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  it('resolves a cohort’s flag with its variant, reason and version', async () => {
    const client = OpenFeature.getClient(domain);
    const details = await client.getBooleanDetails('feat', true, { targetingKey: 'user-1', cohort: 'treatment' });
    expect(details).toMatchObject({ value: false, variant: 'treatment', reason: 'TARGETING_MATCH', flagMetadata: { version: 4 } });
    expect(details.errorCode).toBeUndefined();
    await expect(client.getBooleanValue('feat', false, { targetingKey: 'user-2', cohort: 'beta' })).resolves.toBe(true);
  });

  it('answers the default with an error code when it cannot answer', async () => {
    const client = OpenFeature.getClient(domain);
    await expect(client.getBooleanDetails('feat', true, { targetingKey: 'u' })).resolves.toMatchObject({ value: true, errorCode: 'INVALID_CONTEXT' });
    await expect(client.getBooleanDetails('unknown', true, { cohort: 'treatment' })).resolves.toMatchObject({ value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
    const unguarded = await client.getBooleanDetails('feat', true, { cohort: 'control' });
    expect(unguarded).toMatchObject({ value: true, variant: 'control', reason: 'DEFAULT' });
    expect(unguarded.errorCode).toBeUndefined();
    await expect(client.getStringDetails('feat', 'x', { cohort: 'treatment' })).resolves.toMatchObject({ value: 'x', errorCode: 'TYPE_MISMATCH' });
    await expect(client.getNumberValue('feat', 3, { cohort: 'treatment' })).resolves.toBe(3);
  });

  it('emits ConfigurationChanged when pmf-guard changes a flag', async () => {
    const client = OpenFeature.getClient(domain);
    const changed: EventDetails[] = [];
    client.addHandler(ProviderEvents.ConfigurationChanged, (d) => changed.push(d!));
    await cache.writeFeature('feat', 5, { treatment: 'on', beta: 'on' });
    await waitFor(() => changed.some((d) => (d.flagsChanged as string[] | undefined)?.includes('feat')), { message: 'change event' });
    await expect(client.getBooleanValue('feat', false, { cohort: 'treatment' })).resolves.toBe(true);
  });

  it('leaves a client it was given to its owner', async () => {
    const own = new FlagClient({ redis, keyPrefix: prefix, refreshIntervalMs: 0 });
    await own.start();
    const provider = new PmfGuardProvider(own, { cohortAttribute: 'variant' });
    await provider.initialize();
    await expect(provider.resolveBooleanEvaluation('feat', false, { variant: 'beta' })).resolves.toMatchObject({ value: true, variant: 'beta' });
    await provider.onClose();
    await expect(own.evaluate('feat', { cohort: 'beta' })).resolves.toMatchObject({ enabled: true, reason: 'TARGETING_MATCH' });
    await own.stop();
  });
});
