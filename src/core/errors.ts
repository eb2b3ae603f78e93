// Every error pmf-guard raises carries a stable code and whether a retry can help.
// Adapters translate this into gRPC / HTTP statuses and into consumer retry decisions.

export type ErrorCode =
  | 'ERR_CONFIG_INVALID'
  | 'ERR_RULES_INVALID'
  | 'ERR_OTLP_DECODE'
  | 'ERR_OTLP_TOO_LARGE'
  | 'ERR_UNAUTHENTICATED'
  | 'ERR_LOG_UNAVAILABLE'
  | 'ERR_LOG_PRODUCE'
  /** A local disk refused a write (ENOSPC, EDQUOT) or took only part of it; retryable once space is freed. */
  | 'ERR_DISK_FULL'
  | 'ERR_EVENT_DECODE'
  | 'ERR_COMMAND_REFUSED'
  | 'ERR_LOG_GAP'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_STORE_CONFLICT'
  | 'ERR_CACHE_UNAVAILABLE'
  | 'ERR_STOPPED'
  | 'ERR_NOT_FOUND'
  | 'ERR_STATE_CORRUPT'
  // The admin API's answers (src/admin): a request it refuses, by why.
  | 'ERR_BAD_REQUEST'
  | 'ERR_FORBIDDEN'
  | 'ERR_METHOD'
  | 'ERR_TOO_LARGE'
  | 'ERR_PINNED'
  | 'ERR_WRONG_ROLE'
  | 'ERR_INTERNAL';

export class PmfError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PmfError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof PmfError ? err.retryable : false;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
