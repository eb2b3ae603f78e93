// Producer of the embedded log: send resolves once the records are appended (and synced to disk,
// if the log was opened with fsync), which is the embedded equivalent of a Kafka acks=all ack.

import { once } from '../../core/lifecycle.js';
import { PmfError } from '../../core/errors.js';
import type { EmbeddedTopicStore } from './embedded-topic-store.js';
import type { LogProducer, LogRecord } from '../partitioned-log.js';

export class EmbeddedProducer implements LogProducer {
  private phase: 'new' | 'running' | 'stopped' = 'new';
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    readonly name: string,
    private readonly store: EmbeddedTopicStore,
    private readonly ready: () => Promise<void>,
  ) {}

  async start(): Promise<void> {
    if (this.phase === 'stopped') throw new PmfError('ERR_STOPPED', `producer ${this.name} was stopped`);
    await this.ready();
    if (this.phase === 'new') this.phase = 'running';
  }

  async send(topic: string, records: LogRecord[]): Promise<void> {
    if (this.phase !== 'running') {
      throw new PmfError('ERR_STOPPED', `producer ${this.name} is ${this.phase === 'new' ? 'not started' : 'stopped'}`);
    }
    if (records.length === 0) return;
    const append = this.store.append(topic, records);
    this.inFlight.add(append);
    try {
      await append;
    } finally {
      this.inFlight.delete(append);
    }
  }

  /** Stops accepting sends and waits for those already appending. */
  readonly stop = once(async () => {
    this.phase = 'stopped';
    await Promise.allSettled([...this.inFlight]);
  });
}
