// Keeps a consumer-group member alive while a partition's state is restored. kafkajs heartbeats
// only when the batch handler calls heartbeat() (there is no background heartbeat), and a restore
// at 10 M pairs reads for seconds (bench:checkpoint): several partitions restored one after
// another in the serial chain would outlast the session, the member would be thrown out, and the
// next owner would restore again. kafkajs shares one in-flight heartbeat between concurrent calls
// and sends none before its own interval has passed, so calling it on a timer while the batch
// handler awaits the load is safe. The decode that follows is wrapped too: it gives the event loop
// back between slices (core/sliced-steps.ts), so the timer fires while it runs.

import type { Clock } from '../core/clock.js';

/**
 * Resolves with `work`'s result, calling `heartbeat` every `intervalMs` meanwhile (one at a time).
 * A failed heartbeat (typically a rebalance in progress: the partition may no longer be ours)
 * rejects at once with that error, so the caller stops using the partition and kafkajs re-joins;
 * a failure of the abandoned work is then handed to `abandoned`. A heartbeat still in flight when
 * the work ends is awaited: its error is not lost.
 */
export function whileHeartbeating<T>(
  work: Promise<T>,
  heartbeat: () => Promise<void>,
  intervalMs: number | undefined,
  clock: Clock,
  abandoned: (err: unknown) => void,
): Promise<T> {
  if (intervalMs === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    let settled = false; // the returned promise
    let workEnded = false;
    let beating: Promise<void> | undefined;
    let timer: { cancel(): void } | undefined;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      timer?.cancel();
      reject(err);
    };
    const tick = () => {
      beating = heartbeat();
      beating.then(
        () => {
          beating = undefined;
          if (!workEnded && !settled) timer = clock.setTimeout(tick, intervalMs);
        },
        (err: unknown) => {
          fail(err);
          work.catch(abandoned);
        },
      );
    };
    timer = clock.setTimeout(tick, intervalMs);
    work.then(
      async (value) => {
        workEnded = true;
        timer?.cancel();
        // An error of the heartbeat in flight reaches fail() through tick's handler.
        if (beating !== undefined) await beating.then(() => undefined, () => undefined);
        if (settled) return;
        settled = true;
        resolve(value);
      },
      (err: unknown) => {
        workEnded = true;
        fail(err);
      },
    );
  });
}
