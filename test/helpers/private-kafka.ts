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

  /**
   * The broker on `port` (its controller on port + 1). Its state lives in .stack/kafka-<port>, kept
   * across runs, or with `temporaryDir` in a fresh directory that remove() deletes.
   */
  constructor(readonly port: number, options: { temporaryDir?: boolean } = {}) {
    this.brokers = [`127.0.0.1:${port}`];
    this.tempDir = options.temporaryDir ? mkdtempSync(join(tmpdir(), `pmf-kafka-${port}-`)) : undefined;
    this.env = { ...process.env, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(port + 1), ...(this.tempDir ? { KAFKA_DIR: this.tempDir } : {}) };
  }

  /** `scripts/stack.sh <command> kafka` for this broker; resolves to what the script logged (its stderr). */
  async stack(command: 'up' | 'start' | 'stop' | 'restart'): Promise<string> {
    const { stderr } = await run('bash', [stackScript, command, 'kafka'], { env: this.env, timeout: 180_000 });
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
