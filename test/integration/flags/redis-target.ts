// The two Redis deployments the flag store must work on (docs/architecture.md): one node, and a
// three-master Redis Cluster (scripts/redis-cluster.sh). Shared suites take a target and run the
// same tests on both; keys carry a unique prefix per test, so tests never collide.

import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import type { RedisFlagClient } from '../../../src/flags/redis-flag-cache.js';
import { testServices } from '../../helpers/services.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface RedisTarget {
  readonly name: string;
  /** Makes sure the deployment runs (idempotent, cheap when it does). */
  ensureUp(): Promise<void>;
  /** A new connection; the caller quits it. */
  connect(): RedisFlagClient;
}

export const singleRedis: RedisTarget = {
  name: 'Redis',
  async ensureUp() {},
  connect: () => new Redis(testServices.redisUrl),
};

/** host:port list of the cluster's seed nodes (PMF_TEST_REDIS_CLUSTER, default the script's ports). */
export const clusterNodes = (process.env.PMF_TEST_REDIS_CLUSTER?.trim() || '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002')
  .split(',')
  .map((n) => {
    const [host, port] = n.trim().split(':');
    return { host, port: Number(port) };
  });

export function clusterClient(nodes = clusterNodes): Cluster {
  return new Cluster(nodes, { redisOptions: { connectTimeout: 5_000 } });
}

export const redisCluster: RedisTarget = {
  name: 'Redis Cluster',
  async ensureUp() {
    // Only the default cluster is ours to start; a configured one must already run.
    if (process.env.PMF_TEST_REDIS_CLUSTER?.trim()) return;
    await run('bash', [join(root, 'scripts/redis-cluster.sh'), 'up'], { timeout: 90_000 });
  },
  connect: () => clusterClient(),
};

export const redisTargets: readonly RedisTarget[] = [singleRedis, redisCluster];

/** Deletes every key starting with prefix, on every master of a cluster. */
export async function deleteKeysEverywhere(client: RedisFlagClient, prefix: string): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 200);
      // One DEL per key: on a cluster, keys of different features live in different slots.
      for (const key of keys) await node.del(key);
      cursor = next;
    } while (cursor !== '0');
  }
}
