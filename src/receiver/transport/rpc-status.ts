// google.rpc.Status, the error body OTLP uses on both transports: in the gRPC trailer
// `grpc-status-details-bin`, and as the HTTP error body (protobuf or JSON, like the request).
// A retry delay travels as google.rpc.RetryInfo, which OTLP clients honour as the backoff.
// Encoded by hand: three messages of two fields each do not justify vendoring more .proto files.

import protobuf from 'protobufjs';

export const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

export interface RpcStatus {
  /** A gRPC status code (google.rpc.Code). */
  code: number;
  message: string;
  retryDelayMs?: number;
}

function encodeRetryInfo(delayMs: number): Uint8Array {
  const seconds = Math.floor(delayMs / 1000);
  const nanos = Math.round((delayMs - seconds * 1000) * 1e6);
  const duration = protobuf.Writer.create();
  if (seconds) duration.uint32(8).int64(seconds);
  if (nanos) duration.uint32(16).int32(nanos);
  return protobuf.Writer.create().uint32(10).bytes(duration.finish()).finish();
}

export function encodeRpcStatus(s: RpcStatus): Uint8Array {
  const w = protobuf.Writer.create();
  if (s.code) w.uint32(8).int32(s.code);
  if (s.message) w.uint32(18).string(s.message);
  if (s.retryDelayMs !== undefined) {
    const any = protobuf.Writer.create().uint32(10).string(RETRY_INFO_TYPE_URL).uint32(18).bytes(encodeRetryInfo(s.retryDelayMs)).finish();
    w.uint32(26).bytes(any);
  }
  return w.finish();
}

/** The proto3 JSON mapping of the same Status (Any carries its type in "@type"). */
export function rpcStatusJson(s: RpcStatus): Record<string, unknown> {
  const out: Record<string, unknown> = { code: s.code, message: s.message };
  if (s.retryDelayMs !== undefined) {
    out.details = [{ '@type': RETRY_INFO_TYPE_URL, retryDelay: `${(s.retryDelayMs / 1000).toFixed(3).replace(/\.?0+$/, '')}s` }];
  }
  return out;
}

/** Reads a Status back (tests and clients); unknown fields are skipped. */
export function decodeRpcStatus(bytes: Uint8Array): RpcStatus {
  const r = protobuf.Reader.create(bytes);
  const out: RpcStatus = { code: 0, message: '' };
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 8) out.code = r.int32();
    else if (tag === 18) out.message = r.string();
    else if (tag === 26) {
      const any = protobuf.Reader.create(r.bytes());
      let typeUrl = '';
      let value: Uint8Array = new Uint8Array();
      while (any.pos < any.len) {
        const t = any.uint32();
        if (t === 10) typeUrl = any.string();
        else if (t === 18) value = any.bytes();
        else any.skipType(t & 7);
      }
      if (typeUrl === RETRY_INFO_TYPE_URL) out.retryDelayMs = decodeRetryDelay(value);
    } else r.skipType(tag & 7);
  }
  return out;
}

function decodeRetryDelay(bytes: Uint8Array): number {
  const r = protobuf.Reader.create(bytes);
  let ms = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag !== 10) {
      r.skipType(tag & 7);
      continue;
    }
    const d = protobuf.Reader.create(r.bytes());
    while (d.pos < d.len) {
      const t = d.uint32();
      if (t === 8) ms += Number(d.int64().toString()) * 1000;
      else if (t === 16) ms += d.int32() / 1e6;
      else d.skipType(t & 7);
    }
  }
  return ms;
}
