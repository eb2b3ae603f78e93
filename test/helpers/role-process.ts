// One `pmf-guard start --role <role>` child process of a test, its output appended to a log file:
// starting it with only the environment it is given, the signals the fault tests send (kill -9, the
// SIGTERM drain, SIGSTOP/SIGCONT) and its log for the assertions.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export class RoleProcess {
  private child?: ChildProcess;
  private exit?: Promise<number | null>;

  /**
   * `env` is added to PATH and HOME: nothing else of the test's environment reaches the process.
   * `prefix` runs it through another command that execs it (same PID), e.g. `ip netns exec <ns>`.
   */
  constructor(readonly role: string, readonly logFile: string, private readonly env: Record<string, string>, private readonly prefix: readonly string[] = []) {}

  start(): this {
    const fd = openSync(this.logFile, 'a');
    const command = [...this.prefix, process.execPath, '--import', 'tsx', 'src/main.ts', 'start', '--role', this.role];
    const child = spawn(command[0], command.slice(1), {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...this.env },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    return this;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  async kill9(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGKILL');
    await this.exit;
  }

  /** SIGSTOP: the process freezes (a long GC pause, a stalled VM) and misses its heartbeats. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGTERM: the drain path (last flush, leave the group); resolves to the exit code. */
  async stop(): Promise<number | null> {
    if (!this.running) return (await this.exit) ?? null;
    this.child?.kill('SIGTERM');
    return (await this.exit) ?? null;
  }
}
