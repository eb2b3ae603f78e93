// Real OTLP bytes for receiver tests: spans and log records come from the OpenTelemetry JS SDK
// and are serialized by @opentelemetry/otlp-transformer, the same code exporters use.

import type { Attributes } from '@opentelemetry/api';
import type { AnyValueMap } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { JsonLogsSerializer, JsonTraceSerializer, ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';

export const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

export interface SpanSpec {
  name: string;
  attributes?: Attributes;
  events?: { name: string; attributes?: Attributes }[];
  startMs?: number;
  endMs?: number;
}

export async function recordSpans(specs: SpanSpec[], resource: Attributes = {}): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('pmf-guard-test');
  for (const s of specs) {
    const start = s.startMs ?? NOW - 3_600_000;
    const span = tracer.startSpan(s.name, { attributes: s.attributes, startTime: start });
    for (const e of s.events ?? []) span.addEvent(e.name, e.attributes, start + 1);
    span.end(s.endMs ?? start + 250);
  }
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

/** The same span with other fields, for inputs the SDK refuses to produce (broken ids, end < start). */
export function tamper(span: ReadableSpan, patch: { traceId?: string; spanId?: string; endTime?: [number, number] }): ReadableSpan {
  const ctx = { ...span.spanContext(), ...(patch.traceId !== undefined && { traceId: patch.traceId }), ...(patch.spanId !== undefined && { spanId: patch.spanId }) };
  const t = Object.create(span) as ReadableSpan & { spanContext: () => typeof ctx };
  Object.defineProperty(t, 'spanContext', { value: () => ctx });
  if (patch.endTime) Object.defineProperty(t, 'endTime', { value: patch.endTime });
  return t;
}

export function traceBytes(spans: ReadableSpan[]): Uint8Array {
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  if (!bytes) throw new Error('serializer produced nothing');
  return bytes;
}

/** The OTLP/JSON body the HTTP/JSON exporter sends for these spans. */
export function traceJson(spans: ReadableSpan[]): Uint8Array {
  const bytes = JsonTraceSerializer.serializeRequest(spans);
  if (!bytes) throw new Error('serializer produced nothing');
  return bytes;
}

export interface LogSpec {
  eventName?: string;
  attributes?: AnyValueMap;
  timeMs?: number;
  body?: string;
}

export async function recordLogs(specs: LogSpec[], resource: Attributes = {}): Promise<ReadableLogRecord[]> {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({
    resource: resourceFromAttributes(resource),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger('pmf-guard-test');
  for (const s of specs) {
    logger.emit({ eventName: s.eventName, attributes: s.attributes, timestamp: s.timeMs ?? NOW - 60_000, body: s.body });
  }
  await provider.forceFlush();
  const records = exporter.getFinishedLogRecords();
  await provider.shutdown();
  return records;
}

export function logBytes(records: ReadableLogRecord[]): Uint8Array {
  const bytes = ProtobufLogsSerializer.serializeRequest(records);
  if (!bytes) throw new Error('serializer produced nothing');
  return bytes;
}

export function withLogTimes(record: ReadableLogRecord, hrTime: [number, number], hrTimeObserved: [number, number]): ReadableLogRecord {
  const t = Object.create(record) as ReadableLogRecord;
  Object.defineProperty(t, 'hrTime', { value: hrTime });
  Object.defineProperty(t, 'hrTimeObserved', { value: hrTimeObserved });
  return t;
}

export function logJson(records: ReadableLogRecord[]): Uint8Array {
  const bytes = JsonLogsSerializer.serializeRequest(records);
  if (!bytes) throw new Error('serializer produced nothing');
  return bytes;
}
