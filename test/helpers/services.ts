// Where the integration tests find the real services started by `bash scripts/stack.sh up`,
// and the two primitives every such test needs: collision-free names and waiting by condition.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

export interface TestServices {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly kafkaBrokers: readonly string[];
}

function fromEnv(name: string, fallback: string): string {
  const value = process.env[name]?.trim();
  return value === undefined || value === '' ? fallback : value;
}

export const testServices: TestServices = Object.freeze({
  databaseUrl: fromEnv('PMF_TEST_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/postgres'),
  redisUrl: fromEnv('PMF_TEST_REDIS_URL', 'redis://127.0.0.1:6379'),
  kafkaBrokers: Object.freeze(
    fromEnv('PMF_TEST_KAFKA_BROKERS', '127.0.0.1:9092')
      .split(',')
      .map((broker) => broker.trim())
      .filter((broker) => broker !== ''),
  ),
});

/**
 * `prefix` plus a random suffix, valid as a Kafka topic / consumer group, a PostgreSQL schema
 * (lower case, starts with a letter if the prefix does) and a Redis key prefix.
 */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export interface WaitForOptions {
  /** Give up after this long (default 30 s). */
  readonly timeoutMs?: number;
  /** Pause between two evaluations of the predicate (default 100 ms). */
  readonly intervalMs?: number;
  /** What was awaited; the timeout error starts with it. */
  readonly message?: string;
  /** The state worth seeing when the wait fails (what was collected so far); its JSON ends the timeout error. */
  readonly describe?: () => unknown;
}

/**
 * Evaluates `predicate` until it returns a truthy value, and returns that value.
 * A predicate that throws counts as "not yet"; its last error becomes the timeout error's cause.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    attempts += 1;
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const what = options.message ?? 'condition';
      const detail =
        lastError === undefined ? '' : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      const state = options.describe === undefined ? '' : `; last state: ${JSON.stringify(options.describe())}`;
      throw new Error(`waitFor timed out after ${timeoutMs} ms (${attempts} attempts): ${what}${detail}${state}`, {
        cause: lastError,
      });
    }
    await delay(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}
