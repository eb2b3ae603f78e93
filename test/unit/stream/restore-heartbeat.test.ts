// The heartbeat kept while a restore loads: beats at the interval, one at a time; a failed beat
// (a rebalance) ends the wait at once with its error, the abandoned load's failure is reported;
// a beat still in flight when the load ends is awaited, so its error is not lost.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { whileHeartbeating } from '../../../src/stream/restore-heartbeat.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('whileHeartbeating', () => {
  it('beats every interval while the work runs, and not after', async () => {
    const clock = new ManualClock();
    const work = deferred<string>();
    let beats = 0;
    const result = whileHeartbeating(work.promise, async () => void beats++, 1000, clock, () => undefined);
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      await turn();
    }
    expect(beats).toBe(3);
    work.resolve('state');
    expect(await result).toBe('state');
    clock.advance(5000);
    await turn();
    expect(beats).toBe(3);
  });

  it('rejects at once with a failed beat, and reports the abandoned work\'s failure', async () => {
    const clock = new ManualClock();
    const work = deferred<string>();
    const rebalance = Object.assign(new Error('The group is rebalancing, so a rejoin is needed'), { name: 'KafkaJSProtocolError' });
    const abandoned: unknown[] = [];
    const result = whileHeartbeating(work.promise, () => Promise.reject(rebalance), 1000, clock, (e) => abandoned.push(e));
    clock.advance(1000);
    await expect(result).rejects.toBe(rebalance);
    const loadError = new Error('connection lost');
    work.reject(loadError);
    await turn();
    expect(abandoned).toEqual([loadError]);
  });

  it('waits for a beat in flight when the work ends, and rejects with its error', async () => {
    const clock = new ManualClock();
    const work = deferred<string>();
    const beat = deferred<void>();
    const result = whileHeartbeating(work.promise, () => beat.promise, 1000, clock, () => undefined);
    clock.advance(1000);
    work.resolve('state');
    await turn();
    const rebalance = new Error('rebalancing');
    beat.reject(rebalance);
    await expect(result).rejects.toBe(rebalance);
  });

  it('passes the work through when the consumer needs no heartbeat', async () => {
    const work = Promise.resolve(7);
    expect(await whileHeartbeating(work, () => Promise.reject(new Error('never called')), undefined, new ManualClock(), () => undefined)).toBe(7);
  });
});
