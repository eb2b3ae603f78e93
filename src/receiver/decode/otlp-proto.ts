// Loads the vendored opentelemetry-proto files (proto/, see proto/README.md) with protobufjs.
// The proto dir is found by walking up from this module, so the same code works from src/
// (tsx, vitest) and from dist/src/ after tsc.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const MARKER = join('proto', 'opentelemetry', 'proto', 'collector');

export function findProtoDir(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, MARKER))) return join(dir, 'proto');
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no proto/ directory above ${start}`);
    dir = parent;
  }
}

export interface OtlpTypes {
  traceRequest: protobuf.Type;
  traceResponse: protobuf.Type;
  logsRequest: protobuf.Type;
  logsResponse: protobuf.Type;
}

let cached: OtlpTypes | undefined;

export function otlpTypes(): OtlpTypes {
  if (cached) return cached;
  const protoDir = findProtoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoDir, target);
  root.loadSync([
    'opentelemetry/proto/collector/trace/v1/trace_service.proto',
    'opentelemetry/proto/collector/logs/v1/logs_service.proto',
  ]);
  cached = {
    traceRequest: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    traceResponse: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    logsRequest: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
    logsResponse: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse'),
  };
  return cached;
}
