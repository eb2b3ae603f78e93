// A real Prometheus (Debian's package) for tests: scrapes one target every second with a bearer
// token, keeps its data in a temporary directory, and answers instant queries over its HTTP API.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool } from './tools.js';
import { waitFor } from './services.js';

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export class PrometheusServer {
  private child?: ChildProcess;
  private dir = mkdtempSync(join(tmpdir(), 'pmf-prom-'));
  port = 0;
  log = '';

  constructor(private readonly target: string, private readonly token?: string) {}

  async start(): Promise<void> {
    this.port = await freePort();
    const auth = this.token ? `\n    authorization:\n      credentials: ${this.token}` : '';
    writeFileSync(join(this.dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pmf-guard\n    static_configs:\n      - targets: ["${this.target}"]${auth}\n`);
    this.child = spawn(tool('prometheus'), [
      `--config.file=${join(this.dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(this.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${this.port}`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b) => (this.log += b));
    this.child.stderr!.on('data', (b) => (this.log += b));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${this.port}/-/ready`)).ok, { timeoutMs: 60_000, message: 'prometheus not ready' });
  }

  async query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`query ${expr}: ${JSON.stringify(body)}`);
    return body.data.result;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (c && c.exitCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
