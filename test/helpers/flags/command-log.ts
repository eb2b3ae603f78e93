// The flag-writer role's input for tests: an embedded log in a temp directory with one commands
// topic, a producer that signs what it sends with the log's own command key ring (and one that
// does not, for rogue writers), and a look at a group's committed offset as the log stores it.

import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeJson } from '../../../src/events/codec.js';
import type { FlagCommand } from '../../../src/events/flag-command.js';
import { commandKeyRing, signCommand, type CommandKeyRing } from '../../../src/events/command-signature.js';
import { EmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import { createLogger } from '../../../src/core/logger.js';
import type { LogProducer } from '../../../src/log/partitioned-log.js';
import { uniqueName } from '../services.js';

export interface LoggedWarning {
  message: string;
  fields?: Record<string, unknown>;
}

export class CommandLog {
  readonly topic = uniqueName('pmf.commands.v1');
  /** The key ring a consumer of this log verifies with; send() signs with it. */
  readonly keyRing: CommandKeyRing = commandKeyRing([randomBytes(32).toString('hex')]);
  private constructor(
    readonly log: EmbeddedLog,
    readonly producer: LogProducer,
    private readonly dir: string,
    /** What the log told its logger: handler failures show up here. */
    readonly warnings: LoggedWarning[],
  ) {}

  static async open(partitions = 1): Promise<CommandLog> {
    const dir = await mkdtemp(join(tmpdir(), 'pmf-commands-'));
    const warnings: LoggedWarning[] = [];
    const logger = createLogger('warn', 'test', (line) => {
      const { msg, level: _level, time: _time, component: _component, ...fields } = JSON.parse(line) as Record<string, unknown>;
      warnings.push({ message: String(msg), fields });
    });
    const log = new EmbeddedLog({ dataDir: dir, logger, retryBackoff: { initialMs: 50, maxMs: 400 } });
    const producer = log.producer('test-commands');
    const cl = new CommandLog(log, producer, dir, warnings);
    await log.ensureTopics([{ name: cl.topic, partitions }]);
    await producer.start();
    return cl;
  }

  async send(...commands: FlagCommand[]): Promise<void> {
    await this.sendUnsigned(...commands.map((c) => signCommand(c, this.keyRing)));
  }

  /** Writes the commands exactly as given: what a producer without the key can do. */
  async sendUnsigned(...commands: FlagCommand[]): Promise<void> {
    await this.producer.send(
      this.topic,
      commands.map((c) => ({ key: c.feature, value: encodeJson(c) })),
    );
  }

  /** The next offset the group will read on a partition, as committed to disk; 0 when none. */
  async committed(groupId: string, partition = 0): Promise<number> {
    let saved: { offsets: { topic: string; partition: number; offset: string }[] };
    try {
      saved = JSON.parse(await readFile(join(this.dir, 'groups', `${encodeURIComponent(groupId)}.json`), 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    const entry = saved.offsets.find((o) => o.topic === this.topic && o.partition === partition);
    return entry ? Number(entry.offset) : 0;
  }

  /** Handler failures the log reported for a group (each one is a re-delivery). */
  failuresOf(groupId: string): LoggedWarning[] {
    return this.warnings.filter((w) => w.fields?.groupId === groupId && w.fields?.during === 'handleBatch');
  }

  async close(): Promise<void> {
    await this.log.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
