// Hostile input against the shared Export handler (decoder + mapper + cardinality + sink), with
// an in-memory sink: whatever the bytes, the handler answers ok or invalid, never throws, frees
// its budget, accounts for every record, and never drops a good record of a partly bad request.

import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { decodeEventRecord } from '../../../src/events/event-record-codec.js';
import { CardinalityGuard } from '../../../src/receiver/mapping/cardinality-guard.js';
import { ExportHandler, type ExportOutcome } from '../../../src/receiver/export-handler.js';
import { InFlightBudget } from '../../../src/receiver/transport/inflight-budget.js';
import type { WireFormat } from '../../../src/receiver/transport/otlp-response.js';
import { Pseudonymizer } from '../../../src/receiver/mapping/pseudonymizer.js';
import { ReceiverMetrics } from '../../../src/receiver/receiver-metrics.js';
import { encodeLogs, encodeTraces, logsRequest, mutated, tracesRequest } from './otlp-arbitraries.js';
import { NOW } from './otlp-fixtures.js';
import { silentLogger } from '../../../src/core/logger.js';

const pseudo = new Pseudonymizer('handler-test-key-0123456789');

function harness(cardinality?: CardinalityGuard) {
  const published: FeatureEvent[] = [];
  const metrics = new ReceiverMetrics();
  const budget = new InFlightBudget(1 << 30);
  const handler = new ExportHandler({ logger: silentLogger,
    sink: { partitions: 1, publish: async (records) => { for (const r of records) published.push(...decodeEventRecord(r.value)); } },
    pseudonymizer: pseudo,
    metrics,
    cardinality,
    clock: { now: () => NOW, setTimeout: () => ({ cancel() {} }) },
    maxValueLength: 256,
  });
  const run = (signal: 'traces' | 'logs', format: WireFormat, body: Uint8Array) => handler.export(signal, format, body, budget.tryAcquire(body.length)!);
  return { published, metrics, budget, run };
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

/** Every record is an event, a rejection, or a counted skip (no user). */
function expectAccounted(h: ReturnType<typeof harness>): void {
  const received = sum(h.metrics.received as Map<string, number>);
  const rejected = sum(h.metrics.rejected) - (h.metrics.rejected.get('decode_error') ?? 0);
  expect(h.published.length + rejected + (h.metrics.skipped.get('no_user') ?? 0)).toBe(received);
}

const MS = 1_000_000n;
const nanos = (ms: number) => String(BigInt(ms) * MS);
let serial = 0;
const id = (n: number) => {
  serial++;
  const b = Buffer.alloc(n, 0x11);
  b.writeUInt32BE(serial, n - 4);
  return b;
};
const goodSpan = () => ({
  traceId: id(16), spanId: id(8), name: 'GET /ok', startTimeUnixNano: nanos(NOW - 60_000), endTimeUnixNano: nanos(NOW - 59_000),
  attributes: [
    { key: 'feature_flag.key', value: { stringValue: 'f' } },
    { key: 'feature_flag.result.variant', value: { stringValue: 'on' } },
    { key: 'user.id', value: { stringValue: `u${serial}` } },
    { key: 'http.request.body', value: { stringValue: 'x'.repeat(100_000) } },
  ],
});

const long = 'y'.repeat(10_000);
type Bad = { name: string; reason: string; make: () => Record<string, unknown> };
const BAD: Bad[] = [
  { name: 'short trace id', reason: 'invalid_trace_id', make: () => ({ ...goodSpan(), traceId: Buffer.alloc(15, 1) }) },
  { name: 'zero span id', reason: 'invalid_span_id', make: () => ({ ...goodSpan(), spanId: Buffer.alloc(8) }) },
  { name: 'end before start', reason: 'end_before_start', make: () => ({ ...goodSpan(), endTimeUnixNano: nanos(NOW - 61_000) }) },
  { name: 'year 1990', reason: 'timestamp_out_of_range', make: () => ({ ...goodSpan(), startTimeUnixNano: nanos(Date.UTC(1990, 0, 1)) }) },
  { name: 'ten days ahead', reason: 'timestamp_out_of_range', make: () => ({ ...goodSpan(), startTimeUnixNano: nanos(NOW + 864e6), endTimeUnixNano: nanos(NOW + 864e6 + 1) }) },
  { name: 'max uint64 end', reason: 'timestamp_out_of_range', make: () => ({ ...goodSpan(), endTimeUnixNano: '18446744073709551615' }) },
  { name: 'huge feature key', reason: 'value_too_long', make: () => withAttr('feature_flag.key', { stringValue: long }) },
  { name: 'huge user id', reason: 'value_too_long', make: () => withAttr('user.id', { stringValue: long }) },
  { name: 'int feature key', reason: 'wrong_type', make: () => withAttr('feature_flag.key', { intValue: 7 }) },
  { name: 'array feature key', reason: 'wrong_type', make: () => withAttr('feature_flag.key', { arrayValue: { values: [{ stringValue: 'f' }] } }) },
  { name: 'huge name', reason: 'name_too_long', make: () => ({ ...goodSpan(), name: long }) },
];

function withAttr(key: string, value: Record<string, unknown>) {
  const s = goodSpan();
  return { ...s, attributes: [{ key, value }, ...s.attributes.filter((a) => a.key !== key)] };
}

const traces = (spans: unknown[]) => ({ resourceSpans: [{ scopeSpans: [{ spans }] }] });

describe('ExportHandler under hostile input', () => {
  it('keeps every good span of a request mixed with bad ones and reports each bad one by reason', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.oneof(fc.constant<Bad | 'good'>('good'), fc.constantFrom(...BAD)), { minLength: 1, maxLength: 12 }),
      fc.constantFrom<WireFormat>('protobuf', 'json'),
      async (plan, format) => {
        const h = harness();
        const spans = plan.map((p) => (p === 'good' ? goodSpan() : p.make()));
        const body = format === 'protobuf' ? encodeTraces(traces(spans)) : jsonBody(traces(spans));
        const outcome = await h.run('traces', format, body);
        const good = spans.filter((_, i) => plan[i] === 'good');
        const bad = plan.filter((p): p is Bad => p !== 'good');
        expect(outcome.kind).toBe('ok');
        expect(h.published.map((e) => e.id)).toEqual(good.map((s) => (s.traceId as Buffer).toString('hex') + (s.spanId as Buffer).toString('hex')));
        const partial = outcome.kind === 'ok' ? outcome.partial : undefined;
        expect(partial?.rejected ?? 0).toBe(bad.length);
        for (const b of bad) expect(partial?.errorMessage).toContain(b.reason);
        expectAccounted(h);
        expect(h.budget.inUse).toBe(0);
      },
    ), { numRuns: 200 });
  });

  it('answers damaged protobuf with ok or invalid, never throws, frees its lease and accounts for every record', async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(
        mutated(tracesRequest.map(encodeTraces)).map((b) => ['traces', b] as const),
        mutated(logsRequest.map(encodeLogs)).map((b) => ['logs', b] as const),
        fc.uint8Array({ maxLength: 300 }).map((b) => ['traces', Buffer.from(b)] as const),
      ),
      async ([signal, body]) => {
        const h = harness();
        const outcome: ExportOutcome = await h.run(signal, 'protobuf', body);
        expect(['ok', 'invalid']).toContain(outcome.kind);
        if (outcome.kind === 'invalid') {
          expect(outcome.message).toMatch(/^malformed Export(Trace|Logs)ServiceRequest/);
          expect(h.published).toHaveLength(0);
        }
        expectAccounted(h);
        expect(h.budget.inUse).toBe(0);
      },
    ), { numRuns: 1500 });
  });

  it('answers arbitrary and damaged JSON with ok or invalid', async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(
        fc.jsonValue({ maxDepth: 5 }).map((v) => jsonBody({ resourceSpans: [{ scopeSpans: [{ spans: [v] }] }] })),
        fc.tuple(tracesRequest, fc.nat(), fc.string({ maxLength: 3 })).map(([r, at, junk]) => {
          const text = Buffer.from(jsonBody(r)).toString();
          const i = at % (text.length + 1);
          return Buffer.from(text.slice(0, i) + junk + text.slice(i));
        }),
      ),
      async (body) => {
        const h = harness();
        const outcome = await h.run('traces', 'json', body);
        expect(['ok', 'invalid']).toContain(outcome.kind);
        expectAccounted(h);
        expect(h.budget.inUse).toBe(0);
      },
    ), { numRuns: 1000 });
  });

  it('answers a corpus of malformed payloads with invalid, and empty requests with ok', async () => {
    const valid = encodeTraces(traces([goodSpan()]));
    const corpus: [string, 'traces' | 'logs', WireFormat, Uint8Array, ExportOutcome['kind']][] = [
      ['truncated request', 'traces', 'protobuf', valid.subarray(0, valid.length - 3), 'invalid'],
      ['length prefix past the end', 'traces', 'protobuf', Buffer.from([0x0a, 0x7f, 0x00]), 'invalid'],
      ['resource_spans as varint', 'traces', 'protobuf', Buffer.from([0x08, 0x96, 0x01]), 'invalid'],
      ['11-byte varint', 'traces', 'protobuf', Buffer.from([0x0a, ...Array(10).fill(0xff), 0x01]), 'invalid'],
      ['wire type 6', 'logs', 'protobuf', Buffer.from([0x0e]), 'invalid'],
      ['a span name as a varint', 'traces', 'protobuf', Buffer.from([0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0x28, 0x01]), 'invalid'],
      ['nesting 200 deep', 'logs', 'protobuf', nestedBody(200), 'invalid'],
      ['JSON syntax error', 'traces', 'json', Buffer.from('{"resourceSpans":[{'), 'invalid'],
      ['JSON array root', 'logs', 'json', Buffer.from('[]'), 'invalid'],
      ['JSON wrong types', 'traces', 'json', jsonBody({ resourceSpans: [{ scopeSpans: [{ spans: [{ startTimeUnixNano: true }] }] }] }), 'invalid'],
      ['empty protobuf', 'traces', 'protobuf', new Uint8Array(), 'ok'],
      ['empty JSON object', 'logs', 'json', Buffer.from('{}'), 'ok'],
      ['empty scope', 'traces', 'protobuf', encodeTraces(traces([])), 'ok'],
      ['nesting 40 deep (protobufjs allows 100 message levels)', 'logs', 'protobuf', nestedBody(40), 'ok'],
    ];
    for (const [what, signal, format, body, kind] of corpus) {
      const h = harness();
      expect((await h.run(signal, format, body)).kind, what).toBe(kind);
      expect(h.budget.inUse, what).toBe(0);
    }
  });

  it('drops exposures past the feature and cohort caps but keeps the events, counting each overflow', async () => {
    const h = harness(new CardinalityGuard({ maxFeatures: 2, maxCohortsPerFeature: 2, knownFeatures: ['ruled'] }));
    const span = (feature: string, variant: string) => withFlag(feature, variant);
    const spans = [
      span('ruled', 'a'), span('ruled', 'b'), span('ruled', 'c'),
      span('f1', 'a'), span('f2', 'a'), span('f3', 'a'), span('f1', 'a'), span('f1', 'b'), span('f1', 'c'),
      // Repeats within the request (the handler remembers admitted pairs per request): the same answers.
      span('ruled', 'c'), span('f3', 'a'), span('ruled', 'a'),
    ];
    const outcome = await h.run('traces', 'protobuf', encodeTraces(traces(spans)));
    expect(outcome).toEqual({ kind: 'ok' });
    expect(h.published).toHaveLength(12);
    expect(h.published.map((e) => e.flags.map((f) => `${f.feature}:${f.variant}`).join())).toEqual([
      'ruled:a', 'ruled:b', '', 'f1:a', 'f2:a', '', 'f1:a', 'f1:b', '', '', '', 'ruled:a',
    ]);
    expect(Object.fromEntries(h.metrics.skipped)).toEqual({ cohort_overflow: 3, feature_overflow: 2 });
  });
});

function withFlag(feature: string, variant: string) {
  const s = goodSpan();
  return { ...s, attributes: [{ key: 'feature_flag.key', value: { stringValue: feature } }, { key: 'feature_flag.result.variant', value: { stringValue: variant } }, s.attributes[2]] };
}

/** A log record whose body nests `depth` array values, written by hand (protobufjs refuses to encode it). */
function nestedBody(depth: number): Buffer {
  const w = () => protobuf.Writer.create();
  let value = w().uint32(10).string('x').finish();
  for (let i = 0; i < depth; i++) value = w().uint32(42).bytes(w().uint32(10).bytes(value).finish()).finish();
  const user = w().uint32(10).string('user.id').uint32(18).bytes(w().uint32(10).string('u').finish()).finish();
  const record = w().uint32(9).fixed64(nanos(NOW - 1000)).uint32(42).bytes(value).uint32(50).bytes(user).finish();
  const scopeLogs = w().uint32(18).bytes(record).finish();
  const resourceLogs = w().uint32(18).bytes(scopeLogs).finish();
  return Buffer.from(w().uint32(10).bytes(resourceLogs).finish());
}

/** The OTLP/JSON form of a protobufjs plain request: ids in hex, 64-bit integers as strings. */
function jsonBody(req: unknown): Buffer {
  return Buffer.from(JSON.stringify(req, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    if (raw instanceof Uint8Array) return Buffer.from(raw).toString(key.endsWith('Id') ? 'hex' : 'base64');
    return value;
  }));
}
