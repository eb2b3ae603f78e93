// A Kafka broker of a test's own, run by scripts/stack.sh on another port, so the test can stop and
// restart it without pulling the shared broker away from tests running at the same time.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const stackScript = fileURLToPath(new URL('../../scripts/stack.sh', import.meta.url));

export class PrivateKafka {
  readonly brokers: readonly string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly tempDir: string | undefined;
  private readonly timeoutMs: number;

  /**
   * The broker on `port` (its controller on port + 1). Its state lives in .stack/kafka-<port>, kept
   * across runs, or in `dir`, or with `temporaryDir` in a fresh directory that remove() deletes.
   * `env` adds settings of scripts/stack.sh (KAFKA_SECURE, KAFKA_SASL_PASSWORD); `timeoutMs` bounds
   * each call of the script (default 180 s).
   */
  constructor(
    readonly port: number,
    options: { temporaryDir?: boolean; dir?: string; env?: Record<string, string>; timeoutMs?: number } = {},
  ) {
    this.brokers = [`127.0.0.1:${port}`];
    this.tempDir = options.temporaryDir ? mkdtempSync(join(tmpdir(), `pmf-kafka-${port}-`)) : undefined;
    const dir = this.tempDir ?? options.dir;
    this.timeoutMs = options.timeoutMs ?? 180_000;
    this.env = {
      ...process.env, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(port + 1), ...(dir ? { KAFKA_DIR: dir } : {}), ...options.env,
    };
  }

  /** `scripts/stack.sh <command> kafka` for this broker; resolves to what the script logged (its stderr). */
  async stack(command: 'up' | 'start' | 'stop' | 'restart'): Promise<string> {
    const { stderr } = await run('bash', [stackScript, command, 'kafka'], { env: this.env, timeout: this.timeoutMs });
    return stderr;
  }

  start(): Promise<string> {
    return this.stack('start');
  }

  stop(): Promise<string> {
    return this.stack('stop');
  }

  /** Stops the broker and deletes its temporary directory, if it has one. */
  async remove(): Promise<void> {
    await this.stop();
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
  }
}
