import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeRpcStatus, encodeRpcStatus, RETRY_INFO_TYPE_URL, rpcStatusJson } from '../../../src/receiver/transport/rpc-status.js';

describe('google.rpc.Status encoding', () => {
  it('round-trips code, message and a RetryInfo delay', () => {
    for (const s of [{ code: 14, message: 'retry', retryDelayMs: 1500 }, { code: 3, message: 'bad' }, { code: 14, message: '', retryDelayMs: 2000 }]) {
      expect(decodeRpcStatus(encodeRpcStatus(s))).toEqual(s);
    }
  });

  it('writes the wire layout of google.rpc.Status with an Any-wrapped RetryInfo', () => {
    const bytes = encodeRpcStatus({ code: 14, message: 'm', retryDelayMs: 2500 });
    const r = protobuf.Reader.create(bytes);
    expect([r.uint32(), r.int32()]).toEqual([8, 14]);
    expect([r.uint32(), r.string()]).toEqual([18, 'm']);
    expect(r.uint32()).toBe(26);
    const any = protobuf.Reader.create(r.bytes());
    expect([any.uint32(), any.string()]).toEqual([10, RETRY_INFO_TYPE_URL]);
    expect(any.uint32()).toBe(18);
    const retryInfo = protobuf.Reader.create(any.bytes());
    expect(retryInfo.uint32()).toBe(10);
    const duration = protobuf.Reader.create(retryInfo.bytes());
    expect([duration.uint32(), Number(duration.int64()), duration.uint32(), duration.int32()]).toEqual([8, 2, 16, 500_000_000]);
  });

  it('has the proto3 JSON form', () => {
    expect(rpcStatusJson({ code: 14, message: 'x', retryDelayMs: 1500 })).toEqual({
      code: 14, message: 'x', details: [{ '@type': RETRY_INFO_TYPE_URL, retryDelay: '1.5s' }],
    });
    expect(rpcStatusJson({ code: 3, message: 'y' })).toEqual({ code: 3, message: 'y' });
  });
});
