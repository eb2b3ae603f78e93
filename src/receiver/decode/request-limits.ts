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
}

export const DEFAULT_MAX_RECORDS = 50_000;
export const DEFAULT_MAX_ATTRIBUTES = 1_000_000;

export type LimitReason = 'too_many_records' | 'too_many_attributes';

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
