// Round-trip counters for the flag writer: wrappers that count the statements a SQL client sends and the Redis
// commands a client sends, shared by the round-trip tests and bench:flags so both count the same way.
import type { SqlClient, SqlQueryable } from '../../src/store/sql-client.js';

/** Counts every statement sent, BEGIN and COMMIT included. */
export class CountingSql implements SqlClient {
  calls = 0;
  constructor(private readonly inner: SqlClient) {}
  query<T>(text: string, params?: readonly unknown[]): Promise<{ rows: T[] }> {
    this.calls++;
    return this.inner.query<T>(text, params);
  }
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    this.calls += 2;
    return this.inner.transaction((tx) =>
      fn({
        query: <R>(text: string, params?: readonly unknown[]) => {
          this.calls++;
          return tx.query<R>(text, params);
        },
      }),
    );
  }
}

/** Wraps a Redis client so each call of the named commands adds one to the counter. */
export function countingRedis<T extends object>(redis: T, counter: { calls: number }, commands: readonly string[]): T {
  return new Proxy(redis, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || !commands.includes(String(prop))) return value;
      return (...args: unknown[]) => {
        counter.calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
