// The flag-writer role's Kafka side: applies commands in offset order and commits a batch's
// offsets only after every command in it is committed in PostgreSQL. If PostgreSQL is down the
// batch throws, nothing is committed, and the log re-delivers it; replays are no-ops thanks to
// the applied_commands primary key.

import { PmfError, errorMessage } from '../core/errors.js';
import { once, type Component } from '../core/lifecycle.js';
import { decodeFlagCommand } from '../events/codec.js';
import type { GroupConsumer, PartitionBatch, PartitionedLog } from '../log/partitioned-log.js';
import type { FlagWriter } from './flag-writer.js';

export interface FlagCommandConsumerOptions {
  log: PartitionedLog;
  writer: FlagWriter;
  groupId: string;
  topic: string;
  onError?: (err: unknown, context: string) => void;
}

export class FlagCommandConsumer implements Component {
  readonly name = 'flag-command-consumer';
  private consumer?: GroupConsumer;
  rejected = 0;

  constructor(private readonly o: FlagCommandConsumerOptions) {}

  async start(): Promise<void> {
    this.consumer = this.o.log.consumer(
      { groupId: this.o.groupId, topics: [this.o.topic], fromBeginning: true },
      { handleBatch: (batch, heartbeat) => this.handle(batch, heartbeat) },
    );
    await this.consumer.start();
  }

  readonly stop = once(async () => {
    await this.consumer?.stop();
  });

  private async handle(batch: PartitionBatch, heartbeat: () => Promise<void>): Promise<void> {
    for (const record of batch.records) {
      let command;
      try {
        command = decodeFlagCommand(record.value);
      } catch (err) {
        // A command that can never decode is counted and skipped: blocking the partition on it
        // would stop every later rollback.
        this.rejected++;
        this.o.onError?.(err, `flag command at ${batch.topic}/${batch.partition}@${record.offset} rejected`);
        continue;
      }
      try {
        await this.o.writer.apply(command);
      } catch (err) {
        if (err instanceof PmfError && err.code === 'ERR_EVENT_DECODE') {
          // Malformed beyond decoding (e.g. a cohort named "version"): retrying cannot help.
          // Anything else (a missing schema, a denied permission) is thrown: a rollback must
          // never be skipped because of an operational fault.
          this.rejected++;
          this.o.onError?.(err, `flag command ${command.commandId} rejected`);
          continue;
        }
        // Not committed in PostgreSQL: throw so nothing is committed and the log re-delivers.
        throw err instanceof PmfError ? err : new PmfError('ERR_STORE_UNAVAILABLE', `applying command ${command.commandId}: ${errorMessage(err)}`, { retryable: true, cause: err });
      }
      await heartbeat();
    }
    const last = batch.records[batch.records.length - 1];
    if (last) await this.consumer!.commit([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
  }
}
