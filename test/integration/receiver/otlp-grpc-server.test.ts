import { connect } from 'node:http2';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { PmfError } from '../../../src/core/errors.js';
import { otlpTypes } from '../../../src/receiver/decode/otlp-proto.js';
import { LOGS_EXPORT_PATH, TRACE_EXPORT_PATH } from '../../../src/receiver/transport/otlp-grpc-server.js';
import { OtlpReceiver, type OtlpReceiverOptions } from '../../../src/receiver/otlp-receiver.js';
import { logBytes, recordLogs, recordSpans, tamper, traceBytes } from '../../unit/receiver/otlp-fixtures.js';
import { decodeRpcStatus } from '../../../src/receiver/transport/rpc-status.js';
import { budgetFor, rawUnary, RecordingSink, startReceiver, stopReceivers, testPseudonymizer as pseudo } from './receiver-test-kit.js';
import { silentLogger } from '../../../src/core/logger.js';
import { waitFor } from '../../helpers/services.js';

async function startServer(extra: Partial<OtlpReceiverOptions> = {}): Promise<{ server: OtlpReceiver; sink: RecordingSink }> {
  const { receiver, sink } = await startReceiver({ http: undefined, ...extra });
  return { server: receiver, sink };
}

function sdkExport(port: number, spans: ReadableSpan[], compression?: 'gzip' | 'none'): Promise<{ code: number; error?: Error }> {
  type Config = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>;
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${port}`, compression: compression as Config['compression'] });
  return new Promise((resolve) => exporter.export(spans, (r) => { void exporter.shutdown(); resolve(r); }));
}

const flagSpan = (user: string, variant = 'treatment') => ({
  name: 'GET /dashboard',
  attributes: { 'feature_flag.key': 'new-dashboard', 'feature_flag.result.variant': variant, 'enduser.id': user },
});

afterEach(stopReceivers);

/** One gRPC call over bare HTTP/2 with a hand-made, gzip-flagged message frame. */
function compressedGrpcCall(port: number, path: string, gzipped: Buffer): Promise<{ status: number; message: string }> {
  const session = connect(`http://127.0.0.1:${port}`);
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-encoding': 'gzip',
    });
    const done = (h: Record<string, unknown>) => {
      if (h['grpc-status'] === undefined) return;
      session.close();
      resolve({ status: Number(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')) });
    };
    req.on('response', done);
    req.on('trailers', done);
    req.on('error', reject);
    req.resume();
    const header = Buffer.alloc(5);
    header.writeUInt8(1, 0);
    header.writeUInt32BE(gzipped.length, 1);
    req.end(Buffer.concat([header, gzipped]));
  });
}

const statusDetails = (err: grpc.ServiceError | null) => {
  const bin = err?.metadata.get('grpc-status-details-bin')[0];
  return bin instanceof Buffer ? decodeRpcStatus(bin) : undefined;
};

describe('OtlpGrpcServer', () => {
  it('accepts a real OpenTelemetry SDK export and publishes pseudonymised events', async () => {
    const { server, sink } = await startServer();
    const spans = await recordSpans([flagSpan('alice'), flagSpan('bob', 'control'), { name: 'no user' }]);
    const result = await sdkExport(server.port, spans);
    expect(result.error).toBeUndefined();
    expect(result.code).toBe(0);
    expect(sink.events.map((e) => [e.user, e.flags[0]?.variant])).toEqual([
      [pseudo.fn('alice'), 'treatment'], [pseudo.fn('bob'), 'control'],
    ]);
    expect(JSON.stringify(sink.events)).not.toMatch(/alice|bob/);
    expect(server.metrics.received.get('traces')).toBe(3);
    expect(server.metrics.skipped.get('no_user')).toBe(1);
    expect(server.metrics.eventsProduced).toBe(2);
    expect(server.metrics.requests.get('traces:OK')).toBe(1);
  });

  it('accepts gzip-compressed exports', async () => {
    const { server, sink } = await startServer();
    const result = await sdkExport(server.port, await recordSpans([flagSpan('carol')]), 'gzip');
    expect(result.code).toBe(0);
    expect(sink.events).toHaveLength(1);
  });

  it('answers malformed bodies with INVALID_ARGUMENT and keeps serving', async () => {
    const { server, sink } = await startServer();
    const bad = await rawUnary(server.port, TRACE_EXPORT_PATH, Buffer.from('definitely not protobuf'));
    expect(bad.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.error?.details).toMatch(/malformed ExportTraceServiceRequest/);
    const badLogs = await rawUnary(server.port, LOGS_EXPORT_PATH, Buffer.from([0x0a, 0xff, 0xff]));
    expect(badLogs.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    const good = await rawUnary(server.port, TRACE_EXPORT_PATH, traceBytes(await recordSpans([flagSpan('dave')])));
    expect(good.error).toBeNull();
    expect(sink.events).toHaveLength(1);
    expect(server.metrics.rejected.get('decode_error')).toBe(2);
    expect(server.metrics.requests.get('traces:INVALID_ARGUMENT')).toBe(1);
  });

  it('answers an empty request OK without publishing', async () => {
    const { server, sink } = await startServer();
    const reply = await rawUnary(server.port, TRACE_EXPORT_PATH, new Uint8Array());
    expect(reply.error).toBeNull();
    expect(reply.body?.length).toBe(0);
    expect(sink.batches).toHaveLength(0);
  });

  it('answers UNAVAILABLE for any sink failure, so the exporter keeps the data and retries', async () => {
    const { server, sink } = await startServer();
    const body = traceBytes(await recordSpans([flagSpan('erin')]));
    sink.failWith = new PmfError('ERR_LOG_UNAVAILABLE', 'broker down', { retryable: true });
    expect((await rawUnary(server.port, TRACE_EXPORT_PATH, body)).error?.code).toBe(grpc.status.UNAVAILABLE);
    sink.failWith = new PmfError('ERR_LOG_PRODUCE', 'record too large');
    expect((await rawUnary(server.port, TRACE_EXPORT_PATH, body)).error?.code).toBe(grpc.status.UNAVAILABLE);
    sink.failWith = undefined;
    expect((await rawUnary(server.port, TRACE_EXPORT_PATH, body)).error).toBeNull();
    expect(server.metrics.eventsProduced).toBe(1);
  });

  it('reports rejected spans as partial success and publishes the good ones', async () => {
    const { server, sink } = await startServer();
    const [broken, good] = await recordSpans([flagSpan('frank'), flagSpan('grace')]);
    const reply = await rawUnary(server.port, TRACE_EXPORT_PATH, traceBytes([tamper(broken, { traceId: 'ab' }), good]));
    expect(reply.error).toBeNull();
    const t = otlpTypes().traceResponse;
    const decoded = t.toObject(t.decode(reply.body!), { longs: Number });
    expect(decoded.partialSuccess.rejectedSpans).toBe(1);
    expect(decoded.partialSuccess.errorMessage).toMatch(/invalid_trace_id/);
    expect(sink.events.map((e) => e.user)).toEqual([pseudo.fn('grace')]);
    expect(server.metrics.rejected.get('invalid_trace_id')).toBe(1);
  });

  it('reports rejected log records as partial success', async () => {
    const { server, sink } = await startServer();
    const recs = await recordLogs([
      { eventName: 'feature_flag.evaluation', attributes: { 'feature_flag.key': 'f', 'feature_flag.result.variant': 'on', 'user.id': 'h' } },
      { attributes: { 'user.id': 'h' }, timeMs: Date.UTC(1980, 0, 1) },
    ]);
    const reply = await rawUnary(server.port, LOGS_EXPORT_PATH, logBytes(recs));
    expect(reply.error).toBeNull();
    const t = otlpTypes().logsResponse;
    const decoded = t.toObject(t.decode(reply.body!), { longs: Number });
    expect(decoded.partialSuccess).toEqual({ rejectedLogRecords: 1, errorMessage: expect.stringMatching(/timestamp_out_of_range/) });
    expect(sink.events).toEqual([expect.objectContaining({ source: 'log', flags: [{ feature: 'f', variant: 'on' }] })]);
  });

  it('refuses requests over the size limit with RESOURCE_EXHAUSTED', async () => {
    const { server, sink } = await startServer({ limits: { maxGrpcMessageBytes: 1024, maxInFlightBytes: 4096 } });
    const big = await recordSpans(Array.from({ length: 20 }, (_, i) => flagSpan(`user-${i}`)));
    const reply = await rawUnary(server.port, TRACE_EXPORT_PATH, traceBytes(big));
    expect(reply.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(sink.batches).toHaveLength(0);
    // The call's admission reservation went back although the handler never saw the message.
    expect(server.budget.inUse).toBe(0);
    expect((await rawUnary(server.port, TRACE_EXPORT_PATH, new Uint8Array())).error).toBeNull();
    expect(server.budget.inUse).toBe(0);
  });

  it('refuses a gzip bomb (1 MB -> 1 GiB) with RESOURCE_EXHAUSTED without inflating it, and keeps serving', async () => {
    const { server, sink } = await startServer();
    const member = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 1024 }, () => member));
    const before = process.memoryUsage();
    const reply = await compressedGrpcCall(server.port, TRACE_EXPORT_PATH, bomb);
    const after = process.memoryUsage();
    expect(reply.status).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(reply.message).toMatch(/decompresses to a size larger than/);
    // grpc-js (>= 1.10.9) stops at the limit: nothing close to the gigabyte was ever held.
    expect(after.rss - before.rss).toBeLessThan(256 * 1024 * 1024);
    expect(sink.batches).toHaveLength(0);
    const small = await compressedGrpcCall(server.port, TRACE_EXPORT_PATH, gzipSync(traceBytes(await recordSpans([flagSpan('kat')]))));
    expect(small.status).toBe(grpc.status.OK);
    expect(sink.events).toHaveLength(1);
  });

  it('answers UNAVAILABLE with google.rpc.RetryInfo when the in-flight budget is spent', async () => {
    const sink = new RecordingSink();
    const body = traceBytes(await recordSpans([flagSpan('lou')]));
    // Room for one request, wire and decoded size, not two.
    const { server } = await startServer({ sink, retryAfterMs: 2500, limits: { maxInFlightBytes: budgetFor(body) + 10, maxGrpcMessageBytes: body.length + 10, admissionWaitMs: 0 } });
    sink.block = true;
    const first = rawUnary(server.port, TRACE_EXPORT_PATH, body);
    await sink.whenCalled();
    const second = await rawUnary(server.port, TRACE_EXPORT_PATH, body);
    expect(second.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(statusDetails(second.error)).toEqual({ code: grpc.status.UNAVAILABLE, message: expect.stringMatching(/in-flight/), retryDelayMs: 2500 });
    expect(server.budget.refused).toBe(1);
    sink.unblock();
    expect((await first).error).toBeNull();
    expect(server.budget.inUse).toBe(0);
  });

  it('holds a call before its message is read until the budget can take twice the message limit, then serves it', async () => {
    const sink = new RecordingSink();
    const body = traceBytes(await recordSpans([flagSpan('max')]));
    const limit = body.length + 100;
    // The first call, once decoded, leaves one byte too few for the second's reservation.
    const { server } = await startServer({ sink, limits: { maxGrpcMessageBytes: limit, maxInFlightBytes: 2 * limit + budgetFor(body) - 1 } });
    sink.block = true;
    const first = rawUnary(server.port, TRACE_EXPORT_PATH, body);
    await sink.whenCalled();
    expect(server.budget.inUse).toBe(budgetFor(body));
    const second = rawUnary(server.port, TRACE_EXPORT_PATH, body);
    await waitFor(() => server.budget.waiting === 1);
    expect(sink.batches).toHaveLength(0);
    sink.unblock();
    expect((await first).error).toBeNull();
    expect((await second).error).toBeNull();
    expect(sink.events).toHaveLength(2);
    expect(server.budget.refused).toBe(0);
    expect(server.budget.inUse).toBe(0);
  });

  it('answers UNAVAILABLE with RetryInfo when the admission wait ends, without reading the message', async () => {
    const sink = new RecordingSink();
    const body = traceBytes(await recordSpans([flagSpan('ned')]));
    const limit = body.length + 100;
    const { server } = await startServer({ sink, retryAfterMs: 1500, limits: { maxGrpcMessageBytes: limit, maxInFlightBytes: 2 * limit + budgetFor(body) - 1, admissionWaitMs: 50 } });
    sink.block = true;
    const first = rawUnary(server.port, TRACE_EXPORT_PATH, body);
    await sink.whenCalled();
    const second = await rawUnary(server.port, TRACE_EXPORT_PATH, body);
    expect(second.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(statusDetails(second.error)).toEqual({ code: grpc.status.UNAVAILABLE, message: expect.stringMatching(/in-flight/), retryDelayMs: 1500 });
    expect(server.metrics.requests.get('traces:UNAVAILABLE')).toBe(1);
    sink.unblock();
    expect((await first).error).toBeNull();
    expect(sink.events).toHaveLength(1);
    expect(server.budget.inUse).toBe(0);
  });

  it('puts RetryInfo on UNAVAILABLE from the log and a Status on INVALID_ARGUMENT', async () => {
    const { server, sink } = await startServer({ retryAfterMs: 1000 });
    sink.failWith = new PmfError('ERR_LOG_UNAVAILABLE', 'broker down', { retryable: true });
    const down = await rawUnary(server.port, TRACE_EXPORT_PATH, traceBytes(await recordSpans([flagSpan('mo')])));
    expect(statusDetails(down.error)?.retryDelayMs).toBe(1000);
    const bad = await rawUnary(server.port, TRACE_EXPORT_PATH, Buffer.from([0x0a, 0x05]));
    expect(statusDetails(bad.error)).toEqual({ code: grpc.status.INVALID_ARGUMENT, message: expect.stringMatching(/malformed/) });
  });

  it('stops idempotently, even before start', async () => {
    const never = new OtlpReceiver({ logger: silentLogger, grpc: { port: 0 }, pseudonymizer: pseudo, sink: new RecordingSink() });
    await never.stop();
    const { server } = await startServer();
    const port = server.port;
    await Promise.all([server.stop(), server.stop()]);
    await server.stop();
    expect(() => server.port).toThrowError(/not started/);
    const after = await rawUnary(port, TRACE_EXPORT_PATH, new Uint8Array());
    expect(after.error?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('cancels a request stuck in the sink once the shutdown grace period passes', async () => {
    const clock = new ManualClock(Date.now());
    const { server, sink } = await startServer({ clock, shutdownTimeoutMs: 1000 });
    sink.block = true;
    const pending = rawUnary(server.port, TRACE_EXPORT_PATH, traceBytes(await recordSpans([flagSpan('ivan')])));
    await sink.whenCalled();
    const stopped = server.stop();
    clock.advance(1000);
    await stopped;
    const reply = await pending;
    expect(reply.error).not.toBeNull();
    expect(reply.error?.code).not.toBe(grpc.status.OK);
  });
});
