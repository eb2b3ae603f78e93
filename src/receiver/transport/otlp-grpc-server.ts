// OTLP/gRPC listener (TraceService/Export, LogsService/Export). Bodies arrive as raw bytes so
// decode errors are ours to answer (INVALID_ARGUMENT, never INTERNAL). grpc-js decompresses
// grpc-encoding gzip/deflate itself and enforces the size limit on the decompressed message
// (RESOURCE_EXHAUSTED, not retryable; fixed for bombs in 1.10.9, CVE-2024-37168). A bearer token
// is checked on the metadata, before the message is read, and so is admission: each call reserves
// twice the largest message it may send (grpc-js holds the frames and their concatenation) from
// the in-flight budget (waiting a bounded time in FIFO order)
// before grpc-js reads a byte of it, and keeps only its real size once it is decoded, so messages
// grpc-js buffers are inside the budget and an overload is refused before it costs memory. A request is answered OK only after
// the sink has made its events durable (docs/architecture.md); backpressure is UNAVAILABLE with
// google.rpc.RetryInfo in grpc-status-details-bin.

import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../core/clock.js';
import { errorMessage, PmfError } from '../../core/errors.js';
import type { BearerAuth } from '../../core/bearer-auth.js';
import type { ExportHandler, ExportOutcome } from '../export-handler.js';
import type { InFlightBudget, Lease } from './inflight-budget.js';
import { grpcServerCredentials, type TlsMaterial } from './listener-tls.js';
import { encodeExportResponse } from './otlp-response.js';
import { OtlpListener } from './otlp-listener.js';
import type { OtlpSignal } from '../receiver-metrics.js';
import { encodeRpcStatus } from './rpc-status.js';
import { configDefaults } from '../../config/schema.js';

export interface OtlpGrpcServerOptions {
  host?: string;
  /** 0 picks a free port; read it from `port` after start(). */
  port: number;
  handler: ExportHandler;
  budget: InFlightBudget;
  /** Max decompressed request size; over it grpc-js answers RESOURCE_EXHAUSTED (default 4 MiB). */
  maxMessageBytes?: number;
  /** Concurrent calls per connection (default: the config's). */
  maxConcurrentStreams?: number;
  /** HTTP/2 session memory per connection in MiB before new streams are refused (default: the config's). */
  maxSessionMemoryMiB?: number;
  /** Longest wait for the in-flight reservation before UNAVAILABLE (default: the config's). */
  admissionWaitMs?: number;
  auth?: BearerAuth;
  tls?: TlsMaterial;
  clock?: Clock;
  /** How long stop() lets in-flight requests finish before cancelling them (default: the config's shutdownTimeoutMs). */
  shutdownTimeoutMs?: number;
}

export const TRACE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
export const LOGS_EXPORT_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

const identity = (b: Buffer): Buffer => b;

function rawMethod(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path, requestStream: false, responseStream: false,
    requestSerialize: identity, requestDeserialize: identity,
    responseSerialize: identity, responseDeserialize: identity,
  };
}

/** A call's admission reservation, until the handler takes it over with the message. */
interface Reservation {
  lease: Lease;
  claimed: boolean;
}

function statusError(code: grpc.status, details: string, retryAfterMs?: number): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(encodeRpcStatus({ code, message: details, retryDelayMs: retryAfterMs })));
  return { code, details, metadata };
}

function overloaded(retryAfterMs: number): grpc.StatusObject {
  return statusError(grpc.status.UNAVAILABLE, 'receiver is at its in-flight memory bound, retry later', retryAfterMs) as grpc.StatusObject;
}

export class OtlpGrpcServer extends OtlpListener<grpc.Server> {
  readonly name = 'otlp-grpc-server';

  constructor(private readonly opts: OtlpGrpcServerOptions) {
    super(opts.handler, opts.clock, 'gRPC');
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = new grpc.Server({
      'grpc.max_receive_message_length': this.opts.maxMessageBytes ?? configDefaults.receiver.maxMessageBytes,
      // grpc-js cannot cap connections; streams and session memory per connection it can, and
      // idle connections are closed so abandoned ones do not pile up.
      'grpc.max_concurrent_streams': this.opts.maxConcurrentStreams ?? configDefaults.receiver.grpcMaxConcurrentStreams,
      'grpc-node.max_session_memory': this.opts.maxSessionMemoryMiB ?? configDefaults.receiver.grpcMaxSessionMemoryMiB,
      'grpc.max_connection_idle_ms': 5 * 60_000,
      interceptors: [this.admission],
    });
    server.addService({ Export: rawMethod(TRACE_EXPORT_PATH) }, { Export: this.unary('traces') });
    server.addService({ Export: rawMethod(LOGS_EXPORT_PATH) }, { Export: this.unary('logs') });
    const address = `${this.opts.host ?? '0.0.0.0'}:${this.opts.port}`;
    this.server = server;
    try {
      const creds = grpcServerCredentials(this.opts.tls);
      this.boundPort = await new Promise<number>((resolve, reject) => {
        server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port)));
      });
    } catch (err) {
      this.server = undefined;
      server.forceShutdown();
      throw new PmfError('ERR_CONFIG_INVALID', `cannot listen for OTLP/gRPC on ${address}: ${errorMessage(err)}`, { cause: err });
    }
  }

  protected async shutdown(server: grpc.Server): Promise<void> {
    const timeoutMs = this.opts.shutdownTimeoutMs ?? configDefaults.shutdownTimeoutMs;
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
  }

  /** Metadata objects reach the handler unchanged, so they carry the reservation across. */
  private readonly reservations = new WeakMap<grpc.Metadata, Reservation>();

  /**
   * Auth, then admission, on the metadata: the message is not read (grpc-js keeps the stream
   * paused, HTTP/2 flow control holds the sender) until the call's reservation is granted.
   */
  private readonly admission: grpc.ServerInterceptor = (method, call) => {
    let reservation: Reservation | undefined;
    let cancelled = false;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMetadata: (metadata, proceed) => {
          const auth = this.opts.auth;
          if (auth) {
            const header = metadata.get('authorization')[0];
            if (!auth.accepts(typeof header === 'string' ? header : undefined)) {
              call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: 'missing or invalid bearer token', metadata: new grpc.Metadata() });
              return;
            }
          }
          // grpc-js holds a message's frames and then their concatenation: twice its size at the peak
          // (the whole budget when it is smaller, which the config refuses but direct use may set).
          const bytes = Math.min(this.opts.budget.maxBytes, 2 * (this.opts.maxMessageBytes ?? configDefaults.receiver.maxMessageBytes));
          const waitMs = this.opts.admissionWaitMs ?? configDefaults.receiver.admissionWaitMs;
          void this.opts.budget.acquire(bytes, waitMs).then((lease) => {
            if (cancelled) return lease?.release();
            if (!lease) {
              const signal: OtlpSignal = method.path === LOGS_EXPORT_PATH ? 'logs' : 'traces';
              this.countStatus(signal, grpc.status.UNAVAILABLE);
              call.sendStatus(overloaded(this.handler.retryAfterMs));
              return;
            }
            reservation = { lease, claimed: false };
            this.reservations.set(metadata, reservation);
            proceed(metadata);
          });
        },
        onCancel: () => {
          cancelled = true;
          // Once the handler has the lease it holds it until the sink settles.
          if (reservation && !reservation.claimed) reservation.lease.release();
        },
      }),
    });
  };

  private unary(signal: OtlpSignal): grpc.handleUnaryCall<Buffer, Buffer> {
    return (call, callback) => {
      const body = call.request;
      const reservation = this.reservations.get(call.metadata);
      let lease: Lease | undefined;
      if (reservation && !reservation.claimed) {
        reservation.claimed = true;
        lease = reservation.lease;
        // The message and then its decoded size are charged to the reservation; the handler
        // gives back what is left of it once the request is decoded.
        lease.grow(body.length);
      } else lease = this.opts.budget.tryAcquire(body.length);
      if (!lease) {
        this.countStatus(signal, grpc.status.UNAVAILABLE);
        callback(overloaded(this.handler.retryAfterMs));
        return;
      }
      void this.handler.export(signal, 'protobuf', body, lease).then((outcome) => this.reply(signal, outcome, callback));
    };
  }

  private reply(signal: OtlpSignal, outcome: ExportOutcome, callback: grpc.sendUnaryData<Buffer>): void {
    switch (outcome.kind) {
      case 'ok':
        this.countStatus(signal, grpc.status.OK);
        callback(null, encodeExportResponse(signal, 'protobuf', outcome.partial));
        return;
      case 'invalid':
        this.countStatus(signal, grpc.status.INVALID_ARGUMENT);
        callback(statusError(grpc.status.INVALID_ARGUMENT, outcome.message));
        return;
      case 'unavailable':
        this.countStatus(signal, grpc.status.UNAVAILABLE);
        callback(statusError(grpc.status.UNAVAILABLE, outcome.message, outcome.retryAfterMs));
        return;
      case 'internal':
        this.countStatus(signal, grpc.status.INTERNAL);
        callback(statusError(grpc.status.INTERNAL, outcome.message));
    }
  }

  private countStatus(signal: OtlpSignal, code: grpc.status): void {
    this.count(signal, grpc.status[code]);
  }
}
