// Bounds how long a caller waits on the Kafka client, whose own retries and timeouts can add up to
// tens of seconds; the receiver must be able to answer UNAVAILABLE quickly instead. The work itself
// is not cancelled (kafkajs cannot be), only the wait.

import type { Clock } from '../../core/clock.js';

export function withDeadline<T>(work: Promise<T>, ms: number, clock: Clock, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(onTimeout()), ms);
    work.then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (err: unknown) => {
        timer.cancel();
        reject(err);
      },
    );
  });
}
