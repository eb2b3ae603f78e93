// Redis servers a test starts itself, on free loopback ports, so it can kill -9 and restart them
// by PID without touching the shared stack: one node, or a three-master cluster whose nodes keep
// their cluster config (nodes.conf) in a temp directory and rejoin with their slots on restart.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from '../free-port.js';
import { waitFor } from '../services.js';

const run = promisify(execFile);

/** One redis-server child process. */
export class RedisProcess {
  private proc: ChildProcess | undefined;
  constructor(readonly port: number, readonly dir: string, private readonly extraArgs: readonly string[] = []) {}

  get pid(): number | undefined {
    return this.proc?.exitCode === null ? this.proc.pid : undefined;
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.extraArgs];
    const proc = spawn('redis-server', args, { stdio: 'ignore' });
    this.proc = proc;
    const probe = new Redis({ port: this.port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {}); // refused until the server listens; waitFor below is the check
    try {
      await waitFor(
        async () => {
          if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
          if (probe.status !== 'ready') await probe.connect().catch(() => undefined);
          return (await probe.ping()) === 'PONG';
        },
        { timeoutMs: 15_000, message: `redis-server on port ${this.port}` },
      );
    } finally {
      probe.disconnect();
    }
  }

  /** kill -9, and wait for the process to be gone. */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  }
}

/** A single throwaway Redis node. */
export class OwnRedis {
  private constructor(readonly node: RedisProcess, private readonly root: string) {}

  static async start(): Promise<OwnRedis> {
    const root = await mkdtemp(join(tmpdir(), 'pmf-redis-'));
    const own = new OwnRedis(new RedisProcess(await freePort(), root), root);
    await own.node.start();
    return own;
  }

  get port(): number {
    return this.node.port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** A client that fails commands at once while the server is down and reconnects quickly. */
  client(): Redis {
    const client = new Redis({ port: this.port, host: '127.0.0.1', enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    client.on('error', () => {}); // outages are what these tests cause; commands report them
    return client;
  }

  down(): Promise<void> {
    return this.node.kill();
  }

  up(): Promise<void> {
    return this.node.start();
  }

  async dispose(): Promise<void> {
    await this.node.kill();
    await rm(this.root, { recursive: true, force: true });
  }
}

/** A throwaway three-master Redis Cluster (no replicas), formed with redis-cli --cluster create. */
export class OwnRedisCluster {
  private constructor(readonly nodes: RedisProcess[], private readonly root: string) {}

  static async start(): Promise<OwnRedisCluster> {
    const root = await mkdtemp(join(tmpdir(), 'pmf-redis-cluster-'));
    const nodes: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      nodes.push(
        new RedisProcess(port, join(root, String(port)), ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000']),
      );
    }
    const own = new OwnRedisCluster(nodes, root);
    for (const n of nodes) await n.start();
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    });
    await own.waitHealthy();
    return own;
  }

  get seeds(): { host: string; port: number }[] {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  /** A cluster client that fails fast while its slot's node is down and keeps reconnecting. */
  client(): Cluster {
    const client = new Cluster(this.seeds, {
      enableOfflineQueue: false,
      clusterRetryStrategy: () => 100,
      redisOptions: { maxRetriesPerRequest: 0, connectTimeout: 1_000 },
      slotsRefreshTimeout: 1_000,
    });
    client.on('error', () => {}); // outages are what these tests cause; commands report them
    client.on('node error', () => {});
    return client;
  }

  /** The node that serves `key`'s slot. */
  async nodeFor(key: string): Promise<RedisProcess> {
    const probe = new Redis({ port: this.nodes[0].port, host: '127.0.0.1' });
    try {
      const slot = Number(await probe.cluster('KEYSLOT', key));
      const ranges = (await probe.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
      const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
      const node = this.nodes.find((n) => n.port === owner?.[2][1]);
      if (!node) throw new Error(`no node serves slot ${slot}`);
      return node;
    } finally {
      probe.disconnect();
    }
  }

  /**
   * Moves the slot of `key` to another master the way redis-cli --cluster reshard does
   * (IMPORTING / MIGRATING, MIGRATE of its keys, SETSLOT NODE everywhere), so clients get
   * ASK while it moves and MOVED afterwards. Returns the node that now serves it.
   */
  async migrateSlotOf(key: string): Promise<RedisProcess> {
    const source = await this.nodeFor(key);
    const target = this.nodes.find((n) => n !== source)!;
    const conn = (n: RedisProcess) => new Redis({ port: n.port, host: '127.0.0.1' });
    const [src, dst] = [conn(source), conn(target)];
    const all = this.nodes.map(conn);
    try {
      const slot = Number(await src.cluster('KEYSLOT', key));
      const sourceId = String(await src.cluster('MYID'));
      const targetId = String(await dst.cluster('MYID'));
      await dst.cluster('SETSLOT', slot, 'IMPORTING', sourceId);
      await src.cluster('SETSLOT', slot, 'MIGRATING', targetId);
      for (;;) {
        const keys = (await src.cluster('GETKEYSINSLOT', slot, 100)) as string[];
        if (keys.length === 0) break;
        await src.call('MIGRATE', '127.0.0.1', String(target.port), '', '0', '5000', 'KEYS', ...keys);
      }
      for (const c of [dst, src, ...all]) await c.cluster('SETSLOT', slot, 'NODE', targetId);
      return target;
    } finally {
      for (const c of [src, dst, ...all]) c.disconnect();
    }
  }

  async waitHealthy(): Promise<void> {
    await waitFor(
      async () => {
        for (const n of this.nodes) {
          const probe = new Redis({ port: n.port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
          probe.on('error', () => {});
          try {
            await probe.connect();
            const info = await probe.cluster('INFO');
            if (!/cluster_state:ok/.test(info) || !/cluster_known_nodes:3/.test(info)) return false;
          } finally {
            probe.disconnect();
          }
        }
        return true;
      },
      { timeoutMs: 30_000, message: 'own Redis Cluster healthy' },
    );
  }

  async dispose(): Promise<void> {
    for (const n of this.nodes) await n.kill();
    await rm(this.root, { recursive: true, force: true });
  }
}
