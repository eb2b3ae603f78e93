// Every component has explicit start/stop. stop() is idempotent, safe before start(), and drains:
// concurrent callers share one promise (as kafkajs' sharedPromiseTo / OTel's BindOnceFuture do).

export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/** Stops in the given order, every one even if an earlier one fails; rethrows the first error. */
export async function stopAll(components: readonly Component[]): Promise<void> {
  let first: unknown;
  for (const c of components) {
    try {
      await c.stop();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
