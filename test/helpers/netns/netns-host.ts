// A second "host" for partition tests: a Linux network namespace joined to the test's namespace by
// a veth pair. A process started with prefix() runs inside it and reaches the given loopback
// ports of the host (Kafka, PostgreSQL, Redis) at 127.0.0.1 as usual, through a forwarder inside
// the namespace and one in the test process, across the veth. cut() takes the link down: the
// process keeps running but nothing it sends arrives, as when a host falls off the network; heal()
// brings it back. Needs root and iproute2 (`ip`); available() says whether this machine has them.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from '../services.js';
import { forward } from './tcp-forward.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export class NetnsHost {
  private servers: net.Server[] = [];
  private forwarder?: ChildProcess;

  private constructor(
    readonly ns: string,
    private readonly hostIf: string,
    private readonly hostIp: string,
  ) {}

  /** Whether namespaces can be made here (root with iproute2); a test without them cannot run. */
  static async available(): Promise<boolean> {
    const probe = `pmfprobe${randomBytes(3).toString('hex')}`;
    try {
      await run('ip', ['netns', 'add', probe]);
      await run('ip', ['netns', 'del', probe]);
      return true;
    } catch {
      return false;
    }
  }

  /** A namespace whose processes reach `ports` of the host's loopback. */
  static async create(ports: readonly number[]): Promise<NetnsHost> {
    const tag = randomBytes(3).toString('hex');
    // A /30 of 10.213.0.0/16 chosen at random, so parallel runs rarely meet; create() fails if they do.
    const block = (parseInt(tag, 16) % 16_000) * 4;
    const net3 = `10.213.${Math.floor(block / 256)}`;
    const base = block % 256;
    const host = new NetnsHost(`pmf${tag}`, `pmfh${tag}`, `${net3}.${base + 1}`);
    const nsIf = `pmfn${tag}`;
    const nsIp = `${net3}.${base + 2}`;
    const ip = (...args: string[]) => run('ip', args);
    await ip('netns', 'add', host.ns);
    try {
      await ip('netns', 'exec', host.ns, 'ip', 'link', 'set', 'lo', 'up');
      await ip('link', 'add', host.hostIf, 'type', 'veth', 'peer', 'name', nsIf);
      await ip('link', 'set', nsIf, 'netns', host.ns);
      await ip('addr', 'add', `${host.hostIp}/30`, 'dev', host.hostIf);
      await ip('link', 'set', host.hostIf, 'up');
      await ip('netns', 'exec', host.ns, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', nsIf);
      await ip('netns', 'exec', host.ns, 'ip', 'link', 'set', nsIf, 'up');
      host.servers = await forward(host.hostIp, '127.0.0.1', ports);
      await host.startForwarder(ports);
      return host;
    } catch (err) {
      await host.dispose();
      throw err;
    }
  }

  /** Put before a command to run it inside the namespace. */
  prefix(): string[] {
    return ['ip', 'netns', 'exec', this.ns];
  }

  /** The host falls off the network: established connections stall, new ones fail. */
  async cut(): Promise<void> {
    await run('ip', ['link', 'set', this.hostIf, 'down']);
  }

  async heal(): Promise<void> {
    await run('ip', ['link', 'set', this.hostIf, 'up']);
  }

  async dispose(): Promise<void> {
    this.forwarder?.kill('SIGKILL');
    for (const s of this.servers) s.close();
    await run('ip', ['link', 'del', this.hostIf]).catch(() => undefined);
    await run('ip', ['netns', 'del', this.ns]).catch(() => undefined);
  }

  private async startForwarder(ports: readonly number[]): Promise<void> {
    const script = fileURLToPath(new URL('./tcp-forward.ts', import.meta.url));
    const child = spawn('ip', ['netns', 'exec', this.ns, process.execPath, '--import', 'tsx', script, '127.0.0.1', this.hostIp, ...ports.map(String)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.forwarder = child;
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`forwarder in ${this.ns} exited: ${out}`);
        return out.includes('forwarding');
      },
      { timeoutMs: 30_000, message: `forwarder in ${this.ns}` },
    );
  }
}
