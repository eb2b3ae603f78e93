// Translates kafkajs errors into PmfError with a stable code and an honest retryable flag.
// kafkajs marks a failure non-retriable once *its* retries are spent; what our callers need is
// whether retrying later can help, which the root cause tells: a broker that cannot be reached or
// answer in time is ERR_LOG_UNAVAILABLE and retryable, whatever kafkajs' retry count did.

import { PmfError, type ErrorCode } from '../../core/errors.js';

interface KafkaJsLikeError extends Error {
  retriable?: boolean;
  type?: string;
  cause?: unknown;
  originalError?: unknown;
}

const UNAVAILABLE_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSLockTimeout',
  'KafkaJSTimeout',
]);

// Broker answers meaning "not now" (leader moving, coordinator loading, rebalancing).
const UNAVAILABLE_TYPES = new Set([
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
  'NOT_COORDINATOR_FOR_GROUP',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'GROUP_LOAD_IN_PROGRESS',
  'REQUEST_TIMED_OUT',
  'NETWORK_EXCEPTION',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  'REBALANCE_IN_PROGRESS',
  'BROKER_NOT_AVAILABLE',
]);

// kafkajs' retrier wraps what it gave up on: KafkaJSNumberOfRetriesExceeded when retries ran out,
// KafkaJSNonRetriableError when an inner retrier's give-up reaches an outer one (a send whose
// connect exhausted its retries arrives as NonRetriable(cause: KafkaJSConnectionError)).
const WRAPPERS = new Set(['KafkaJSNumberOfRetriesExceeded', 'KafkaJSNonRetriableError']);

function rootCause(err: unknown): unknown {
  let current = err;
  for (let depth = 0; depth < 5; depth++) {
    if (!(current instanceof Error) || !WRAPPERS.has(current.name)) return current;
    const inner = (current as KafkaJsLikeError).cause ?? (current as KafkaJsLikeError).originalError;
    if (!(inner instanceof Error) || inner === current) return current;
    current = inner;
  }
  return current;
}

/**
 * @param fallbackCode the code for a broker that answered with a real error (e.g. ERR_LOG_PRODUCE
 *   for a rejected send); an unreachable broker is always ERR_LOG_UNAVAILABLE.
 */
export function fromKafkaError(err: unknown, what: string, fallbackCode: ErrorCode): PmfError {
  if (err instanceof PmfError) return err;
  const root = rootCause(err) as KafkaJsLikeError;
  const name = root instanceof Error ? root.name : 'Error';
  const detail = root instanceof Error ? root.message : String(root);
  if (root?.type === 'UNKNOWN_TOPIC_OR_PARTITION') {
    return new PmfError('ERR_NOT_FOUND', `${what}: topic or partition does not exist (${detail})`, { cause: err });
  }
  if (UNAVAILABLE_NAMES.has(name) || (root?.type !== undefined && UNAVAILABLE_TYPES.has(root.type))) {
    return new PmfError('ERR_LOG_UNAVAILABLE', `${what}: Kafka unavailable (${name}: ${detail})`, {
      retryable: true,
      cause: err,
    });
  }
  return new PmfError(fallbackCode, `${what}: ${name}: ${detail}`, {
    retryable: root?.retriable === true,
    cause: err,
  });
}
