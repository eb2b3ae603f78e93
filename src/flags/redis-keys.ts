// The Redis key contract between the flag writer and applications (docs/contract.md): one hash
// per feature, `pmf:flag:{<feature>}`, with field `version` and one field per cohort (`on`/`off`),
// and a notice with the feature name on channel `pmf:flags:changed` after each change. The hash
// tag `{<feature>}` keeps each feature on one Redis Cluster slot. Cohorts in a rollout add the
// allocation fields below. Both the writer
// (redis-flag-cache.ts) and the client (src/client/flag-client.ts) build names only here.

export const FLAG_KEY_PREFIX = 'pmf:flag:';

/**
 * Fields of the hash for a cohort in a rollout (docs/rollouts.md): `allocation:<cohort>` holds the
 * percent of the cohort's users served the cohort, `salt:<cohort>` the bucketing salt and
 * `control:<cohort>` the cohort the others are served. No cohort name starts with one of these.
 */
export const ALLOCATION_FIELD = 'allocation:';
export const SALT_FIELD = 'salt:';
export const CONTROL_FIELD = 'control:';
export const FLAG_CHANGE_CHANNEL = 'pmf:flags:changed';

/** The contract key of a feature; keyPrefix is empty outside tests. */
export function flagKey(feature: string, keyPrefix = ''): string {
  return `${keyPrefix}${FLAG_KEY_PREFIX}{${feature}}`;
}

export function flagChannel(keyPrefix = ''): string {
  return `${keyPrefix}${FLAG_CHANGE_CHANNEL}`;
}
