// Test doubles and raw gRPC calls for the receiver's integration tests.

import * as grpc from '@grpc/grpc-js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import type { EventSink } from '../../../src/receiver/event-sink.js';

/** Records published batches; optionally fails or blocks, like a broker would. */
export class RecordingSink implements EventSink {
  readonly batches: FeatureEvent[][] = [];
  failWith: unknown;
  block = false;
  private entered: (() => void)[] = [];
  private waiting = 0;

  get events(): FeatureEvent[] {
    return this.batches.flat();
  }

  async publish(events: FeatureEvent[]): Promise<void> {
    this.waiting++;
    for (const f of this.entered.splice(0)) f();
    if (this.block) await new Promise<never>(() => {});
    if (this.failWith !== undefined) throw this.failWith;
    this.batches.push(events);
  }

  /** Resolves once a publish() call has started. */
  whenCalled(): Promise<void> {
    return this.waiting > 0 ? Promise.resolve() : new Promise((resolve) => this.entered.push(resolve));
  }
}

export interface RawReply {
  error: grpc.ServiceError | null;
  body?: Buffer;
}

const identity = (b: Buffer): Buffer => b;

export function rawUnary(port: number, path: string, body: Uint8Array): Promise<RawReply> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, Buffer.from(body), (error, reply) => {
      client.close();
      resolve({ error: error ?? null, body: reply });
    });
  });
}
