import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { mapLogs, mapTraces, type MapperOptions } from '../../../src/receiver/mapping/feature-mapper.js';
import { createProtobufDecoder, type OtlpDecoder } from '../../../src/receiver/decode/otlp-decoder.js';
import { createScannerDecoder } from '../../../src/receiver/decode/otlp-scanner.js';
import { Pseudonymizer } from '../../../src/receiver/mapping/pseudonymizer.js';
import { encodeLogs, encodeTraces, logsRequest, mutated, tracesRequest } from './otlp-arbitraries.js';
import { logBytes, NOW, recordLogs, recordSpans, traceBytes } from './otlp-fixtures.js';

const full = createProtobufDecoder();
const scanner = createScannerDecoder(['app.step']);
const pseudo = new Pseudonymizer('scanner-test-key-0123456789');
const opts: MapperOptions = { attributeKeys: new Set(['app.step']), now: NOW, pseudonymize: pseudo.fn };

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

function attempt(f: () => unknown): Outcome {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
}

const traces = (d: OtlpDecoder, b: Buffer) => attempt(() => mapTraces(d.decodeTraces(b), opts));
/** The receiver's path: user ids the scanner left as bytes are pseudonymised by their bytes. */
const byBytes = new Pseudonymizer('scanner-test-key-0123456789', 4);
const bytesOpts: MapperOptions = { ...opts, pseudonymize: byBytes.fn, pseudonymizeUtf8: byBytes.utf8Fn };
const logs = (d: OtlpDecoder, b: Buffer) => attempt(() => mapLogs(d.decodeLogs(b), opts));

function expectDecodeErrorOrValue(o: Outcome): void {
  if (!o.ok) {
    expect(o.error).toBeInstanceOf(PmfError);
    expect((o.error as PmfError).code).toBe('ERR_OTLP_DECODE');
  }
}

describe('lazy OTLP scanner, cross-checked against protobufjs', () => {
  it('maps SDK-produced spans and logs exactly as the full decoder does', async () => {
    const spans = await recordSpans([
      { name: 'GET /x', attributes: { 'feature_flag.key': 'f', 'feature_flag.result.variant': 'on', 'enduser.id': 'u', 'app.step': 'pay', 'http.route': '/x' } },
      { name: 'ev', events: [{ name: 'feature_flag.evaluation', attributes: { 'feature_flag.key': 'g', 'feature_flag.variant': 'b', 'user.id': 7 } }] },
      { name: 'res' },
    ], { 'user.id': 'from-resource', 'service.name': 'svc' });
    const tb = Buffer.from(traceBytes(spans));
    const fromScanner = traces(scanner, tb);
    expect(fromScanner).toEqual(traces(full, tb));
    expect(fromScanner.ok && (fromScanner.value as { events: unknown[] }).events).toHaveLength(3);
    const recs = await recordLogs([
      { eventName: 'feature_flag.evaluation', body: 'b', attributes: { 'feature_flag.key': 'f', 'feature_flag.result.variant': 'on', 'user.id': 'u', nested: { a: [1, 'x'] } } },
      { attributes: { 'event.name': 'app.click', 'user.id': 'u', raw: new Uint8Array([1, 2]) } },
    ]);
    const lb = Buffer.from(logBytes(recs));
    expect(logs(scanner, lb)).toEqual(logs(full, lb));
  });

  it('agrees with protobufjs on every generated well-formed request', () => {
    fc.assert(fc.property(tracesRequest, (req) => {
      const b = encodeTraces(req);
      const a = traces(scanner, b);
      expect(a.ok).toBe(true);
      expect(a).toEqual(traces(full, b));
    }), { numRuns: 300 });
    fc.assert(fc.property(logsRequest, (req) => {
      const b = encodeLogs(req);
      const a = logs(scanner, b);
      expect(a.ok).toBe(true);
      expect(a).toEqual(logs(full, b));
    }), { numRuns: 300 });
  });

  it('reads string values of every framing the short-string path sees exactly as protobufjs', () => {
    // Values whose string fills the value (read without the AnyValue field loop) next to ones
    // whose framing does not fit it: long, with a second field, or not a string.
    const id = (n: number, b: number) => new Uint8Array(n).fill(b);
    const t = String(BigInt(NOW) * 1_000_000n);
    const texts = ['', 'x', 'é', 'a'.repeat(124), 'a'.repeat(125), 'a'.repeat(127), 'a'.repeat(128), 'ü'.repeat(100)];
    const spans = texts.flatMap((text, i) => [
      { key: 'feature_flag.key', value: { stringValue: `f${i}` } },
      { key: 'feature_flag.variant', value: { stringValue: text } },
      { key: 'enduser.id', value: { stringValue: text || 'u' } },
      { key: 'app.step', value: { stringValue: text, boolValue: true } },
    ]).map((kv, i) => ({ traceId: id(16, i + 1), spanId: id(8, i + 1), name: 's', startTimeUnixNano: t, endTimeUnixNano: t, attributes: [kv, { key: 'app.step', value: { intValue: '5' } }, kv] }));
    const b = encodeTraces({ resourceSpans: [{ resource: { attributes: [{ key: 'user.id', value: { stringValue: 'r'.repeat(126) } }] }, scopeSpans: [{ spans }] }] });
    const a = traces(scanner, b);
    expect(a.ok).toBe(true);
    expect(a).toEqual(traces(full, b));
  });

  it('pseudonymises user ids by their bytes exactly as by their text, within the same length bound', () => {
    fc.assert(fc.property(tracesRequest, (req) => {
      const b = encodeTraces(req);
      expect(attempt(() => mapTraces(scanner.decodeTraces(b), bytesOpts))).toEqual(traces(full, b));
    }), { numRuns: 300 });
    // Invalid UTF-8 decodes to U+FFFD either way; multi-byte ids are bounded by characters, not bytes.
    const t = String(BigInt(NOW) * 1_000_000n);
    const ids: Uint8Array[] = [Buffer.from('u-1'), Buffer.from('üüü'), Buffer.from([0x75, 0xff, 0xfe]), Buffer.from('abcd'), Buffer.from('u-1')];
    const spans = ids.map((id, i) => ({
      traceId: new Uint8Array(16).fill(i + 1), spanId: new Uint8Array(8).fill(i + 1), name: 's', startTimeUnixNano: t, endTimeUnixNano: t,
      attributes: [{ key: 'enduser.id', value: { bytesValue: id } }],
    }));
    // Written as bytes values, then the AnyValue field number patched from 7 (bytes) to 1 (string).
    const raw = Buffer.from(encodeTraces({ resourceSpans: [{ scopeSpans: [{ spans }] }] }));
    for (const id of ids) {
      const at = raw.indexOf(Buffer.concat([Buffer.from([0x3a, id.length]), id]));
      expect(at).toBeGreaterThan(0);
      raw[at] = 0x0a;
    }
    const small = { maxValueLength: 3 };
    const viaBytes = mapTraces(scanner.decodeTraces(raw), { ...bytesOpts, ...small });
    expect(viaBytes).toEqual(mapTraces(full.decodeTraces(raw), { ...opts, ...small }));
    expect(viaBytes.events.map((e) => e.user)).toEqual(['u-1', 'üüü', 'u\ufffd\ufffd', 'u-1'].map((u) => pseudo.pseudonymize(u)));
    expect(viaBytes.rejectReasons).toEqual({ value_too_long: 1 });
  });

  it('on damaged bytes, fails only with ERR_OTLP_DECODE and agrees whenever both decoders accept', () => {
    let bothAccepted = 0;
    fc.assert(fc.property(mutated(tracesRequest.map(encodeTraces)), (b) => {
      const a = traces(scanner, b);
      expectDecodeErrorOrValue(a);
      const f = traces(full, b);
      if (a.ok && f.ok) {
        bothAccepted++;
        expect(a.value).toEqual(f.value);
      }
    }), { numRuns: Number(process.env.FUZZ_RUNS ?? 1500) });
    fc.assert(fc.property(mutated(logsRequest.map(encodeLogs)), (b) => {
      const a = logs(scanner, b);
      expectDecodeErrorOrValue(a);
      const f = logs(full, b);
      if (a.ok && f.ok) {
        bothAccepted++;
        expect(a.value).toEqual(f.value);
      }
    }), { numRuns: Number(process.env.FUZZ_RUNS ?? 1500) });
    // The comparison must actually happen on a good share of the damaged inputs.
    expect(bothAccepted).toBeGreaterThan(300);
  });

  it('never throws anything but ERR_OTLP_DECODE on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const b = Buffer.from(bytes);
      expectDecodeErrorOrValue(traces(scanner, b));
      expectDecodeErrorOrValue(logs(scanner, b));
    }), { numRuns: 3000 });
  });

  it('refuses known fields with the wrong wire type, huge varints and truncation', () => {
    const cases: [string, number[]][] = [
      ['resource_spans as a varint', [0x08, 0x01]],
      ['length past the end', [0x0a, 0x05, 0x00]],
      ['11-byte varint tag', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
      ['wire type 7', [0x0f]],
      ['span name as fixed32', [0x0a, 0x09, 0x12, 0x07, 0x12, 0x05, 0x2d, 0x01, 0x02, 0x03, 0x04]],
      ['unterminated group', [0x0a, 0x03, 0x12, 0x01, 0x0b]],
    ];
    for (const [what, bytes] of cases) {
      const o = traces(scanner, Buffer.from(bytes));
      expect(o.ok, what).toBe(false);
      expectDecodeErrorOrValue(o);
    }
  });

  it('reads an empty body as an empty request', () => {
    expect(scanner.decodeTraces(Buffer.alloc(0))).toEqual({ resourceSpans: [] });
    expect(scanner.decodeLogs(new Uint8Array())).toEqual({ resourceLogs: [] });
  });
});
