// The receiver role: the gRPC and HTTP listeners over one Export handler, one in-flight budget
// and one cardinality guard, started and stopped together. The composition root builds this
// from config; tests build it with a recording sink.

import type { Clock } from '../core/clock.js';
import type { Component } from '../core/lifecycle.js';
import type { BearerAuth } from '../core/bearer-auth.js';
import { CardinalityGuard } from './mapping/cardinality-guard.js';
import type { EventSink } from './event-sink.js';
import type { Logger } from '../core/logger.js';
import { ExportHandler } from './export-handler.js';
import { InFlightBudget } from './transport/inflight-budget.js';
import type { TlsMaterial } from './transport/listener-tls.js';
import type { OtlpDecoder } from './decode/otlp-decoder.js';
import { OtlpGrpcServer } from './transport/otlp-grpc-server.js';
import { OtlpHttpServer } from './transport/otlp-http-server.js';
import type { WireFormat } from './transport/otlp-response.js';
import type { Pseudonymizer } from './mapping/pseudonymizer.js';
import { ReceiverMetrics } from './receiver-metrics.js';
import { configDefaults } from '../config/schema.js';

export interface ListenAddress {
  host?: string;
  /** 0 picks a free port. */
  port: number;
}

export interface ReceiverLimits {
  /** gRPC message limit after decompression (default 4 MiB). */
  maxGrpcMessageBytes?: number;
  /** HTTP body limit after decompression (default 20 MiB). */
  maxHttpBodyBytes?: number;
  /** Request bytes held at once across both listeners (default 64 MiB). */
  maxInFlightBytes?: number;
  maxValueLength?: number;
  maxFeatures?: number;
  maxCohortsPerFeature?: number;
  /** A feature or variant unseen this long leaves the cardinality guard (default 24 h). */
  cardinalityIdleMs?: number;
  /** Longest span duration taken as a latency (default 1 h). */
  maxDurationMs?: number;
  /** Spans or log records per request (default 20,000); more: the request is refused. */
  maxRecordsPerRequest?: number;
  /** Attributes per request, nested ones included (default 400,000); more: refused. */
  maxAttributesPerRequest?: number;
  /** Objects in an OTLP/JSON body, counted before parsing (default 50,000). */
  maxJsonObjectsPerRequest?: number;
  grpcMaxConcurrentStreams?: number;
  grpcMaxSessionMemoryMiB?: number;
  /** Longest wait for in-flight bytes (gRPC reservation, HTTP chunk) before UNAVAILABLE / 429 (default 2 s). */
  admissionWaitMs?: number;
}

export interface OtlpReceiverOptions {
  grpc: ListenAddress;
  /** Omit to run gRPC only. */
  http?: ListenAddress;
  pseudonymizer: Pseudonymizer;
  sink: EventSink;
  attributeKeys?: ReadonlySet<string>;
  /** Features named by the rules: always admitted by the cardinality guard. */
  knownFeatures?: Iterable<string>;
  limits?: ReceiverLimits;
  publishTimeoutMs?: number;
  retryAfterMs?: number;
  auth?: BearerAuth;
  tls?: TlsMaterial;
  clock?: Clock;
  metrics?: ReceiverMetrics;
  logger: Logger;
  shutdownTimeoutMs?: number;
  decoders?: Partial<Record<WireFormat, OtlpDecoder>>;
}


export class OtlpReceiver implements Component {
  readonly name = 'otlp-receiver';
  readonly metrics: ReceiverMetrics;
  readonly budget: InFlightBudget;
  readonly cardinality: CardinalityGuard;
  readonly handler: ExportHandler;
  readonly grpc: OtlpGrpcServer;
  readonly http: OtlpHttpServer | undefined;
  private readonly sink: EventSink;

  constructor(opts: OtlpReceiverOptions) {
    const limits = opts.limits ?? {};
    this.sink = opts.sink;
    this.metrics = opts.metrics ?? new ReceiverMetrics();
    this.budget = new InFlightBudget(limits.maxInFlightBytes ?? configDefaults.receiver.maxInFlightBytes, opts.clock);
    this.cardinality = new CardinalityGuard({
      maxFeatures: limits.maxFeatures ?? 1000,
      maxCohortsPerFeature: limits.maxCohortsPerFeature ?? 100,
      idleMs: limits.cardinalityIdleMs ?? configDefaults.receiver.cardinalityIdleSeconds * 1000,
      knownFeatures: opts.knownFeatures,
      clock: opts.clock,
    });
    this.handler = new ExportHandler({
      sink: opts.sink,
      pseudonymizer: opts.pseudonymizer,
      metrics: this.metrics,
      attributeKeys: opts.attributeKeys,
      cardinality: this.cardinality,
      clock: opts.clock,
      maxValueLength: limits.maxValueLength,
      maxDurationMs: limits.maxDurationMs ?? configDefaults.receiver.maxSpanDurationSeconds * 1000,
      requestLimits: { maxRecords: limits.maxRecordsPerRequest, maxAttributes: limits.maxAttributesPerRequest, maxJsonObjects: limits.maxJsonObjectsPerRequest },
      publishTimeoutMs: opts.publishTimeoutMs,
      retryAfterMs: opts.retryAfterMs,
      logger: opts.logger,
      decoders: opts.decoders,
    });
    const budget = this.budget;
    const cardinality = this.cardinality;
    this.metrics.gauges = {
      inFlightBytes: () => budget.inUse,
      inFlightPeakBytes: () => budget.peak,
      inFlightLimitBytes: () => budget.maxBytes,
      budgetRefusals: () => budget.refused,
      trackedFeatures: () => cardinality.trackedFeatures,
      cardinalityForgotten: () => cardinality.forgotten,
    };
    const common = { handler: this.handler, budget, auth: opts.auth, tls: opts.tls, clock: opts.clock, shutdownTimeoutMs: opts.shutdownTimeoutMs };
    this.grpc = new OtlpGrpcServer({
      ...common, host: opts.grpc.host, port: opts.grpc.port, maxMessageBytes: limits.maxGrpcMessageBytes,
      maxConcurrentStreams: limits.grpcMaxConcurrentStreams, maxSessionMemoryMiB: limits.grpcMaxSessionMemoryMiB,
      admissionWaitMs: limits.admissionWaitMs,
    });
    this.http = opts.http
      ? new OtlpHttpServer({ ...common, host: opts.http.host, port: opts.http.port, maxBodyBytes: limits.maxHttpBodyBytes, admissionWaitMs: limits.admissionWaitMs })
      : undefined;
  }

  /** The bound gRPC port; throws before start(). */
  get port(): number {
    return this.grpc.port;
  }

  /** The bound HTTP port, if HTTP is on; throws before start(). */
  get httpPort(): number | undefined {
    return this.http?.port;
  }

  async start(): Promise<void> {
    await this.sink.start?.();
    await this.grpc.start();
    try {
      await this.http?.start();
    } catch (err) {
      await this.grpc.stop();
      throw err;
    }
  }

  /** Both listeners drain at once, so shutdown takes one grace period, not two. */
  async stop(): Promise<void> {
    const results = await Promise.allSettled([this.grpc.stop(), this.http?.stop()]);
    // After the listeners drained: no publish is left that a marker could go with.
    results.push(...(await Promise.allSettled([this.sink.stop?.()])));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
