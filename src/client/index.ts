// The application-side API of pmf-guard's flags: what an application imports to read flags.

export { FlagClient } from './flag-client.js';
export { FLAG_CHANGE_CHANNEL, FLAG_KEY_PREFIX } from '../flags/redis-keys.js';
export type { FlagClientOptions, FlagContext, FlagEvaluation, FlagReason } from './flag-client.js';
export { evaluationAttributes, FLAG_EVALUATION_EVENT, recordEvaluation } from './evaluation-recorder.js';
export type { RecordOptions } from './evaluation-recorder.js';
export { PmfGuardProvider } from './openfeature-provider.js';
export type { PmfGuardProviderOptions } from './openfeature-provider.js';
