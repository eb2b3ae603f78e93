// The clients both loop benchmarks drive one app with: a timed exporter, a background load on an
// exporter of its own (its own gRPC channel, so the timed export never queues behind it), and
// Redis connections for the change notices and the flag hashes. close() releases them all and
// then the app, whatever failed before.

import { Redis } from 'ioredis';
import { flagChannel } from '../src/flags/redis-keys.js';
import { services, type LoopApp } from './loop-app.js';
import { BackgroundLoad } from './loop-background.js';
import { NoticeWaiter } from './loop-measure.js';
import { LoopTraffic } from './loop-spans.js';

export interface LoopClients {
  traffic: LoopTraffic;
  background: BackgroundLoad;
  /** For reading flag hashes. */
  redis: Redis;
  notices: NoticeWaiter;
  close(): Promise<void>;
}

/** `eventTime` gives the background spans' event time at each tick. */
export async function openLoopClients(loop: LoopApp, backgroundSpansPerSecond: number, eventTime: () => number): Promise<LoopClients> {
  const endpoint = `http://127.0.0.1:${loop.app.receiverPort()}`;
  const traffic = new LoopTraffic(endpoint);
  const backgroundTraffic = new LoopTraffic(endpoint);
  const background = new BackgroundLoad(backgroundTraffic, backgroundSpansPerSecond, eventTime, (err) => console.error('background export failed', err));
  const sub = new Redis(services.redisUrl);
  const redis = new Redis(services.redisUrl);
  const close = async () => {
    await background.stop();
    await traffic.shutdown().catch(() => undefined);
    await backgroundTraffic.shutdown().catch(() => undefined);
    sub.disconnect();
    redis.disconnect();
    await loop.close();
  };
  try {
    const channel = flagChannel(loop.keyPrefix);
    const notices = new NoticeWaiter(sub, channel);
    await sub.subscribe(channel);
    return { traffic, background, redis, notices, close };
  } catch (err) {
    await close();
    throw err;
  }
}
