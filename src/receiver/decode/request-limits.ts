// Per-request caps the decoders enforce while they walk a request, so a small body that expands
// into millions of records or attributes (empty-span floods, attribute floods, decompression
// bombs under the byte limit) is refused after at most the cap's worth of work, with a reason the
// handler counts and the client reads (400 / INVALID_ARGUMENT).

import { PmfError } from '../../core/errors.js';

export interface RequestLimits {
  /** Spans or log records per request. */
  maxRecords?: number;
  /** Attributes per request: every key/value, nested ones and span events included. */
  maxAttributes?: number;
  /** JSON objects in an OTLP/JSON body, checked before it is parsed. */
  maxJsonObjects?: number;
}

export const DEFAULT_MAX_RECORDS = 20_000;
export const DEFAULT_MAX_ATTRIBUTES = 400_000;

export type LimitReason = 'too_many_records' | 'too_many_attributes' | 'too_many_json_objects';

export class RequestLimitError extends PmfError {
  constructor(readonly reason: LimitReason, message: string) {
    super('ERR_OTLP_TOO_LARGE', message);
  }
}

/** Counts one request's records and attributes against its limits. */
export class RequestCounter {
  records = 0;
  attributes = 0;
  private readonly maxRecords: number;
  private readonly maxAttributes: number;

  constructor(limits: RequestLimits = {}) {
    this.maxRecords = limits.maxRecords ?? DEFAULT_MAX_RECORDS;
    this.maxAttributes = limits.maxAttributes ?? DEFAULT_MAX_ATTRIBUTES;
  }

  record(n = 1): void {
    this.records += n;
    if (this.records > this.maxRecords) {
      throw new RequestLimitError('too_many_records', `request has more than ${this.maxRecords} spans or log records; send smaller batches`);
    }
  }

  attribute(n = 1): void {
    this.attributes += n;
    if (this.attributes > this.maxAttributes) {
      throw new RequestLimitError('too_many_attributes', `request has more than ${this.maxAttributes} attributes; send smaller batches`);
    }
  }

  /**
   * Heap the decoded request takes, roughly: what the in-flight budget is charged on top of the
   * wire bytes. The per-item costs are V8 object sizes measured on the scanner's output.
   */
  decodedBytes(): number {
    return this.records * 400 + this.attributes * 120;
  }
}

export const DEFAULT_MAX_JSON_OBJECTS = 200_000;
const COUNT_SLICE_BYTES = 1 << 20;

/**
 * Refuses an OTLP/JSON body with more than `max` objects before JSON.parse sees it: parsing
 * cannot be sliced, and a few MiB of `{}` take seconds and gigabytes to parse. Every JSON object
 * starts with `{` (braces inside strings only over-count), so counting that byte bounds the
 * parse; the count itself runs in 1 MiB slices between turns of the event loop.
 */
export async function checkJsonObjects(body: Uint8Array, max: number, yieldToLoop: () => Promise<void>): Promise<void> {
  let count = 0;
  for (let start = 0; start < body.length; start += COUNT_SLICE_BYTES) {
    if (start > 0) await yieldToLoop();
    const end = Math.min(body.length, start + COUNT_SLICE_BYTES);
    for (let i = start; i < end; i++) if (body[i] === 0x7b) count++;
    if (count > max) throw new RequestLimitError('too_many_json_objects', `OTLP/JSON request has more than ${max} objects; send smaller batches or use protobuf`);
  }
}
