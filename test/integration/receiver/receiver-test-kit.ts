// Test doubles, a receiver on free ports, and raw gRPC / HTTP calls for the receiver's integration tests.

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { silentLogger } from '../../../src/core/logger.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import type { EventSink } from '../../../src/receiver/event-sink.js';
import { decodeEventRecord } from '../../../src/events/event-record-codec.js';
import { RequestCounter } from '../../../src/receiver/decode/request-limits.js';
import { createScannerDecoder } from '../../../src/receiver/decode/otlp-scanner.js';
import type { LogRecord } from '../../../src/log/partitioned-log.js';
import { OtlpReceiver, type OtlpReceiverOptions } from '../../../src/receiver/otlp-receiver.js';
import { Pseudonymizer } from '../../../src/receiver/mapping/pseudonymizer.js';

export const testPseudonymizer = new Pseudonymizer('integration-test-key-0123');

/** Records published batches; optionally fails or blocks, like a broker would. */
export class RecordingSink implements EventSink {
  /** One partition: the tests read events in request order (grouping is unit-tested). */
  readonly partitions = 1;
  readonly batches: FeatureEvent[][] = [];
  failWith: unknown;
  block = false;
  private entered: (() => void)[] = [];
  private blocked: (() => void)[] = [];
  private waiting = 0;

  get events(): FeatureEvent[] {
    return this.batches.flat();
  }

  async publish(records: LogRecord[]): Promise<void> {
    const events = records.flatMap((r) => decodeEventRecord(r.value));
    this.waiting++;
    for (const f of this.entered.splice(0)) f();
    if (this.block) await new Promise<void>((resolve) => this.blocked.push(resolve));
    if (this.failWith !== undefined) throw this.failWith;
    this.batches.push(events);
  }

  /** Lets every blocked publish() finish. */
  unblock(): void {
    this.block = false;
    for (const f of this.blocked.splice(0)) f();
  }

  /** Resolves once a publish() call has started. */
  whenCalled(): Promise<void> {
    return this.waiting > 0 ? Promise.resolve() : new Promise((resolve) => this.entered.push(resolve));
  }
}

/** Bytes the receiver's in-flight budget holds for this protobuf traces body: wire plus decoded size. */
export function budgetFor(body: Uint8Array): number {
  const counter = new RequestCounter();
  createScannerDecoder().decodeTraces(body, counter);
  return body.length + counter.decodedBytes;
}

const receivers: OtlpReceiver[] = [];

/** A receiver on free loopback ports (gRPC and HTTP) over a recording sink. */
export async function startReceiver(extra: Partial<OtlpReceiverOptions> = {}): Promise<{ receiver: OtlpReceiver; sink: RecordingSink }> {
  const sink = new RecordingSink();
  const receiver = new OtlpReceiver({
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    pseudonymizer: testPseudonymizer,
    sink,
    ...extra,
    logger: extra.logger ?? silentLogger,
  });
  receivers.push(receiver);
  await receiver.start();
  return { receiver, sink: (extra.sink as RecordingSink | undefined) ?? sink };
}

export async function stopReceivers(): Promise<void> {
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
}

export interface RawReply {
  error: grpc.ServiceError | null;
  body?: Buffer;
}

const identity = (b: Buffer): Buffer => b;

export interface RawUnaryOptions {
  metadata?: Record<string, string>;
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
}

export function rawUnary(port: number, path: string, body: Uint8Array, o: RawUnaryOptions = {}): Promise<RawReply> {
  const client = new grpc.Client(`127.0.0.1:${port}`, o.credentials ?? grpc.credentials.createInsecure(), o.channelOptions);
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(o.metadata ?? {})) md.set(k, v);
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, Buffer.from(body), md, (error, reply) => {
      client.close();
      resolve({ error: error ?? null, body: reply });
    });
  });
}

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface PostOptions {
  headers?: Record<string, string | number>;
  method?: string;
  /** https with these TLS client options. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string };
}

/** A plain HTTP(S) request; resolves with the whole answer. */
export function httpPost(port: number, path: string, body: Uint8Array | string, o: PostOptions = {}): Promise<HttpReply> {
  const request = o.tls ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: o.method ?? 'POST', headers: o.headers, agent: false,
      ...(o.tls ? { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, servername: o.tls.servername ?? 'localhost' } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(typeof body === 'string' ? body : Buffer.from(body));
  });
}
