// Redis helpers for the flag tests: a unique key prefix per test, a subscriber that records
// change notices, a client of a Redis that is down, and cleanup of the test's keys.

import { Redis } from 'ioredis';
import type { RedisFlagClient } from '../../../src/flags/redis-flag-cache.js';
import { freePort } from '../../helpers/free-port.js';
import { testServices, uniqueName, waitFor } from '../../helpers/services.js';
import { deleteKeysEverywhere } from './redis-target.js';

export function redisClient(): Redis {
  return new Redis(testServices.redisUrl, { lazyConnect: false });
}

export function uniquePrefix(): string {
  return `${uniqueName('pmftest')}:`;
}

/** A client that fails every command at once, like a Redis that is down. */
export async function unreachableRedis(): Promise<Redis> {
  const client = new Redis({
    host: '127.0.0.1',
    port: await freePort(),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // Refused connections are this client's purpose; any other error should still be seen.
  client.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ECONNREFUSED') console.error('unexpected error from the unreachable Redis client', err);
  });
  return client;
}

export class NoticeRecorder {
  readonly messages: string[] = [];
  private constructor(private readonly sub: RedisFlagClient) {}

  static async subscribe(channel: string, connect: () => RedisFlagClient = redisClient): Promise<NoticeRecorder> {
    const sub = connect();
    const recorder = new NoticeRecorder(sub);
    sub.on('message', (ch: string, message: string) => {
      if (ch === channel) recorder.messages.push(message);
    });
    await sub.subscribe(channel);
    return recorder;
  }

  async waitForCount(n: number): Promise<string[]> {
    await waitFor(() => this.messages.length >= n, { timeoutMs: 10_000, message: `${n} change notice(s); got ${JSON.stringify(this.messages)}` });
    return [...this.messages];
  }

  async close(): Promise<void> {
    await this.sub.quit();
  }
}

export async function deleteKeys(redis: RedisFlagClient, prefix: string): Promise<void> {
  await deleteKeysEverywhere(redis, prefix);
}
