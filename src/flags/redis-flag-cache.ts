// Writes the Redis cache applications read (key names: redis-keys.ts). Writes go
// through one Lua script that only moves a feature's version forward, so an outbox retry, a
// second relay or a start-up reconcile can never put an older state over a newer one.

import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { PmfError } from '../core/errors.js';
import type { FlagState } from '../events/flag-command.js';
import { flagChannel, flagKey } from './redis-keys.js';

export type RedisFlagClient = Redis | Cluster;


// Validates everything before the first write: a Lua error does not undo writes made before it.
// KEYS[1] flag hash; ARGV: channel, feature, version, then cohort/state pairs.
export const WRITE_FEATURE_LUA = `
local key = KEYS[1]
local channel, feature, version = ARGV[1], ARGV[2], tonumber(ARGV[3])
if feature == nil or feature == '' then
  return redis.error_reply('ERR pmf: feature must not be empty')
end
if version == nil or version < 1 or version ~= math.floor(version) then
  return redis.error_reply('ERR pmf: version must be a positive integer')
end
if (#ARGV - 3) % 2 ~= 0 then
  return redis.error_reply('ERR pmf: cohort and state arguments must come in pairs')
end
local fields = { 'version', ARGV[3] }
for i = 4, #ARGV, 2 do
  local cohort, state = ARGV[i], ARGV[i + 1]
  if cohort == '' or cohort == 'version' then
    return redis.error_reply('ERR pmf: invalid cohort name')
  end
  if state ~= 'on' and state ~= 'off' then
    return redis.error_reply('ERR pmf: state must be on or off')
  end
  fields[#fields + 1] = cohort
  fields[#fields + 1] = state
end
local stored = redis.call('HGET', key, 'version')
if stored then
  local current = tonumber(stored)
  if current == nil then
    return redis.error_reply('ERR pmf: stored version is not a number')
  end
  if current >= version then
    return 0
  end
end
-- Every write is a full snapshot: replacing the hash drops cohorts a diverged copy had extra.
redis.call('DEL', key)
redis.call('HSET', key, unpack(fields))
redis.call('PUBLISH', channel, feature)
return 1
`;
const WRITE_FEATURE_SHA = createHash('sha1').update(WRITE_FEATURE_LUA).digest('hex');

// Replies that mean "Redis is there but cannot serve this now": worth retrying.
const RETRYABLE_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|MOVED|ASK)\b/;

export interface RedisFlagCacheOptions {
  /** Prepended to the key and channel. Only for tests, so parallel tests do not collide. */
  keyPrefix?: string;
}

export interface CachedFeature {
  version: number;
  cohorts: Record<string, FlagState>;
}

export class RedisFlagCache {
  private readonly keyPrefix: string;

  constructor(private readonly redis: RedisFlagClient, options: RedisFlagCacheOptions = {}) {
    this.keyPrefix = options.keyPrefix ?? '';
  }

  get channel(): string {
    return flagChannel(this.keyPrefix);
  }

  key(feature: string): string {
    return flagKey(feature, this.keyPrefix);
  }

  /**
   * Writes a feature's full snapshot if `version` is newer than the stored one, then publishes
   * the change notice. Returns true if written, false if Redis already had this version or newer.
   */
  async writeFeature(feature: string, version: number, cohorts: Record<string, FlagState>): Promise<boolean> {
    const args = [this.channel, feature, String(version)];
    if (feature.length === 0) throw invalid('feature must not be empty');
    if (!Number.isSafeInteger(version) || version < 1) throw invalid(`version must be a positive integer, got ${version}`);
    for (const [cohort, state] of Object.entries(cohorts)) {
      if (cohort === '' || cohort === 'version') throw invalid(`invalid cohort name ${JSON.stringify(cohort)}`);
      if (state !== 'on' && state !== 'off') throw invalid(`cohort ${cohort}: state must be on or off, got ${JSON.stringify(state)}`);
      args.push(cohort, state);
    }
    const key = this.key(feature);
    let reply: unknown;
    try {
      reply = await this.redis.evalsha(WRITE_FEATURE_SHA, 1, key, ...args);
    } catch (err) {
      if (!/NOSCRIPT/.test(errorText(err))) throw cacheError(err, `writing flag ${feature} v${version}`);
      // First use on this node (or after SCRIPT FLUSH): EVAL also caches the script for next time.
      try {
        reply = await this.redis.eval(WRITE_FEATURE_LUA, 1, key, ...args);
      } catch (evalErr) {
        throw cacheError(evalErr, `writing flag ${feature} v${version}`);
      }
    }
    return Number(reply) === 1;
  }

  /** The cached state of a feature, or null if Redis has none. */
  async readFeature(feature: string): Promise<CachedFeature | null> {
    let hash: Record<string, string>;
    try {
      hash = await this.redis.hgetall(this.key(feature));
    } catch (err) {
      throw cacheError(err, `reading flag ${feature}`);
    }
    if (hash.version === undefined) return null;
    const entries = Object.entries(hash).filter(([field]) => field !== 'version') as [string, FlagState][];
    return { version: Number(hash.version), cohorts: Object.fromEntries(entries) };
  }
}

function invalid(message: string): PmfError {
  return new PmfError('ERR_INTERNAL', `refusing to write flag to Redis: ${message}`);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function cacheError(err: unknown, what: string): PmfError {
  const message = errorText(err);
  const replied = err instanceof Error && err.name === 'ReplyError';
  const retryable = !replied || RETRYABLE_REPLY.test(message);
  return new PmfError(retryable ? 'ERR_CACHE_UNAVAILABLE' : 'ERR_INTERNAL', `Redis error while ${what}: ${message}`, { retryable, cause: err });
}
