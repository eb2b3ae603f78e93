// Request decoding behind a small interface, so a lazy scanner can replace protobufjs later.

import { PmfError } from '../core/errors.js';
import { otlpTypes } from './otlp-proto.js';
import type { OtlpLogsRequest, OtlpTracesRequest } from './otlp-types.js';

export interface OtlpDecoder {
  decodeTraces(body: Uint8Array): OtlpTracesRequest;
  decodeLogs(body: Uint8Array): OtlpLogsRequest;
}

export interface PartialSuccess {
  rejected: number;
  errorMessage: string;
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

/** Encodes the reply; partial_success is set only when something was rejected (OTLP spec). */
export function encodeTraceResponse(partial?: PartialSuccess): Uint8Array {
  const t = otlpTypes().traceResponse;
  const body = partial && partial.rejected > 0
    ? { partialSuccess: { rejectedSpans: partial.rejected, errorMessage: partial.errorMessage } }
    : {};
  return t.encode(t.fromObject(body)).finish();
}

export function encodeLogsResponse(partial?: PartialSuccess): Uint8Array {
  const t = otlpTypes().logsResponse;
  const body = partial && partial.rejected > 0
    ? { partialSuccess: { rejectedLogRecords: partial.rejected, errorMessage: partial.errorMessage } }
    : {};
  return t.encode(t.fromObject(body)).finish();
}
