// Export replies: ExportTraceServiceResponse / ExportLogsServiceResponse in the request's format.
// partial_success is set only when something was rejected: a full success must leave it unset
// (OTLP specification), and the client must not retry either way.

import { otlpTypes } from '../decode/otlp-proto.js';
import type { OtlpSignal } from '../receiver-metrics.js';

export type WireFormat = 'protobuf' | 'json';

export interface PartialSuccess {
  rejected: number;
  errorMessage: string;
}

const rejectedField = (signal: OtlpSignal) => (signal === 'traces' ? 'rejectedSpans' : 'rejectedLogRecords');

export function encodeTraceResponse(partial?: PartialSuccess): Uint8Array {
  return encodeProto('traces', partial);
}

export function encodeLogsResponse(partial?: PartialSuccess): Uint8Array {
  return encodeProto('logs', partial);
}

function encodeProto(signal: OtlpSignal, partial: PartialSuccess | undefined): Uint8Array {
  const t = signal === 'traces' ? otlpTypes().traceResponse : otlpTypes().logsResponse;
  const body = partial && partial.rejected > 0
    ? { partialSuccess: { [rejectedField(signal)]: partial.rejected, errorMessage: partial.errorMessage } }
    : {};
  return t.encode(t.fromObject(body)).finish();
}

/** The JSON form; int64 counts are decimal strings, as the protobuf JSON mapping writes them. */
export function exportResponseJson(signal: OtlpSignal, partial?: PartialSuccess): Record<string, unknown> {
  if (!partial || partial.rejected <= 0) return {};
  return { partialSuccess: { [rejectedField(signal)]: String(partial.rejected), errorMessage: partial.errorMessage } };
}

export function encodeExportResponse(signal: OtlpSignal, format: WireFormat, partial?: PartialSuccess): Buffer {
  return format === 'json'
    ? Buffer.from(JSON.stringify(exportResponseJson(signal, partial)))
    : Buffer.from(encodeProto(signal, partial));
}
