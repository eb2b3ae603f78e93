// Starts test/helpers/flags/flag-writer-child.ts in its own process and follows its stdout lines,
// so a test can wait for a line and then kill -9 the process by PID.

import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../services.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');

export interface ChildWriterEnv {
  databaseUrl: string;
  schema: string;
  redisUrl: string;
  keyPrefix: string;
  mode: 'reconcile' | 'stall' | 'loop';
  command?: unknown;
  run?: string;
  features?: number;
}

export class ChildWriter {
  readonly lines: string[] = [];
  stderr = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(private readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => this.lines.push(line));
    proc.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static spawn(e: ChildWriterEnv): ChildWriter {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'flag-writer-child.ts')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PMF_CHILD_DATABASE_URL: e.databaseUrl,
        PMF_CHILD_SCHEMA: e.schema,
        PMF_CHILD_REDIS_URL: e.redisUrl,
        PMF_CHILD_KEY_PREFIX: e.keyPrefix,
        PMF_CHILD_MODE: e.mode,
        PMF_CHILD_COMMAND: e.command === undefined ? '' : JSON.stringify(e.command),
        PMF_CHILD_RUN: e.run ?? '',
        PMF_CHILD_FEATURES: String(e.features ?? 1),
      },
    });
    return new ChildWriter(proc);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  async waitForLine(match: (line: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
    return waitFor(
      () => {
        if (this.proc.exitCode !== null) throw new Error(`child exited with ${this.proc.exitCode}: ${this.stderr}`);
        return this.lines.find(match);
      },
      { timeoutMs, intervalMs: 5, message: `child writer line: ${what}` },
    );
  }

  /** Lines matching `match` seen so far. */
  count(match: (line: string) => boolean): number {
    return this.lines.filter(match).length;
  }

  /** kill -9, and wait until the process is gone. */
  async kill9(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await this.exited;
  }

  async exitCode(timeoutMs = 30_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`child did not exit within ${timeoutMs} ms: ${this.stderr}`)), timeoutMs);
    });
    try {
      return (await Promise.race([this.exited, timeout])).code;
    } finally {
      clearTimeout(timer);
    }
  }
}
