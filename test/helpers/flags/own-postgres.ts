// A PostgreSQL server a test starts itself (initdb into a temp directory, run as the postgres OS
// user on a free port), so it can kill -9 and restart it by PID without touching the shared one.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { waitFor } from '../services.js';
import { freePort } from '../free-port.js';

const run = promisify(execFile);

async function pgBin(): Promise<string> {
  const versions = (await readdir('/usr/lib/postgresql')).sort((a, b) => Number(a) - Number(b));
  if (versions.length === 0) throw new Error('no PostgreSQL under /usr/lib/postgresql (bash scripts/stack.sh up pg installs it)');
  return join('/usr/lib/postgresql', versions[versions.length - 1], 'bin');
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

export class OwnPostgres {
  private proc: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly root: string,
    private readonly bin: string,
    private readonly user: { uid: number; gid: number },
  ) {}

  static async start(): Promise<OwnPostgres> {
    const [bin, user] = await Promise.all([pgBin(), postgresUser()]);
    const root = await mkdtemp(join(tmpdir(), 'pmf-pg-'));
    await chown(root, user.uid, user.gid);
    await run(join(bin, 'initdb'), ['-D', join(root, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'], {
      uid: user.uid,
      gid: user.gid,
      cwd: root,
      timeout: 60_000,
    });
    const own = new OwnPostgres(await freePort(), root, bin, user);
    await own.up();
    return own;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get pid(): number | undefined {
    return this.proc?.exitCode === null ? this.proc.pid : undefined;
  }

  /** Starts the postmaster; after a kill -9 it retries until the old backends have let go. */
  async up(): Promise<void> {
    await waitFor(
      async () => {
        if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) this.spawn();
        const probe = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1_000 });
        try {
          await probe.connect();
          await probe.query('SELECT 1');
          return true;
        } finally {
          await probe.end().catch(() => undefined);
        }
      },
      { timeoutMs: 60_000, intervalMs: 200, message: `own PostgreSQL on port ${this.port}` },
    );
  }

  /** kill -9 the postmaster and wait until nothing accepts connections. */
  async down(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    }
    await waitFor(
      async () => {
        const probe = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 500 });
        try {
          await probe.connect();
          return false;
        } catch {
          return true;
        } finally {
          await probe.end().catch(() => undefined);
        }
      },
      { timeoutMs: 30_000, message: 'own PostgreSQL refusing connections' },
    );
  }

  async dispose(): Promise<void> {
    await this.down();
    await rm(this.root, { recursive: true, force: true });
  }

  private spawn(): void {
    const args = ['-D', join(this.root, 'data'), '-p', String(this.port), '-k', this.root, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'];
    const proc = spawn(join(this.bin, 'postgres'), args, { uid: this.user.uid, gid: this.user.gid, cwd: this.root, stdio: 'ignore' });
    proc.on('error', () => {}); // a failed start shows as exitCode; up() retries
    this.proc = proc;
  }
}
