import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { mapLogs, mapTraces, type MapperOptions } from '../../../src/receiver/mapping/feature-mapper.js';
import { createJsonDecoder } from '../../../src/receiver/decode/otlp-json-decoder.js';
import { createScannerDecoder } from '../../../src/receiver/decode/otlp-scanner.js';
import { Pseudonymizer } from '../../../src/receiver/mapping/pseudonymizer.js';
import { logBytes, logJson, NOW, recordLogs, recordSpans, tamper, traceBytes, traceJson } from './otlp-fixtures.js';

const json = createJsonDecoder();
const proto = createScannerDecoder(['app.step']);
const pseudo = new Pseudonymizer('json-test-key-0123456789');
const opts: MapperOptions = { attributeKeys: new Set(['app.step']), now: NOW, pseudonymize: pseudo.fn };
const body = (o: unknown) => Buffer.from(JSON.stringify(o));

function decodeError(f: () => unknown): PmfError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(PmfError);
    expect((err as PmfError).code).toBe('ERR_OTLP_DECODE');
    return err as PmfError;
  }
  throw new Error('expected a decode error');
}

describe('OTLP/JSON decoder', () => {
  it('maps SDK JSON exactly as the protobuf path maps the same spans and logs (same event ids)', async () => {
    const spans = await recordSpans([
      { name: 'GET /x', attributes: { 'feature_flag.key': 'f', 'feature_flag.result.variant': 'on', 'enduser.id': 'u', 'app.step': 'pay' } },
      { name: 'ev', events: [{ name: 'feature_flag.evaluation', attributes: { 'feature_flag.key': 'g', 'feature_flag.variant': 'b', 'user.id': 7 } }] },
    ], { 'user.id': 'r' });
    const fromJson = mapTraces(json.decodeTraces(traceJson(spans)), opts);
    expect(fromJson.events).toHaveLength(2);
    expect(fromJson).toEqual(mapTraces(proto.decodeTraces(traceBytes(spans)), opts));
    const recs = await recordLogs([
      { eventName: 'feature_flag.evaluation', body: 'b', attributes: { 'feature_flag.key': 'f', 'feature_flag.result.variant': 'on', 'user.id': 'u', nested: { a: [1, 'x', true, 2.5] } } },
      { attributes: { 'event.name': 'app.click', 'user.id': 'u', raw: new Uint8Array([1, 2, 250]) } },
    ]);
    const logsFromJson = mapLogs(json.decodeLogs(logJson(recs)), opts);
    expect(logsFromJson.events).toHaveLength(2);
    expect(logsFromJson).toEqual(mapLogs(proto.decodeLogs(logBytes(recs)), opts));
  });

  it('reads hex ids, int64 as strings or numbers, and the snake_case field names', () => {
    const start = BigInt(NOW - 1000) * 1_000_000n;
    const req = {
      resource_spans: [{
        scope_spans: [{
          spans: [{
            trace_id: '0102030405060708090a0b0c0d0e0f10', span_id: 'A1A2A3A4A5A6A7A8', name: 's',
            start_time_unix_nano: String(start), endTimeUnixNano: Number(start + 5_000_000n),
            attributes: [{ key: 'user.id', value: { intValue: '-9223372036854775808' } }],
          }],
        }],
      }],
    };
    const r = mapTraces(json.decodeTraces(body(req)), opts);
    expect(r.events).toEqual([expect.objectContaining({
      id: '0102030405060708090a0b0c0d0e0f10a1a2a3a4a5a6a7a8', user: pseudo.fn('-9223372036854775808'), time: NOW - 1000,
    })]);
    expect(r.events[0].durationMs).toBeCloseTo(5, 3);
  });

  it('rejects one span with a non-hex id and keeps the others (partial success)', async () => {
    const spans = await recordSpans([{ name: 'a', attributes: { 'user.id': 'u' } }, { name: 'b', attributes: { 'user.id': 'u' } }]);
    const doc = JSON.parse(Buffer.from(traceJson([tamper(spans[0], { traceId: 'zz'.repeat(16) }), spans[1]])).toString());
    const r = mapTraces(json.decodeTraces(body(doc)), opts);
    expect(r).toMatchObject({ received: 2, rejected: 1, rejectReasons: { invalid_trace_id: 1 } });
    expect(r.events.map((e) => e.name)).toEqual(['b']);
  });

  it('refuses bodies that are not OTLP/JSON with ERR_OTLP_DECODE and a path to the problem', () => {
    decodeError(() => json.decodeTraces(Buffer.from('{"resourceSpans": [')));
    decodeError(() => json.decodeTraces(Buffer.from('[1,2]')));
    expect(decodeError(() => json.decodeTraces(body({ resourceSpans: {} }))).message).toMatch(/resourceSpans must be an array/);
    expect(decodeError(() => json.decodeTraces(body({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 7 }] }] }] }))).message)
      .toMatch(/resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.name must be a string/);
    expect(decodeError(() => json.decodeTraces(body({ resourceSpans: [{ scopeSpans: [{ spans: [{ startTimeUnixNano: '-1' }] }] }] }))).message).toMatch(/nanoseconds/);
    expect(decodeError(() => json.decodeTraces(body({ resourceSpans: [{ scopeSpans: [{ spans: [{ attributes: [{ key: 'k', value: { intValue: '1e3' } }] }] }] }] }))).message).toMatch(/64-bit integer/);
    expect(decodeError(() => json.decodeLogs(body({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { bytesValue: '!!' } }] }] }] }))).message).toMatch(/base64/);
    let deep: unknown = { stringValue: 'x' };
    for (let i = 0; i < 100; i++) deep = { arrayValue: { values: [deep] } };
    expect(decodeError(() => json.decodeLogs(body({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: deep }] }] }] }))).message).toMatch(/deeper/);
  });

  it('reads an empty object as an empty request', () => {
    expect(json.decodeTraces(Buffer.from('{}'))).toEqual({ resourceSpans: [] });
    expect(json.decodeLogs(Buffer.from('{}'))).toEqual({ resourceLogs: [] });
  });

  it('never throws anything but ERR_OTLP_DECODE on arbitrary JSON', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), fc.constantFrom('traces', 'logs'), (v, signal) => {
      const b = body(signal === 'traces' ? { resourceSpans: [v] } : { resourceLogs: [{ scopeLogs: [{ logRecords: [v] }] }] });
      try {
        if (signal === 'traces') mapTraces(json.decodeTraces(b), opts);
        else mapLogs(json.decodeLogs(b), opts);
      } catch (err) {
        expect(err).toBeInstanceOf(PmfError);
      }
    }), { numRuns: 2000 });
  });
});
