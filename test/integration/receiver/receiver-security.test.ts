import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { BearerAuth } from '../../../src/core/bearer-auth.js';
import { loadTlsMaterial } from '../../../src/receiver/transport/listener-tls.js';
import { TRACE_EXPORT_PATH } from '../../../src/receiver/transport/otlp-grpc-server.js';
import { recordSpans, traceBytes } from '../../unit/receiver/otlp-fixtures.js';
import { httpPost, rawUnary, startReceiver, stopReceivers } from './receiver-test-kit.js';
import { makeTestPki, type TestPki } from './test-certificates.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

const PROTO = { 'content-type': 'application/x-protobuf' };
const TOKEN = 'tok-A-0123456789abcdef';
const NEXT_TOKEN = 'tok-B-fedcba9876543210';
const RAW_USER = 'alice@example.com';

let pki: TestPki;
let body: Uint8Array;

beforeAll(async () => {
  pki = makeTestPki();
  body = traceBytes(await recordSpans([{
    name: 'GET /x', attributes: { 'feature_flag.key': 'f', 'feature_flag.result.variant': 'on', 'enduser.id': RAW_USER },
  }]));
});
afterAll(() => pki.remove());
afterEach(stopReceivers);

const grpcTls = (client?: { cert: Buffer; key: Buffer }) => ({
  credentials: grpc.credentials.createSsl(pki.caCert, client?.key ?? null, client?.cert ?? null),
  // The certificate names localhost; SNI may not carry an IP address.
  channelOptions: { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' },
});

describe('receiver TLS and mTLS', () => {
  it('serves both listeners over TLS and refuses plaintext', async () => {
    const tls = loadTlsMaterial({ certFile: pki.serverCertFile, keyFile: pki.serverKeyFile });
    const { receiver, sink } = await startReceiver({ tls });
    const https = await httpPost(receiver.httpPort!, '/v1/traces', body, { headers: PROTO, tls: { ca: pki.caCert } });
    expect(https.status).toBe(200);
    const g = await rawUnary(receiver.port, TRACE_EXPORT_PATH, body, grpcTls());
    expect(g.error).toBeNull();
    expect(sink.events).toHaveLength(2);
    await expect(httpPost(receiver.httpPort!, '/v1/traces', body, { headers: PROTO })).rejects.toThrow();
    const plain = await rawUnary(receiver.port, TRACE_EXPORT_PATH, body, { channelOptions: { 'grpc.initial_reconnect_backoff_ms': 50 } });
    expect(plain.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(sink.events).toHaveLength(2);
  });

  it('with a client CA, accepts only clients whose certificate chains to it (mTLS)', async () => {
    const tls = loadTlsMaterial({ certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, clientCaFile: pki.caCertFile });
    const { receiver, sink } = await startReceiver({ tls });
    const ok = await httpPost(receiver.httpPort!, '/v1/traces', body, { headers: PROTO, tls: { ca: pki.caCert, ...pki.client } });
    expect(ok.status).toBe(200);
    expect((await rawUnary(receiver.port, TRACE_EXPORT_PATH, body, grpcTls(pki.client))).error).toBeNull();
    await expect(httpPost(receiver.httpPort!, '/v1/traces', body, { headers: PROTO, tls: { ca: pki.caCert } })).rejects.toThrow();
    await expect(httpPost(receiver.httpPort!, '/v1/traces', body, { headers: PROTO, tls: { ca: pki.caCert, ...pki.strangerClient } })).rejects.toThrow();
    expect((await rawUnary(receiver.port, TRACE_EXPORT_PATH, body, grpcTls())).error?.code).toBe(grpc.status.UNAVAILABLE);
    expect((await rawUnary(receiver.port, TRACE_EXPORT_PATH, body, grpcTls(pki.strangerClient))).error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(sink.events).toHaveLength(2);
  });
});

describe('receiver bearer-token auth', () => {
  it('answers UNAUTHENTICATED / 401 without a valid token, accepts every token of the ring, and publishes nothing unauthenticated', async () => {
    const { receiver, sink } = await startReceiver({ auth: new BearerAuth([TOKEN, NEXT_TOKEN]) });
    const none = await rawUnary(receiver.port, TRACE_EXPORT_PATH, body);
    expect(none.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    const wrong = await rawUnary(receiver.port, TRACE_EXPORT_PATH, body, { metadata: { authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    const basic = await httpPost(receiver.httpPort!, '/v1/traces', body, { headers: { ...PROTO, authorization: `Basic ${TOKEN}` } });
    expect(basic.status).toBe(401);
    expect(basic.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await httpPost(receiver.httpPort!, '/v1/traces', body, { headers: PROTO })).status).toBe(401);
    expect(sink.batches).toHaveLength(0);
    expect(receiver.metrics.received.size).toBe(0);

    expect((await rawUnary(receiver.port, TRACE_EXPORT_PATH, body, { metadata: { authorization: `Bearer ${TOKEN}` } })).error).toBeNull();
    expect((await rawUnary(receiver.port, TRACE_EXPORT_PATH, body, { metadata: { authorization: `bearer ${NEXT_TOKEN}` } })).error).toBeNull();
    expect((await httpPost(receiver.httpPort!, '/v1/traces', body, { headers: { ...PROTO, authorization: `Bearer ${NEXT_TOKEN}` } })).status).toBe(200);
    expect(sink.events).toHaveLength(3);
  });

  it('never writes tokens or raw user ids to its logs', async () => {
    const { logger, lines } = recordingLogger();
    const { receiver, sink } = await startReceiver({ auth: new BearerAuth([TOKEN]), logger, publishTimeoutMs: 100 });
    const auth = { authorization: `Bearer ${TOKEN}` };
    sink.failWith = new PmfError('ERR_LOG_UNAVAILABLE', 'broker down', { retryable: true });
    await rawUnary(receiver.port, TRACE_EXPORT_PATH, body, { metadata: auth });
    await httpPost(receiver.httpPort!, '/v1/traces', body, { headers: { ...PROTO, ...auth } });
    sink.failWith = new PmfError('ERR_LOG_PRODUCE', 'rejected');
    await httpPost(receiver.httpPort!, '/v1/traces', body, { headers: { ...PROTO, ...auth } });
    sink.failWith = undefined;
    sink.block = true;
    await httpPost(receiver.httpPort!, '/v1/traces', body, { headers: { ...PROTO, ...auth } });
    await rawUnary(receiver.port, TRACE_EXPORT_PATH, body, { metadata: { authorization: `Bearer ${TOKEN}-wrong` } });
    sink.unblock();
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const all = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(RAW_USER);
    expect(all).not.toContain('alice');
  });
});
