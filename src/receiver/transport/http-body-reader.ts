// Reads an OTLP/HTTP request body with its limits enforced while it streams: the size limit is
// measured after decompression, and inflation stops as soon as the limit is passed, so a
// decompression bomb costs at most the limit plus one zlib output chunk of memory (the flaw of
// CVE-2024-36129 in the Collector). Every decompressed chunk is also charged to the request's
// in-flight lease; when the shared budget is spent the read pauses (TCP holds the sender) and
// waits its turn in the budget's FIFO queue, with gRPC admissions, for up to waitMs; past that the
// read stops and the caller answers 429.
// An optional precheck sees every decompressed chunk, so a request cap (records, attributes, JSON
// objects) stops a bomb after the cap's worth of inflation rather than the whole size limit.
// Joining the chunks into one buffer is charged too, since both copies are held at that moment.

import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';
import type { Lease } from './inflight-budget.js';
import type { BodyPrecheck } from '../decode/streaming-precheck.js';
import { RequestLimitError } from '../decode/request-limits.js';

export type ContentEncoding = 'identity' | 'gzip' | 'deflate';

export type BodyRead =
  | { ok: true; body: Buffer }
  | { ok: false; reason: 'too_large' | 'overloaded' | 'bad_encoding' | 'aborted'; message: string }
  | { ok: false; reason: 'limit'; message: string; limit: RequestLimitError };

export interface BodyLimits {
  /** Most bytes accepted after decompression (and before it: a larger compressed body is refused too). */
  maxBytes: number;
  encoding: ContentEncoding;
  lease: Lease;
  /** Longest wait for budget per chunk before the read is refused as overloaded. */
  waitMs: number;
  precheck?: BodyPrecheck;
}

/** Also counts how many decompressed bytes were produced, so tests can check a bomb was cut short. */
export interface BodyReadStats {
  inflatedBytes: number;
}

/** Larger output chunks than zlib's 16 KiB: a quarter of the callbacks and buffers per MiB inflated. */
const INFLATE_OPTIONS = { chunkSize: 64 * 1024 };

export function parseContentEncoding(header: string | undefined): ContentEncoding | undefined {
  const v = (header ?? '').trim().toLowerCase();
  if (v === '' || v === 'identity') return 'identity';
  if (v === 'gzip' || v === 'x-gzip') return 'gzip';
  if (v === 'deflate') return 'deflate';
  return undefined;
}

export function readBody(req: IncomingMessage, limits: BodyLimits, stats?: BodyReadStats): Promise<BodyRead> {
  const { maxBytes, encoding, lease, precheck, waitMs } = limits;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let raw = 0;
    let done = false;
    const inflater: Gunzip | Inflate | undefined =
      encoding === 'gzip' ? createGunzip(INFLATE_OPTIONS) : encoding === 'deflate' ? createInflate(INFLATE_OPTIONS) : undefined;
    const overloaded = (): BodyRead => ({ ok: false, reason: 'overloaded', message: 'receiver is at its in-flight memory bound, retry later' });
  const tooLarge = (): BodyRead => ({ ok: false, reason: 'too_large', message: `request body exceeds ${maxBytes} bytes after decompression` });

    const finish = (result: BodyRead) => {
      if (done) return;
      done = true;
      if (inflater) {
        req.unpipe(inflater);
        inflater.destroy();
      }
      req.off('data', onRaw);
      if (!result.ok && !req.complete) drain(req, maxBytes);
      resolve(result);
    };
    const onOutput = (chunk: Buffer) => {
      if (done) return;
      total += chunk.length;
      if (stats) stats.inflatedBytes = total;
      if (total > maxBytes) return finish(tooLarge());
      if (precheck) {
        try {
          precheck.push(chunk);
        } catch (err) {
          if (err instanceof RequestLimitError) return finish({ ok: false, reason: 'limit', message: err.message, limit: err });
          throw err;
        }
      }
      // Paused until the budget takes the chunk, so at most this one is held uncharged.
      output.pause();
      void lease.growOrWait(chunk.length, waitMs).then((ok) => {
        if (done) return;
        if (!ok) return finish(overloaded());
        chunks.push(chunk);
        output.resume();
      });
    };
    const onRaw = (chunk: Buffer) => {
      raw += chunk.length;
      if (raw > maxBytes) finish(tooLarge());
    };

    req.on('data', onRaw);
    req.on('error', () => finish({ ok: false, reason: 'aborted', message: 'client went away' }));
    req.on('close', () => {
      if (!req.complete) finish({ ok: false, reason: 'aborted', message: 'client went away' });
    });
    const output = inflater ? req.pipe(inflater) : req;
    output.on('data', onOutput);
    output.on('end', () => {
      if (chunks.length <= 1) return finish({ ok: true, body: chunks[0] ?? Buffer.alloc(0) });
      // The chunks and their concatenation are both held until the next collection.
      void lease.growOrWait(total, waitMs).then((ok) => finish(ok ? { ok: true, body: Buffer.concat(chunks, total) } : overloaded()));
    });
    if (inflater) {
      inflater.on('error', (err) => finish({ ok: false, reason: 'bad_encoding', message: `body is not valid ${encoding}: ${err.message}` }));
    }
  });
}

/**
 * After a refusal the rest of the body is read and dropped (not inflated), so the client finishes
 * sending and reads the answer instead of a connection reset; past another maxBytes the
 * connection is cut, because a client still sending that much is not listening.
 */
function drain(req: IncomingMessage, maxBytes: number): void {
  let dropped = 0;
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > maxBytes) req.socket.destroy();
  });
  req.resume();
}
