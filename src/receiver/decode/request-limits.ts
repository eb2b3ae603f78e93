// Per-request caps the decoders enforce while they walk a request, so a small body that expands
// into millions of records or attributes (empty-span floods, attribute floods, decompression
// bombs under the byte limit) is refused after at most the cap's worth of work, with a reason the
// handler counts and the client reads (400 / INVALID_ARGUMENT).

import { PmfError } from '../../core/errors.js';
import { configDefaults } from '../../config/schema.js';

export interface RequestLimits {
  /** Spans or log records per request. */
  maxRecords?: number;
  /** Attributes per request: every key/value, nested ones and span events included. */
  maxAttributes?: number;
  /** JSON objects in an OTLP/JSON body, checked before it is parsed. */
  maxJsonObjects?: number;
}

const DEFAULT_MAX_RECORDS = configDefaults.receiver.maxRecordsPerRequest;
const DEFAULT_MAX_ATTRIBUTES = configDefaults.receiver.maxAttributesPerRequest;

export type LimitReason = 'too_many_records' | 'too_many_attributes' | 'too_many_json_objects';

export class RequestLimitError extends PmfError {
  constructor(readonly reason: LimitReason, message: string) {
    super('ERR_OTLP_TOO_LARGE', message);
  }
}

/** Thrown when the in-flight budget cannot hold the decoded request: a retryable refusal. */
export class BudgetSpentError extends PmfError {
  constructor() {
    super('ERR_OTLP_TOO_LARGE', 'receiver is at its in-flight memory bound, retry later', { retryable: true });
  }
}

/**
 * Heap a decoded record or attribute takes, roughly (V8 object sizes of the decoders' output):
 * what the in-flight budget is charged on top of the wire bytes.
 */
const RECORD_BYTES = 400;
const ATTRIBUTE_BYTES = 120;
/** Items between two charges to the budget. */
const CHARGE_EVERY = 1024;

/**
 * Counts one request's records and attributes against its limits, and charges their decoded
 * size to the in-flight budget as the decoder goes, so memory is bounded before it is allocated.
 */
export class RequestCounter {
  records = 0;
  attributes = 0;
  private readonly maxRecords: number;
  private readonly maxAttributes: number;
  private uncharged = 0;
  private unchargedItems = 0;

  /** `charge(bytes)` takes more of the budget; false when it is spent. */
  constructor(limits: RequestLimits = {}, private readonly charge: (bytes: number) => boolean = () => true) {
    this.maxRecords = limits.maxRecords ?? DEFAULT_MAX_RECORDS;
    this.maxAttributes = limits.maxAttributes ?? DEFAULT_MAX_ATTRIBUTES;
  }

  record(n = 1): void {
    this.records += n;
    if (this.records > this.maxRecords) {
      throw new RequestLimitError('too_many_records', `request has more than ${this.maxRecords} spans or log records; send smaller batches`);
    }
    this.account(n, n * RECORD_BYTES);
  }

  attribute(n = 1): void {
    this.attributes += n;
    if (this.attributes > this.maxAttributes) {
      throw new RequestLimitError('too_many_attributes', `request has more than ${this.maxAttributes} attributes; send smaller batches`);
    }
    this.account(n, n * ATTRIBUTE_BYTES);
  }

  /** The decoded size counted so far (what the budget is charged on top of the wire bytes). */
  get decodedBytes(): number {
    return this.records * RECORD_BYTES + this.attributes * ATTRIBUTE_BYTES;
  }

  private account(items: number, bytes: number): void {
    this.uncharged += bytes;
    this.unchargedItems += items;
    if (this.unchargedItems >= CHARGE_EVERY) this.flush();
  }

  /** Charges what is counted but not charged yet; throws BudgetSpentError when it does not fit. */
  flush(): void {
    const bytes = this.uncharged;
    this.uncharged = 0;
    this.unchargedItems = 0;
    if (bytes > 0 && !this.charge(bytes)) throw new BudgetSpentError();
  }
}

export const DEFAULT_MAX_JSON_OBJECTS = configDefaults.receiver.maxJsonObjectsPerRequest;
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
