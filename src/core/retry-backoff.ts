// The one retry backoff (log consumers re-delivering a failed batch, the outbox relay retrying
// Redis): exponential from initialMs, capped at maxMs, so a poison batch or a down dependency does
// not spin the CPU, yet a transient failure retries quickly.

export interface RetryBackoff {
  initialMs: number;
  maxMs: number;
}

export const defaultRetryBackoff: RetryBackoff = { initialMs: 200, maxMs: 10_000 };

/** attempt counts from 1 (the first failure). */
export function retryDelayMs(attempt: number, backoff: RetryBackoff): number {
  const exp = backoff.initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(exp, backoff.maxMs);
}
