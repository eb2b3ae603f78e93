// Request decoding behind a small interface: the lazy scanner (otlp-scanner.ts) is the receiver's
// protobuf path, the JSON decoder (otlp-json-decoder.ts) serves OTLP/JSON, and this full protobufjs
// decode is the reference both are tested and benchmarked against.

import { PmfError } from '../../core/errors.js';
import { otlpTypes } from './otlp-proto.js';
import type { OtlpLogsRequest, OtlpTracesRequest } from './otlp-types.js';
import type { RequestCounter } from './request-limits.js';

export interface OtlpDecoder {
  /** `counter` enforces the per-request caps while decoding (the receiver's decoders honour it). */
  decodeTraces(body: Uint8Array, counter?: RequestCounter): OtlpTracesRequest;
  decodeLogs(body: Uint8Array, counter?: RequestCounter): OtlpLogsRequest;
}

function decodeWith<T>(what: string, decode: () => unknown): T {
  try {
    return decode() as T;
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new PmfError('ERR_OTLP_DECODE', `malformed ${what}: ${detail}`, { cause: err });
  }
}

export function createProtobufDecoder(): OtlpDecoder {
  const types = otlpTypes();
  return {
    decodeTraces: (body) => decodeWith('ExportTraceServiceRequest', () => types.traceRequest.decode(body)),
    decodeLogs: (body) => decodeWith('ExportLogsServiceRequest', () => types.logsRequest.decode(body)),
  };
}
