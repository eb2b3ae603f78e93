import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { createScannerDecoder } from '../../../src/receiver/decode/otlp-scanner.js';
import { RequestCounter, RequestLimitError } from '../../../src/receiver/decode/request-limits.js';
import { jsonObjectPrecheck, protobufRecordPrecheck } from '../../../src/receiver/decode/streaming-precheck.js';
import { encodeLogs, encodeTraces, logsRequest, mutated, tracesRequest } from './otlp-arbitraries.js';

const scanner = createScannerDecoder();

/** Feeds `body` to the precheck in pieces cut at `cuts` (offsets taken modulo the length). */
function feed(check: { push(c: Uint8Array): void }, body: Buffer, cuts: number[]): void {
  const at = [...new Set(cuts.map((c) => (body.length ? c % body.length : 0)))].sort((a, b) => a - b);
  let from = 0;
  for (const c of [...at, body.length]) {
    check.push(body.subarray(from, c));
    from = c;
  }
}

function caught(f: () => void): unknown {
  try {
    f();
    return undefined;
  } catch (err) {
    return err;
  }
}

/** What the scanner counts, or undefined when it refuses the bytes. */
function scanned(signal: 'traces' | 'logs', body: Buffer): RequestCounter | undefined {
  const counter = new RequestCounter({ maxRecords: 1e9, maxAttributes: 1e9 });
  try {
    if (signal === 'traces') scanner.decodeTraces(body, counter);
    else scanner.decodeLogs(body, counter);
    return counter;
  } catch (err) {
    if (err instanceof PmfError && err.code === 'ERR_OTLP_DECODE') return undefined;
    throw err;
  }
}

const cuts = fc.array(fc.nat(), { maxLength: 8 });

describe('protobufRecordPrecheck', () => {
  it('counts exactly the records the scanner counts, however the body is cut into chunks', () => {
    for (const [signal, arb] of [['traces', tracesRequest.map(encodeTraces)], ['logs', logsRequest.map(encodeLogs)]] as const) {
      fc.assert(fc.property(arb, cuts, (body, at) => {
        const records = scanned(signal, body)!.records;
        expect(caught(() => feed(protobufRecordPrecheck(signal, records, 1e9), body, at))).toBeUndefined();
        if (records > 0) {
          const err = caught(() => feed(protobufRecordPrecheck(signal, records - 1, 1e9), body, at));
          expect(err).toBeInstanceOf(RequestLimitError);
          expect((err as RequestLimitError).reason).toBe('too_many_records');
        }
      }), { numRuns: 150 });
    }
  });

  it('never refuses damaged bytes the scanner accepts within the same caps, and throws nothing but limit errors', () => {
    for (const [signal, arb] of [['traces', mutated(tracesRequest.map(encodeTraces))], ['logs', mutated(logsRequest.map(encodeLogs))]] as const) {
      fc.assert(fc.property(arb, cuts, (body, at) => {
        const counted = scanned(signal, body);
        const err = caught(() => feed(protobufRecordPrecheck(signal, counted?.records ?? 3, counted?.attributes ?? 3), body, at));
        if (counted) expect(err).toBeUndefined();
        else if (err !== undefined) expect(err).toBeInstanceOf(RequestLimitError);
      }), { numRuns: 300 });
    }
  });

  it('stops an empty-span flood and an attribute flood at the cap, a byte at a time', () => {
    const flood = Buffer.concat([Buffer.from([0x0a, 0x86, 0x9c, 0x01, 0x12, 0x83, 0x9c, 0x01]), Buffer.alloc(20_000).fill(Buffer.from([0x12, 0x00]))]);
    const check = protobufRecordPrecheck('traces', 1000, 1e9);
    let fed = 0;
    const err = caught(() => {
      for (; fed < flood.length; fed++) check.push(flood.subarray(fed, fed + 1));
    });
    expect((err as RequestLimitError).reason).toBe('too_many_records');
    expect(fed).toBeLessThan(2 * 1001 + 16);
    // One span (0x12 len) holding 3 attributes (field 9, 0x4a, each an empty KeyValue).
    const attrs = Buffer.from([0x0a, 0x0a, 0x12, 0x08, 0x12, 0x06, 0x4a, 0x00, 0x4a, 0x00, 0x4a, 0x00]);
    expect(scanned('traces', attrs)?.records).toBe(1);
    expect(caught(() => protobufRecordPrecheck('traces', 10, 3).push(attrs))).toBeUndefined();
    expect((caught(() => protobufRecordPrecheck('traces', 10, 2).push(attrs)) as RequestLimitError).reason).toBe('too_many_attributes');
  });
});

describe('jsonObjectPrecheck', () => {
  it('refuses once more objects than the cap have arrived, counting across chunks', () => {
    const check = jsonObjectPrecheck(3);
    check.push(Buffer.from('{"a":{'));
    check.push(Buffer.from('}, "b": {}'));
    expect((caught(() => check.push(Buffer.from('{}'))) as RequestLimitError).reason).toBe('too_many_json_objects');
  });
});
