import { gzipSync, deflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { otlpTypes } from '../../../src/receiver/decode/otlp-proto.js';
import { decodeRpcStatus, RETRY_INFO_TYPE_URL } from '../../../src/receiver/transport/rpc-status.js';
import type { BodyReadStats } from '../../../src/receiver/transport/http-body-reader.js';
import { OtlpHttpServer } from '../../../src/receiver/transport/otlp-http-server.js';
import { logBytes, logJson, recordLogs, recordSpans, tamper, traceBytes, traceJson } from '../../unit/receiver/otlp-fixtures.js';
import { waitFor } from '../../helpers/services.js';
import { budgetFor, httpPost, RecordingSink, startReceiver, stopReceivers, testPseudonymizer as pseudo } from './receiver-test-kit.js';

const PROTO = { 'content-type': 'application/x-protobuf' };
const JSON_CT = { 'content-type': 'application/json' };

const flagSpan = (user: string, variant = 'treatment') => ({
  name: 'GET /dashboard',
  attributes: { 'feature_flag.key': 'new-dashboard', 'feature_flag.result.variant': variant, 'enduser.id': user },
});

afterEach(stopReceivers);

async function started(extra: Parameters<typeof startReceiver>[0] = {}) {
  const { receiver, sink } = await startReceiver(extra);
  return { receiver, sink, port: receiver.httpPort! };
}

/** 1 GiB of zeros as 1024 concatenated gzip members of 1 MiB each: about 1 MB on the wire. */
function gzipBomb(): Buffer {
  const member = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  return Buffer.concat(Array.from({ length: 1024 }, () => member));
}

describe('OTLP/HTTP listener: protobuf and JSON', () => {
  it('accepts application/x-protobuf, answers an empty protobuf response and echoes the content type', async () => {
    const { port, sink, receiver } = await started();
    const reply = await httpPost(port, '/v1/traces', traceBytes(await recordSpans([flagSpan('alice'), flagSpan('bob', 'control')])), { headers: PROTO });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/x-protobuf');
    expect(reply.body.length).toBe(0);
    expect(sink.events.map((e) => [e.user, e.flags[0].variant])).toEqual([[pseudo.fn('alice'), 'treatment'], [pseudo.fn('bob'), 'control']]);
    expect(receiver.metrics.requests.get('traces:200')).toBe(1);
  });

  it('accepts application/json (hex ids, int64 strings) and answers {}', async () => {
    const { port, sink } = await started();
    const spans = await recordSpans([flagSpan('carol')]);
    const reply = await httpPost(port, '/v1/traces', traceJson(spans), { headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(JSON.parse(reply.body.toString())).toEqual({});
    const ctx = spans[0].spanContext();
    expect(sink.events).toEqual([expect.objectContaining({ id: ctx.traceId + ctx.spanId, user: pseudo.fn('carol') })]);
  });

  it('takes logs on /v1/logs in both formats', async () => {
    const { port, sink } = await started();
    const recs = await recordLogs([{ eventName: 'feature_flag.evaluation', attributes: { 'feature_flag.key': 'f', 'feature_flag.result.variant': 'on', 'user.id': 'dan' } }]);
    expect((await httpPost(port, '/v1/logs', logBytes(recs), { headers: PROTO })).status).toBe(200);
    expect((await httpPost(port, '/v1/logs', logJson(recs), { headers: JSON_CT })).status).toBe(200);
    expect(sink.events).toHaveLength(2);
    // The same record over both formats is the same event: a resend over JSON deduplicates.
    expect(sink.events[0]).toEqual(sink.events[1]);
  });

  it('reports partial success in the request format, with the rejected count and reason', async () => {
    const { port, sink } = await started();
    const [bad, good] = await recordSpans([flagSpan('erin'), flagSpan('fay')]);
    const broken = [tamper(bad, { spanId: '0000000000000000' }), good];
    const p = await httpPost(port, '/v1/traces', traceBytes(broken), { headers: PROTO });
    expect(p.status).toBe(200);
    const t = otlpTypes().traceResponse;
    expect(t.toObject(t.decode(p.body), { longs: Number })).toEqual({ partialSuccess: { rejectedSpans: 1, errorMessage: expect.stringMatching(/invalid_span_id/) } });
    const j = await httpPost(port, '/v1/traces', traceJson(broken), { headers: JSON_CT });
    expect(JSON.parse(j.body.toString())).toEqual({ partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringMatching(/invalid_span_id/) } });
    expect(sink.events.map((e) => e.user)).toEqual([pseudo.fn('fay'), pseudo.fn('fay')]);
  });

  it('answers an empty body with 200', async () => {
    const { port, sink } = await started();
    expect((await httpPost(port, '/v1/traces', new Uint8Array(), { headers: PROTO })).status).toBe(200);
    expect((await httpPost(port, '/v1/logs', '{}', { headers: JSON_CT })).status).toBe(200);
    expect(sink.batches).toHaveLength(0);
  });
});

describe('OTLP/HTTP listener: errors and statuses', () => {
  it('answers malformed bodies with 400 and a google.rpc.Status in the request format', async () => {
    const { port } = await started();
    const p = await httpPost(port, '/v1/traces', Buffer.from([0x0a, 0xff, 0xff]), { headers: PROTO });
    expect(p.status).toBe(400);
    expect(p.headers['content-type']).toBe('application/x-protobuf');
    expect(decodeRpcStatus(p.body)).toEqual({ code: 3, message: expect.stringMatching(/malformed ExportTraceServiceRequest/) });
    const j = await httpPost(port, '/v1/logs', '{"resourceLogs": 5}', { headers: JSON_CT });
    expect(j.status).toBe(400);
    expect(JSON.parse(j.body.toString())).toEqual({ code: 3, message: expect.stringMatching(/resourceLogs must be an array/) });
  });

  it('answers unknown paths 404, other methods 405, other media types and encodings 415', async () => {
    const { port } = await started();
    expect((await httpPost(port, '/v1/metrics', '{}', { headers: JSON_CT })).status).toBe(404);
    const get = await httpPost(port, '/v1/traces', '', { method: 'GET' });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect((await httpPost(port, '/v1/traces', 'x', { headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await httpPost(port, '/v1/traces', 'x', { headers: { ...PROTO, 'content-encoding': 'br' } })).status).toBe(415);
  });

  it('accepts gzip and deflate bodies', async () => {
    const { port, sink } = await started();
    const body = traceBytes(await recordSpans([flagSpan('gus')]));
    expect((await httpPost(port, '/v1/traces', gzipSync(body), { headers: { ...PROTO, 'content-encoding': 'gzip' } })).status).toBe(200);
    expect((await httpPost(port, '/v1/traces', deflateSync(body), { headers: { ...PROTO, 'content-encoding': 'deflate' } })).status).toBe(200);
    const bad = await httpPost(port, '/v1/traces', Buffer.from('not gzip at all'), { headers: { ...PROTO, 'content-encoding': 'gzip' } });
    expect(bad.status).toBe(400);
    expect(decodeRpcStatus(bad.body).message).toMatch(/not valid gzip/);
    expect(sink.events).toHaveLength(2);
  });

  it('refuses a gzip bomb (1 MB -> 1 GiB) with 413 after inflating no more than the limit, and keeps serving', async () => {
    const stats: BodyReadStats[] = [];
    const { receiver, sink } = await startReceiver({ http: undefined });
    const limit = 4 * 1024 * 1024;
    const server = new OtlpHttpServer({ host: '127.0.0.1', port: 0, handler: receiver.handler, budget: receiver.budget, maxBodyBytes: limit, onBodyRead: (s) => stats.push(s) });
    await server.start();
    try {
      const bomb = gzipBomb();
      expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
      const reply = await httpPost(server.port, '/v1/traces', bomb, { headers: { ...PROTO, 'content-encoding': 'gzip' } });
      expect(reply.status).toBe(413);
      expect(decodeRpcStatus(reply.body)).toEqual({ code: 8, message: expect.stringMatching(/exceeds 4194304 bytes after decompression/) });
      expect(stats[0].inflatedBytes).toBeGreaterThan(limit);
      // Cut at the first zlib output chunk past the limit, not after inflating the whole gigabyte.
      expect(stats[0].inflatedBytes).toBeLessThanOrEqual(limit + 64 * 1024);
      expect(receiver.budget.inUse).toBe(0);
      const ok = await httpPost(server.port, '/v1/traces', traceBytes(await recordSpans([flagSpan('hal')])), { headers: PROTO });
      expect(ok.status).toBe(200);
      expect(sink.events).toHaveLength(1);
    } finally {
      await server.stop();
    }
  });

  it('refuses compressed bombs under the size limit at the record or JSON-object cap, after inflating about the cap\'s worth', async () => {
    const stats: BodyReadStats[] = [];
    const { receiver, sink } = await startReceiver({ http: undefined, limits: { maxRecordsPerRequest: 1000, maxJsonObjectsPerRequest: 1000 } });
    const server = new OtlpHttpServer({ host: '127.0.0.1', port: 0, handler: receiver.handler, budget: receiver.budget, onBodyRead: (s) => stats.push(s) });
    await server.start();
    try {
      // 2 M empty spans (4 MiB) in one scope, and 1 M `{}` spans as OTLP/JSON (3 MiB): both under the 20 MiB limit.
      const spans = Buffer.alloc(4_000_000).fill(Buffer.from([0x12, 0x00]));
      const scope = Buffer.concat([Buffer.from([0x12, 0x80, 0x92, 0xf4, 0x01]), spans]);
      const proto = Buffer.concat([Buffer.from([0x0a, 0x85, 0x92, 0xf4, 0x01]), scope]);
      const json = Buffer.from(`{"resourceSpans":[{"scopeSpans":[{"spans":[${Array(1_000_000).fill('{}').join(',')}]}]}]}`);
      const protoReply = await httpPost(server.port, '/v1/traces', gzipSync(proto), { headers: { ...PROTO, 'content-encoding': 'gzip' } });
      const jsonReply = await httpPost(server.port, '/v1/traces', gzipSync(json), { headers: { ...JSON_CT, 'content-encoding': 'gzip' } });
      expect(protoReply.status).toBe(400);
      expect(decodeRpcStatus(protoReply.body).message).toMatch(/more than 1000 spans/);
      expect(jsonReply.status).toBe(400);
      expect(JSON.parse(jsonReply.body.toString()).message).toMatch(/more than 1000 objects/);
      // Stopped within a zlib output chunk or two of the cap, not after inflating megabytes.
      expect(stats.map((s) => s.inflatedBytes)).toEqual([expect.any(Number), expect.any(Number)]);
      for (const s of stats) expect(s.inflatedBytes).toBeLessThanOrEqual(256 * 1024);
      expect(receiver.metrics.rejected.get('too_many_records')).toBe(1);
      expect(receiver.metrics.rejected.get('too_many_json_objects')).toBe(1);
      expect(receiver.budget.inUse).toBe(0);
      expect(sink.batches).toHaveLength(0);
      const ok = await httpPost(server.port, '/v1/traces', gzipSync(traceBytes(await recordSpans([flagSpan('ivy')]))), { headers: { ...PROTO, 'content-encoding': 'gzip' } });
      expect(ok.status).toBe(200);
      expect(sink.events).toHaveLength(1);
    } finally {
      await server.stop();
    }
  });

  it('refuses a declared or streamed body over the limit with 413', async () => {
    const { port } = await started({ limits: { maxHttpBodyBytes: 1024 } });
    const body = traceBytes(await recordSpans(Array.from({ length: 30 }, (_, i) => flagSpan(`u${i}`))));
    expect(body.length).toBeGreaterThan(1024);
    expect((await httpPost(port, '/v1/traces', body, { headers: PROTO })).status).toBe(413);
    const chunked = await httpPost(port, '/v1/traces', body, { headers: { ...PROTO, 'transfer-encoding': 'chunked' } });
    expect(chunked.status).toBe(413);
  });

  it('answers 503 with Retry-After and RetryInfo whenever the log does not acknowledge', async () => {
    const { port, sink } = await started({ retryAfterMs: 3000 });
    const body = traceBytes(await recordSpans([flagSpan('ivy')]));
    sink.failWith = new PmfError('ERR_LOG_UNAVAILABLE', 'broker down', { retryable: true });
    const r = await httpPost(port, '/v1/traces', body, { headers: PROTO });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('3');
    expect(decodeRpcStatus(r.body)).toEqual({ code: 14, message: expect.stringMatching(/did not acknowledge/), retryDelayMs: 3000 });
    const j = await httpPost(port, '/v1/traces', traceJson(await recordSpans([flagSpan('ivy')])), { headers: JSON_CT });
    expect(JSON.parse(j.body.toString()).details).toEqual([{ '@type': RETRY_INFO_TYPE_URL, retryDelay: '3s' }]);
    sink.failWith = new PmfError('ERR_LOG_PRODUCE', 'record too large');
    expect((await httpPost(port, '/v1/traces', body, { headers: PROTO })).status).toBe(503);
  });

  it('answers 429 with Retry-After when the in-flight budget is spent, and recovers once it frees', async () => {
    const sink = new RecordingSink();
    const body = traceBytes(await recordSpans([flagSpan('jo')]));
    // Room for one request, wire and decoded size, not two.
    const { port, receiver } = await started({ sink, limits: { maxInFlightBytes: budgetFor(body) + 10, maxHttpBodyBytes: body.length + 10, maxGrpcMessageBytes: 64, admissionWaitMs: 0 } });
    sink.block = true;
    const first = httpPost(port, '/v1/traces', body, { headers: PROTO });
    await sink.whenCalled();
    expect(receiver.budget.inUse).toBe(budgetFor(body));
    const second = await httpPost(port, '/v1/traces', body, { headers: PROTO });
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBe('1');
    expect(decodeRpcStatus(second.body).retryDelayMs).toBe(1000);
    expect(receiver.metrics.gaugeSamples().find((s) => s.name === 'pmf_receiver_inflight_bytes')?.value).toBe(budgetFor(body));
    sink.unblock();
    expect((await first).status).toBe(200);
    expect(receiver.budget.inUse).toBe(0);
    expect((await httpPost(port, '/v1/traces', body, { headers: PROTO })).status).toBe(200);
    expect(receiver.budget.peak).toBeLessThanOrEqual(receiver.budget.maxBytes);
  });

  it('holds a body that does not fit (reading paused) in the budget queue, and serves it once the budget frees', async () => {
    const sink = new RecordingSink();
    const body = traceBytes(await recordSpans([flagSpan('lu')]));
    const { port, receiver } = await started({ sink, limits: { maxInFlightBytes: budgetFor(body) + 10, maxHttpBodyBytes: body.length + 10, maxGrpcMessageBytes: 64 } });
    sink.block = true;
    const first = httpPost(port, '/v1/traces', body, { headers: PROTO });
    await sink.whenCalled();
    const second = httpPost(port, '/v1/traces', body, { headers: PROTO });
    await waitFor(() => receiver.budget.waiting === 1, { message: 'the second body waits for budget' });
    sink.unblock();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(sink.events).toHaveLength(2);
    expect(receiver.budget.refused).toBe(0);
    expect(receiver.budget.inUse).toBe(0);
  });

  it('answers 503 when the log does not ack within the publish timeout, and frees the budget only when it settles', async () => {
    const sink = new RecordingSink();
    const { port, receiver } = await started({ sink, publishTimeoutMs: 200 });
    sink.block = true;
    const r = await httpPost(port, '/v1/traces', traceBytes(await recordSpans([flagSpan('kim')])), { headers: PROTO });
    expect(r.status).toBe(503);
    expect(receiver.metrics.publishTimeouts).toBe(1);
    expect(receiver.budget.inUse).toBeGreaterThan(0);
    sink.unblock();
    await waitFor(() => receiver.budget.inUse === 0, { message: 'lease released once the sink settled' });
    expect(sink.events).toHaveLength(1);
  });
});
