// The Redis key contract between the flag writer and applications (docs/contract.md): one hash
// per feature, `pmf:flag:{<feature>}`, with field `version` and one field per cohort (`on`/`off`),
// and a notice with the feature name on channel `pmf:flags:changed` after each change. The hash
// tag `{<feature>}` keeps each feature on one Redis Cluster slot. Both the writer
// (redis-flag-cache.ts) and the client (src/client/flag-client.ts) build names only here.

export const FLAG_KEY_PREFIX = 'pmf:flag:';
export const FLAG_CHANGE_CHANNEL = 'pmf:flags:changed';

/** The contract key of a feature; keyPrefix is empty outside tests. */
export function flagKey(feature: string, keyPrefix = ''): string {
  return `${keyPrefix}${FLAG_KEY_PREFIX}{${feature}}`;
}

export function flagChannel(keyPrefix = ''): string {
  return `${keyPrefix}${FLAG_CHANGE_CHANNEL}`;
}
