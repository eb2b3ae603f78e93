// fast-check generators of OTLP requests (as protobufjs plain objects, encoded with the vendored
// protos) and of hostile mutations of their bytes, for the decoder and mapper fuzz tests.

import fc from 'fast-check';
import { otlpTypes } from '../../../src/receiver/decode/otlp-proto.js';
import { NOW } from './otlp-fixtures.js';

const MAPPED_KEYS = [
  'feature_flag.key', 'feature_flag.result.variant', 'feature_flag.variant',
  'feature_flag.context.id', 'enduser.id', 'user.id', 'event.name', 'app.step',
];

const NS = 1_000_000n;

export const attributeKey = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...MAPPED_KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });

const shortText = fc.oneof(fc.constantFrom('', 'on', 'off', 'treatment', 'control', 'u1', 'u2', 'feature_flag.evaluation'), fc.string({ maxLength: 16 }));

const int64Text = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
const uint64Text = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);

export const anyValue: fc.Arbitrary<Record<string, unknown>> = fc.letrec<{ value: Record<string, unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    shortText.map((stringValue) => ({ stringValue })),
    fc.boolean().map((boolValue) => ({ boolValue })),
    int64Text.map((intValue) => ({ intValue })),
    fc.double().map((doubleValue) => ({ doubleValue })),
    fc.uint8Array({ maxLength: 8 }).map((bytesValue) => ({ bytesValue })),
    fc.array(tie('value'), { maxLength: 3 }).map((values) => ({ arrayValue: { values } })),
    fc.array(fc.record({ key: attributeKey, value: tie('value') }), { maxLength: 3 }).map((values) => ({ kvlistValue: { values } })),
    fc.constant({}),
  ),
})).value;

export const attributes = fc.array(fc.record({ key: attributeKey, value: anyValue }), { maxLength: 6 });

/** Nanoseconds: mostly plausible (around NOW), sometimes absurd. */
export const nanos = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -3 * 86_400_000, max: 2 * 86_400_000 }).map((d) => String(BigInt(NOW + d) * NS)) },
  { weight: 1, arbitrary: uint64Text },
  { weight: 1, arbitrary: fc.constant('0') },
);

const id = (n: number) => fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ minLength: n, maxLength: n }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 20 }) });

export const span = fc.record({
  traceId: id(16),
  spanId: id(8),
  name: shortText,
  kind: fc.integer({ min: 0, max: 5 }),
  startTimeUnixNano: nanos,
  endTimeUnixNano: nanos,
  attributes,
  events: fc.array(fc.record({ timeUnixNano: nanos, name: shortText, attributes }), { maxLength: 3 }),
  links: fc.array(fc.record({ traceId: id(16), spanId: id(8), attributes }), { maxLength: 1 }),
  status: fc.record({ message: shortText, code: fc.integer({ min: 0, max: 2 }) }),
}, { requiredKeys: ['traceId', 'spanId', 'startTimeUnixNano', 'endTimeUnixNano'] });

const scope = fc.record({ name: shortText, version: shortText, attributes }, { requiredKeys: [] });

export const tracesRequest = fc.record({
  resourceSpans: fc.array(fc.record({
    resource: fc.record({ attributes }),
    scopeSpans: fc.array(fc.record({ scope, spans: fc.array(span, { maxLength: 4 }) }), { maxLength: 2 }),
  }, { requiredKeys: ['scopeSpans'] }), { maxLength: 2 }),
});

export const logRecord = fc.record({
  timeUnixNano: nanos,
  observedTimeUnixNano: nanos,
  severityNumber: fc.integer({ min: -3, max: 24 }),
  severityText: shortText,
  body: anyValue,
  attributes,
  traceId: id(16),
  spanId: id(8),
  eventName: shortText,
}, { requiredKeys: [] });

export const logsRequest = fc.record({
  resourceLogs: fc.array(fc.record({
    resource: fc.record({ attributes }),
    scopeLogs: fc.array(fc.record({ scope, logRecords: fc.array(logRecord, { maxLength: 4 }) }), { maxLength: 2 }),
  }, { requiredKeys: ['scopeLogs'] }), { maxLength: 2 }),
});

export function encodeTraces(obj: unknown): Buffer {
  const t = otlpTypes().traceRequest;
  return Buffer.from(t.encode(t.fromObject(obj as Record<string, unknown>)).finish());
}

export function encodeLogs(obj: unknown): Buffer {
  const t = otlpTypes().logsRequest;
  return Buffer.from(t.encode(t.fromObject(obj as Record<string, unknown>)).finish());
}

/** Byte-level damage: flips, truncation, insertion, deletion, huge varints, wrong wire types. */
export function mutated(base: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.tuple(base, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 }), fc.integer({ min: 0, max: 5 })), { minLength: 1, maxLength: 4 }))
    .map(([bytes, edits]) => {
      let b = Buffer.from(bytes);
      for (const [at, byte, kind] of edits) {
        const i = b.length === 0 ? 0 : at % b.length;
        if (kind === 0 && b.length) b[i] = byte;
        else if (kind === 1) b = b.subarray(0, i);
        else if (kind === 2) b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
        else if (kind === 3 && b.length) b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
        else if (kind === 4) b = Buffer.concat([b.subarray(0, i), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), b.subarray(i)]);
        else if (kind === 5 && b.length) b[i] = (b[i] & ~7) | (byte & 7);
      }
      return b;
    });
}
