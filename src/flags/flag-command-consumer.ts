// The flag-writer role's Kafka side: applies commands in offset order and commits a batch's
// offsets only after every command in it is committed in PostgreSQL. If PostgreSQL is down the
// batch throws, nothing is committed, and the log re-delivers it; replays are no-ops thanks to
// the applied_commands primary key.
//
// The commands topic is a control plane: only commands signed with the shared command key
// (events/command-signature.ts) and naming a feature the rules declare are applied. Anything else
// is refused, counted by reason and logged, and skipped: blocking the partition on it would stop
// every later rollback.

import { PmfError, errorMessage } from '../core/errors.js';
import { once, type Component } from '../core/lifecycle.js';
import { decodeFlagCommand } from '../events/codec.js';
import { verifyCommand, type CommandKeyRing } from '../events/command-signature.js';
import type { FlagCommand } from '../events/flag-command.js';
import type { GroupConsumer, PartitionBatch, PartitionedLog } from '../log/partitioned-log.js';
import type { FlagWriter } from './flag-writer.js';

export type CommandRefusal = 'malformed' | 'unsigned' | 'unknown_key' | 'bad_signature' | 'undeclared_feature' | 'invalid';

export interface FlagCommandConsumerOptions {
  log: PartitionedLog;
  writer: Pick<FlagWriter, 'apply'>;
  groupId: string;
  topic: string;
  /** The keys a command's signature must verify with. */
  keyRing: CommandKeyRing;
  /** Whether the rules in force declare this feature; commands for any other are refused. */
  isDeclared: (feature: string) => boolean;
  onError?: (err: unknown, context: string) => void;
}

export class FlagCommandConsumer implements Component {
  readonly name = 'flag-command-consumer';
  private consumer?: GroupConsumer;
  /** Commands refused, by reason (pmf_flag_commands_refused_total). */
  readonly refused = new Map<CommandRefusal, number>();

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

  private refuse(reason: CommandRefusal, where: string, detail: string, cause?: unknown): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
    this.o.onError?.(new PmfError('ERR_COMMAND_REFUSED', `flag command at ${where} refused (${reason}): ${detail}`, { cause }), 'flag command refused');
  }

  /** Why a decoded command must not be applied, or undefined if it may. */
  private check(command: FlagCommand): CommandRefusal | undefined {
    const sig = verifyCommand(command, this.o.keyRing);
    if (sig !== 'ok') return sig;
    return this.o.isDeclared(command.feature) ? undefined : 'undeclared_feature';
  }

  private async handle(batch: PartitionBatch, heartbeat: () => Promise<void>): Promise<void> {
    for (const record of batch.records) {
      const where = `${batch.topic}/${batch.partition}@${record.offset}`;
      let command: FlagCommand;
      try {
        command = decodeFlagCommand(record.value);
      } catch (err) {
        this.refuse('malformed', where, errorMessage(err), err);
        continue;
      }
      const refusal = this.check(command);
      if (refusal) {
        this.refuse(refusal, where, `command ${command.commandId} (${command.source} ${command.action} of ${JSON.stringify(command.feature)} / ${JSON.stringify(command.cohort)})`);
        continue;
      }
      try {
        await this.o.writer.apply(command);
      } catch (err) {
        if (err instanceof PmfError && err.code === 'ERR_EVENT_DECODE') {
          // Malformed beyond decoding (e.g. a cohort named "version"): retrying cannot help.
          // Anything else (a missing schema, a denied permission) is thrown: a rollback must
          // never be skipped because of an operational fault.
          this.refuse('invalid', where, `command ${command.commandId}: ${errorMessage(err)}`, err);
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
