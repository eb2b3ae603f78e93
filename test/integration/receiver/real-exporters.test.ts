// The OpenTelemetry JS exporters, unmodified, against the receiver: gRPC, HTTP/protobuf and
// HTTP/JSON for traces, HTTP/JSON and gRPC for logs carrying feature_flag.evaluation events.

import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Metadata } from '@grpc/grpc-js';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor, type LogRecordExporter } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { BearerAuth } from '../../../src/core/bearer-auth.js';
import type { OtlpReceiver } from '../../../src/receiver/otlp-receiver.js';
import { RecordingSink, startReceiver, stopReceivers, testPseudonymizer as pseudo } from './receiver-test-kit.js';

const TOKEN = 'exporter-token-0123456789';

type TraceKind = 'grpc' | 'http/protobuf' | 'http/json';
type Compression = 'gzip' | 'none';

function traceExporter(kind: TraceKind, r: OtlpReceiver, compression: Compression, auth = false): SpanExporter {
  const headers = auth ? { Authorization: `Bearer ${TOKEN}` } : undefined;
  const c = compression as never;
  if (kind === 'grpc') {
    const metadata = new Metadata();
    if (auth) metadata.set('authorization', `Bearer ${TOKEN}`);
    return new GrpcTraceExporter({ url: `http://127.0.0.1:${r.port}`, compression: c, metadata });
  }
  const url = `http://127.0.0.1:${r.httpPort}/v1/traces`;
  return kind === 'http/protobuf' ? new ProtoTraceExporter({ url, compression: c, headers }) : new JsonTraceExporter({ url, compression: c, headers });
}

/** Emits spans through a real SDK pipeline and resolves with the exporter's verdict. */
async function emitSpans(exporter: SpanExporter, users: string[]): Promise<void> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'shop' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('real-exporter-test');
  for (const user of users) {
    const span = tracer.startSpan('GET /dashboard', { attributes: { 'enduser.id': user } });
    span.addEvent('feature_flag.evaluation', { 'feature_flag.key': 'new-dashboard', 'feature_flag.result.variant': 'treatment' });
    span.end();
  }
  await provider.forceFlush();
  await provider.shutdown();
}

async function emitFlagLogs(exporter: LogRecordExporter, users: string[]): Promise<void> {
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'shop' }),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger('flags');
  for (const user of users) {
    logger.emit({
      eventName: 'feature_flag.evaluation',
      attributes: { 'feature_flag.key': 'new-dashboard', 'feature_flag.result.variant': 'control', 'feature_flag.context.id': user },
    });
  }
  await provider.forceFlush();
  await provider.shutdown();
}

function exportOnce(exporter: SpanExporter, spans: Parameters<SpanExporter['export']>[0]): Promise<number> {
  return new Promise((resolve) => exporter.export(spans, (r) => resolve(r.code)));
}

afterEach(stopReceivers);

describe('OpenTelemetry JS exporters against the receiver', () => {
  const cases: [TraceKind, Compression][] = [
    ['grpc', 'none'], ['grpc', 'gzip'], ['http/protobuf', 'none'], ['http/protobuf', 'gzip'], ['http/json', 'none'], ['http/json', 'gzip'],
  ];
  for (const [kind, compression] of cases) {
    it(`traces over ${kind} (${compression}), with bearer auth`, async () => {
      const { receiver, sink } = await startReceiver({ auth: new BearerAuth([TOKEN]) });
      await emitSpans(traceExporter(kind, receiver, compression, true), ['ann', 'ben']);
      // The exporter may batch the two spans in either order.
      const byUser = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
      expect(sink.events.map((e) => [e.user, e.flags]).sort(byUser)).toEqual(['ann', 'ben'].map((u) => [
        pseudo.fn(u), [{ feature: 'new-dashboard', variant: 'treatment' }],
      ]).sort(byUser));
      expect(sink.events.every((e) => e.source === 'span' && /^[0-9a-f]{48}$/.test(e.id))).toBe(true);
    });
  }

  it('a trace exporter without the token is refused and publishes nothing', async () => {
    const { receiver, sink } = await startReceiver({ auth: new BearerAuth([TOKEN]) });
    const provider = new BasicTracerProvider();
    const span = provider.getTracer('t').startSpan('x', { attributes: { 'enduser.id': 'eve' } });
    span.end();
    const spans = [span as unknown as Parameters<SpanExporter['export']>[0][number]];
    expect(await exportOnce(traceExporter('http/protobuf', receiver, 'none'), spans)).not.toBe(0);
    expect(await exportOnce(traceExporter('grpc', receiver, 'none'), spans)).not.toBe(0);
    expect(sink.batches).toHaveLength(0);
  });

  it('feature_flag.evaluation log events over HTTP/JSON and gRPC', async () => {
    const { receiver, sink } = await startReceiver();
    await emitFlagLogs(new JsonLogExporter({ url: `http://127.0.0.1:${receiver.httpPort}/v1/logs` }), ['cat']);
    await emitFlagLogs(new GrpcLogExporter({ url: `http://127.0.0.1:${receiver.port}` }), ['dan']);
    expect(sink.events.map((e) => [e.user, e.source, e.name, e.flags])).toEqual(['cat', 'dan'].map((u) => [
      pseudo.fn(u), 'log', 'feature_flag.evaluation', [{ feature: 'new-dashboard', variant: 'control' }],
    ]));
  });

  it('the HTTP exporter retries after 503 + Retry-After until the log acks', async () => {
    const sink = new RecordingSink();
    const { receiver } = await startReceiver({ sink, retryAfterMs: 1000 });
    sink.failWith = new PmfError('ERR_LOG_UNAVAILABLE', 'broker down', { retryable: true });
    const pending = emitSpans(traceExporter('http/protobuf', receiver, 'gzip'), ['fin']);
    await sink.whenCalled();
    sink.failWith = undefined;
    await pending;
    expect(receiver.metrics.requests.get('traces:503')).toBeGreaterThanOrEqual(1);
    expect(receiver.metrics.requests.get('traces:200')).toBe(1);
    expect(sink.events.map((e) => e.user)).toEqual([pseudo.fn('fin')]);
  });
});
