import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { createProtobufDecoder } from '../../../src/receiver/decode/otlp-decoder.js';
import { encodeLogsResponse, encodeTraceResponse } from '../../../src/receiver/transport/otlp-response.js';
import { findProtoDir, otlpTypes } from '../../../src/receiver/decode/otlp-proto.js';
import { recordSpans, traceBytes } from './otlp-fixtures.js';

const decoder = createProtobufDecoder();

describe('OTLP protobuf decoder', () => {
  it('finds the vendored proto directory from src/ and from dist/src/', () => {
    const root = dirname(findProtoDir());
    expect(existsSync(join(root, 'package.json'))).toBe(true);
    expect(findProtoDir(join(root, 'dist', 'src', 'receiver'))).toBe(join(root, 'proto'));
    expect(() => findProtoDir('/')).toThrowError(/no proto/);
  });

  it('decodes SDK-serialized spans', async () => {
    const spans = await recordSpans([{ name: 'one' }, { name: 'two' }]);
    const req = decoder.decodeTraces(traceBytes(spans));
    expect(req.resourceSpans?.[0].scopeSpans?.[0].spans?.map((s) => s.name)).toEqual(['one', 'two']);
  });

  it('decodes an empty body as an empty request', () => {
    expect(decoder.decodeTraces(new Uint8Array()).resourceSpans).toEqual([]);
    expect(decoder.decodeLogs(new Uint8Array()).resourceLogs).toEqual([]);
  });

  it('throws ERR_OTLP_DECODE on malformed bytes', () => {
    const garbage = Buffer.from('this is not protobuf!');
    for (const decode of [() => decoder.decodeTraces(garbage), () => decoder.decodeLogs(garbage)]) {
      let caught: unknown;
      try { decode(); } catch (err) { caught = err; }
      expect(caught).toBeInstanceOf(PmfError);
      expect((caught as PmfError).code).toBe('ERR_OTLP_DECODE');
    }
  });

  it('sets partial_success only when something was rejected', () => {
    const { traceResponse, logsResponse } = otlpTypes();
    expect(encodeTraceResponse().length).toBe(0);
    expect(encodeTraceResponse({ rejected: 0, errorMessage: '' }).length).toBe(0);
    const t = traceResponse.toObject(traceResponse.decode(encodeTraceResponse({ rejected: 2, errorMessage: 'bad ids' })), { longs: Number });
    expect(t).toEqual({ partialSuccess: { rejectedSpans: 2, errorMessage: 'bad ids' } });
    const l = logsResponse.toObject(logsResponse.decode(encodeLogsResponse({ rejected: 1, errorMessage: 'old' })), { longs: Number });
    expect(l).toEqual({ partialSuccess: { rejectedLogRecords: 1, errorMessage: 'old' } });
  });
});
