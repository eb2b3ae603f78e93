// OTLP/gRPC listener (TraceService/Export, LogsService/Export). Bodies arrive as raw bytes so
// decode errors are ours to answer (INVALID_ARGUMENT, never INTERNAL). A request is answered OK
// only after the sink has made its events durable (DESIGN section 6).

import * as grpc from '@grpc/grpc-js';
import { systemClock, type Clock } from '../core/clock.js';
import { errorMessage, isRetryable, PmfError } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import type { EventSink } from './event-sink.js';
import type { MapResult } from './feature-mapper.js';
import { mapLogs, mapTraces } from './feature-mapper.js';
import type { OtlpDecoder } from './otlp-decoder.js';
import { createProtobufDecoder, encodeLogsResponse, encodeTraceResponse } from './otlp-decoder.js';
import type { Pseudonymizer } from './pseudonymizer.js';
import { ReceiverMetrics, type OtlpSignal } from './receiver-metrics.js';

export interface ReceiverLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface OtlpGrpcServerOptions {
  host?: string;
  /** 0 picks a free port; read it from `port` after start(). */
  port: number;
  pseudonymizer: Pseudonymizer;
  sink: EventSink;
  /** Keys projected into FeatureEvent.attrs (the loaded rules' activation attribute keys). */
  attributeKeys?: ReadonlySet<string>;
  clock?: Clock;
  /** Max decompressed request size; over it grpc-js answers RESOURCE_EXHAUSTED (default 4 MiB). */
  maxMessageBytes?: number;
  maxValueLength?: number;
  metrics?: ReceiverMetrics;
  logger?: ReceiverLogger;
  credentials?: grpc.ServerCredentials;
  decoder?: OtlpDecoder;
  /** How long stop() lets in-flight requests finish before cancelling them (default 5 s). */
  shutdownTimeoutMs?: number;
}

export const TRACE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
export const LOGS_EXPORT_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

const identity = (b: Buffer): Buffer => b;

function rawMethod(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path, requestStream: false, responseStream: false,
    requestSerialize: identity, requestDeserialize: identity,
    responseSerialize: identity, responseDeserialize: identity,
  };
}

class StatusError {
  constructor(readonly code: grpc.status, readonly details: string) {}
}

export class OtlpGrpcServer implements Component {
  readonly name = 'otlp-grpc-server';
  readonly metrics: ReceiverMetrics;
  private server: grpc.Server | undefined;
  private stopping: Promise<void> | undefined;
  private boundPort: number | undefined;
  private readonly clock: Clock;
  private readonly decoder: OtlpDecoder;

  constructor(private readonly opts: OtlpGrpcServerOptions) {
    this.metrics = opts.metrics ?? new ReceiverMetrics();
    this.clock = opts.clock ?? systemClock;
    this.decoder = opts.decoder ?? createProtobufDecoder();
  }

  /** The bound port; throws before start(). */
  get port(): number {
    if (this.boundPort === undefined) throw new PmfError('ERR_STOPPED', 'OTLP gRPC server is not started');
    return this.boundPort;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = new grpc.Server({
      'grpc.max_receive_message_length': this.opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    });
    server.addService({ Export: rawMethod(TRACE_EXPORT_PATH) }, { Export: this.unary('traces') });
    server.addService({ Export: rawMethod(LOGS_EXPORT_PATH) }, { Export: this.unary('logs') });
    const address = `${this.opts.host ?? '0.0.0.0'}:${this.opts.port}`;
    const creds = this.opts.credentials ?? grpc.ServerCredentials.createInsecure();
    this.server = server;
    try {
      this.boundPort = await new Promise<number>((resolve, reject) => {
        server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port)));
      });
    } catch (err) {
      this.server = undefined;
      server.forceShutdown();
      throw new PmfError('ERR_CONFIG_INVALID', `cannot listen for OTLP/gRPC on ${address}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Idempotent and safe before start(); concurrent callers share one shutdown. */
  stop(): Promise<void> {
    const server = this.server;
    if (server) {
      this.server = undefined;
      this.stopping = this.shutdown(server);
    }
    return this.stopping ?? Promise.resolve();
  }

  private async shutdown(server: grpc.Server): Promise<void> {
    const timeoutMs = this.opts.shutdownTimeoutMs ?? 5000;
    await new Promise<void>((resolve) => {
      // In-flight exports get a grace period to finish (their events may already be acked).
      const timer = this.clock.setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, timeoutMs);
      server.tryShutdown(() => {
        timer.cancel();
        resolve();
      });
    });
    this.boundPort = undefined;
  }

  private unary(signal: OtlpSignal): grpc.handleUnaryCall<Buffer, Buffer> {
    return (call, callback) => {
      this.handle(signal, call.request).then(
        (reply) => {
          this.count(signal, grpc.status.OK);
          callback(null, reply);
        },
        (err: unknown) => {
          const s = err instanceof StatusError ? err : new StatusError(grpc.status.INTERNAL, 'internal error');
          if (!(err instanceof StatusError)) this.opts.logger?.error('otlp export failed', { signal, error: errorMessage(err) });
          this.count(signal, s.code);
          callback({ code: s.code, details: s.details });
        },
      );
    };
  }

  private async handle(signal: OtlpSignal, body: Buffer): Promise<Buffer> {
    const mapped = this.decodeAndMap(signal, body);
    const m = this.metrics;
    ReceiverMetrics.add(m.received, signal, mapped.received);
    m.addAll(m.rejected, mapped.rejectReasons);
    m.addAll(m.skipped, mapped.skipped);
    if (mapped.events.length > 0) {
      try {
        await this.opts.sink.publish(mapped.events);
      } catch (err) {
        const retryable = isRetryable(err);
        this.opts.logger?.warn('event sink refused a batch', { signal, retryable, error: errorMessage(err) });
        throw new StatusError(
          retryable ? grpc.status.UNAVAILABLE : grpc.status.INTERNAL,
          retryable ? `event log unavailable, retry: ${errorMessage(err)}` : 'event log rejected the batch',
        );
      }
      m.eventsProduced += mapped.events.length;
    }
    const partial = mapped.rejected > 0 ? { rejected: mapped.rejected, errorMessage: describeRejects(mapped) } : undefined;
    return Buffer.from(signal === 'traces' ? encodeTraceResponse(partial) : encodeLogsResponse(partial));
  }

  private decodeAndMap(signal: OtlpSignal, body: Buffer): MapResult {
    const mapperOpts = {
      attributeKeys: this.opts.attributeKeys ?? new Set<string>(),
      now: this.clock.now(),
      pseudonymize: this.opts.pseudonymizer.fn,
      maxValueLength: this.opts.maxValueLength,
    };
    try {
      return signal === 'traces'
        ? mapTraces(this.decoder.decodeTraces(body), mapperOpts)
        : mapLogs(this.decoder.decodeLogs(body), mapperOpts);
    } catch (err) {
      if (err instanceof PmfError && err.code === 'ERR_OTLP_DECODE') {
        ReceiverMetrics.add(this.metrics.rejected, 'decode_error');
        throw new StatusError(grpc.status.INVALID_ARGUMENT, err.message);
      }
      throw err;
    }
  }

  private count(signal: OtlpSignal, code: grpc.status): void {
    ReceiverMetrics.add(this.metrics.requests, `${signal}:${grpc.status[code]}`);
  }
}

function describeRejects(r: MapResult): string {
  const parts = Object.entries(r.rejectReasons).map(([reason, n]) => `${n} ${reason}`);
  return `rejected ${r.rejected} record(s): ${parts.join(', ')}`;
}
