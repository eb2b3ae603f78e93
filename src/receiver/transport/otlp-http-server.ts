// OTLP/HTTP listener (node:http, or node:https with TLS/mTLS): POST /v1/traces and /v1/logs,
// application/x-protobuf or application/json, identity / gzip / deflate bodies. Statuses follow
// the OTLP specification: 200 (with partial_success when records were rejected), 400 bad data,
// 401 no valid token, 413 over the size limit after decompression, 415 unsupported type or
// encoding, 429 at the in-flight bound (after waiting up to admissionWaitMs for it) and 503 when the log is unavailable (both with
// Retry-After; OTLP clients retry only on 429/502/503/504). Error bodies are google.rpc.Status
// in the request's content type, which every response echoes.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../core/clock.js';
import { errorMessage, PmfError } from '../../core/errors.js';
import type { BearerAuth } from '../../core/bearer-auth.js';
import type { ExportHandler, ExportOutcome } from '../export-handler.js';
import { parseContentEncoding, readBody, type BodyReadStats } from './http-body-reader.js';
import type { InFlightBudget } from './inflight-budget.js';
import { httpsServerOptions, type TlsMaterial } from './listener-tls.js';
import { encodeExportResponse, type WireFormat } from './otlp-response.js';
import { OtlpListener } from './otlp-listener.js';
import { ReceiverMetrics, type OtlpSignal } from '../receiver-metrics.js';
import { encodeRpcStatus, rpcStatusJson } from './rpc-status.js';
import { configDefaults } from '../../config/schema.js';
import { jsonObjectPrecheck, protobufRecordPrecheck } from '../decode/streaming-precheck.js';

export interface OtlpHttpServerOptions {
  host?: string;
  /** 0 picks a free port; read it from `port` after start(). */
  port: number;
  handler: ExportHandler;
  budget: InFlightBudget;
  /** Max body size after decompression (default 20 MiB, the specification's recommendation). */
  maxBodyBytes?: number;
  /** Longest wait per chunk for in-flight bytes before 429 (default: the config's). */
  admissionWaitMs?: number;
  auth?: BearerAuth;
  tls?: TlsMaterial;
  clock?: Clock;
  /** How long stop() lets in-flight requests finish before closing their connections (default: the config's shutdownTimeoutMs). */
  shutdownTimeoutMs?: number;
  /** Whole-request deadline, against clients that trickle bytes (default 60 s). */
  requestTimeoutMs?: number;
  /** Called with each body read's inflation count (tests check that bombs are cut short). */
  onBodyRead?: (stats: BodyReadStats) => void;
}


const ROUTES: Record<string, OtlpSignal> = { '/v1/traces': 'traces', '/v1/logs': 'logs' };
const CONTENT_TYPES: Record<WireFormat, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

function formatOf(contentType: string | undefined): WireFormat | undefined {
  const mime = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (mime === 'application/x-protobuf' || mime === 'application/protobuf') return 'protobuf';
  if (mime === 'application/json') return 'json';
  return undefined;
}

interface Answer {
  status: number;
  /** gRPC status code carried in the google.rpc.Status body. */
  code: grpc.status;
  message: string;
  retryAfterMs?: number;
  headers?: Record<string, string>;
}

export class OtlpHttpServer extends OtlpListener<Server> {
  readonly name = 'otlp-http-server';

  constructor(private readonly opts: OtlpHttpServerOptions) {
    super(opts.handler, opts.clock, 'HTTP');
  }

  async start(): Promise<void> {
    if (this.server) return;
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      this.route(req, res).catch((err: unknown) => {
        // route() answers every outcome itself; this is only a guard against a bug.
        if (!res.headersSent) this.answer(res, undefined, 'json', { status: 500, code: grpc.status.INTERNAL, message: 'internal error' });
        else res.destroy(err instanceof Error ? err : undefined);
      });
    };
    const server = this.opts.tls ? createHttpsServer(httpsServerOptions(this.opts.tls), listener) : createHttpServer(listener);
    server.requestTimeout = this.opts.requestTimeoutMs ?? 60_000;
    server.headersTimeout = Math.min(server.requestTimeout, 20_000);
    const host = this.opts.host ?? '0.0.0.0';
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.opts.port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      throw new PmfError('ERR_CONFIG_INVALID', `cannot listen for OTLP/HTTP on ${host}:${this.opts.port}: ${errorMessage(err)}`, { cause: err });
    }
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
  }

  protected async shutdown(server: Server): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimeout(() => {
        server.closeAllConnections();
        resolve();
      }, this.opts.shutdownTimeoutMs ?? configDefaults.shutdownTimeoutMs);
      server.close(() => {
        timer.cancel();
        resolve();
      });
      server.closeIdleConnections();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const signal = ROUTES[path];
    const format = formatOf(req.headers['content-type']);
    if (!signal) return this.answer(res, undefined, format ?? 'json', { status: 404, code: grpc.status.NOT_FOUND, message: `no OTLP endpoint at ${path}; use /v1/traces or /v1/logs` });
    if (req.method !== 'POST') {
      return this.answer(res, signal, format ?? 'json', { status: 405, code: grpc.status.UNIMPLEMENTED, message: 'OTLP/HTTP takes POST', headers: { allow: 'POST' } });
    }
    if (this.opts.auth && !this.opts.auth.accepts(req.headers.authorization)) {
      return this.answer(res, signal, format ?? 'json', {
        status: 401, code: grpc.status.UNAUTHENTICATED, message: 'missing or invalid bearer token', headers: { 'www-authenticate': 'Bearer realm="pmf-guard"' },
      });
    }
    if (!format) {
      return this.answer(res, signal, 'json', { status: 415, code: grpc.status.INVALID_ARGUMENT, message: 'Content-Type must be application/x-protobuf or application/json' });
    }
    const encoding = parseContentEncoding(req.headers['content-encoding']);
    if (!encoding) {
      return this.answer(res, signal, format, { status: 415, code: grpc.status.INVALID_ARGUMENT, message: 'Content-Encoding must be gzip, deflate or identity' });
    }
    const maxBytes = this.opts.maxBodyBytes ?? configDefaults.receiver.maxHttpBodyBytes;
    const declared = Number(req.headers['content-length'] ?? NaN);
    // Nothing of a body declared too large is read; closing spares draining all of it.
    if (declared > maxBytes) return this.answer(res, signal, format, { ...tooLarge(maxBytes), headers: { connection: 'close' } });
    const lease = this.opts.budget.tryAcquire(0)!;
    const stats: BodyReadStats = { inflatedBytes: 0 };
    // Identity bodies are checked by the decoders; a compressed one is checked as it inflates.
    const caps = this.handler.requestLimits;
    const precheck = format === 'json' ? jsonObjectPrecheck(caps.maxJsonObjects)
      : encoding !== 'identity' ? protobufRecordPrecheck(signal, caps.maxRecords, caps.maxAttributes) : undefined;
    const waitMs = this.opts.admissionWaitMs ?? configDefaults.receiver.admissionWaitMs;
    const read = await readBody(req, { maxBytes, encoding, lease, precheck, waitMs }, stats);
    this.opts.onBodyRead?.(stats);
    if (!read.ok) {
      lease.release();
      if (read.reason === 'aborted') return;
      if (read.reason === 'too_large') return this.answer(res, signal, format, tooLarge(maxBytes));
      if (read.reason === 'overloaded') return this.answer(res, signal, format, this.overloaded(read.message));
      if (read.reason === 'limit') ReceiverMetrics.add(this.metrics.rejected, read.limit.reason);
      return this.answer(res, signal, format, { status: 400, code: grpc.status.INVALID_ARGUMENT, message: read.message });
    }
    const outcome = await this.handler.export(signal, format, read.body, lease);
    if (outcome.kind === 'ok') {
      const body = encodeExportResponse(signal, format, outcome.partial);
      this.count(signal, 200);
      res.writeHead(200, { 'content-type': CONTENT_TYPES[format], 'content-length': body.length });
      res.end(body);
      return;
    }
    this.answer(res, signal, format, answerFor(outcome));
  }

  private overloaded(message: string): Answer {
    return { status: 429, code: grpc.status.UNAVAILABLE, message, retryAfterMs: this.handler.retryAfterMs };
  }

  private answer(res: ServerResponse, signal: OtlpSignal | undefined, format: WireFormat, a: Answer): void {
    const status = { code: a.code, message: a.message, retryDelayMs: a.retryAfterMs };
    const body = format === 'json' ? Buffer.from(JSON.stringify(rpcStatusJson(status))) : Buffer.from(encodeRpcStatus(status));
    const headers: Record<string, string | number> = { 'content-type': CONTENT_TYPES[format], 'content-length': body.length, ...a.headers };
    if (a.retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(a.retryAfterMs / 1000)));
    this.count(signal, a.status);
    res.writeHead(a.status, headers);
    res.end(body);
  }
}

function tooLarge(maxBytes: number): Answer {
  return { status: 413, code: grpc.status.RESOURCE_EXHAUSTED, message: `request body exceeds ${maxBytes} bytes after decompression` };
}

function answerFor(outcome: Exclude<ExportOutcome, { kind: 'ok' }>): Answer {
  switch (outcome.kind) {
    case 'invalid':
      return { status: 400, code: grpc.status.INVALID_ARGUMENT, message: outcome.message };
    case 'unavailable':
      // The in-flight budget (spent while decoding) is 429, like a refusal on arrival; the log is 503.
      return { status: outcome.overloaded ? 429 : 503, code: grpc.status.UNAVAILABLE, message: outcome.message, retryAfterMs: outcome.retryAfterMs };
    case 'internal':
      return { status: 500, code: grpc.status.INTERNAL, message: outcome.message };
  }
}
