// Request caps checked on a body while it inflates, chunk by chunk, so a compressed body that
// expands into more records, attributes or JSON objects than a request may hold is refused after
// inflating about the cap's worth of bytes, not the whole body limit (a 20 KB gzip bomb of 20 MiB
// of empty spans stops after 40 KB). The checks only count what a request's framing shows; the
// decoders still enforce every cap exactly, and malformed framing is left for them to refuse.

import { RequestLimitError } from './request-limits.js';

export interface BodyPrecheck {
  /** Looks at the next inflated bytes; throws RequestLimitError when a cap is passed. */
  push(chunk: Uint8Array): void;
}

/** Every JSON object starts with `{` (braces in strings only over-count, as in checkJsonObjects). */
export function jsonObjectPrecheck(maxObjects: number): BodyPrecheck {
  let count = 0;
  return {
    push(chunk) {
      for (let from = chunk.indexOf(0x7b); from >= 0; from = chunk.indexOf(0x7b, from + 1)) {
        if (++count > maxObjects) {
          throw new RequestLimitError('too_many_json_objects', `OTLP/JSON request has more than ${maxObjects} objects; send smaller batches or use protobuf`);
        }
      }
    },
  };
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/**
 * Walks ExportTraceServiceRequest / ExportLogsServiceRequest framing across chunks: request →
 * resource group (field 1) → scope group (field 2) → record (field 2), counting records and the
 * records' own attributes (span field 9, log record field 6), and skipping everything else by
 * length. Stops counting (silently) at framing it does not understand.
 */
export function protobufRecordPrecheck(signal: 'traces' | 'logs', maxRecords: number, maxAttributes: number): BodyPrecheck {
  const attributeField = signal === 'traces' ? 9 : 6;
  // Absolute end offset of each open message: [request, resource group, scope group, record].
  const ends: number[] = [Number.POSITIVE_INFINITY];
  let pos = 0;
  let varint = 0;
  let shift = 0;
  /** What the varint being read is: a tag, a length, or a value to skip. */
  let reading: 'tag' | 'len' | 'value' = 'tag';
  let field = 0;
  let skip = 0;
  let records = 0;
  let attributes = 0;
  let broken = false;

  const onLength = (len: number) => {
    const depth = ends.length - 1;
    const enter = (depth === 0 && field === 1) || ((depth === 1 || depth === 2) && field === 2);
    if (depth === 3 && field === attributeField && ++attributes > maxAttributes) {
      throw new RequestLimitError('too_many_attributes', `request has more than ${maxAttributes} attributes; send smaller batches`);
    }
    if (enter) {
      if (depth === 2 && ++records > maxRecords) {
        throw new RequestLimitError('too_many_records', `request has more than ${maxRecords} spans or log records; send smaller batches`);
      }
      ends.push(pos + len);
    } else skip = len;
  };

  return {
    push(chunk) {
      let i = 0;
      while (i < chunk.length && !broken) {
        if (skip > 0) {
          const n = Math.min(skip, chunk.length - i);
          skip -= n;
          i += n;
          pos += n;
        } else {
          const b = chunk[i++];
          pos++;
          varint += (b & 0x7f) * 2 ** shift;
          shift += 7;
          if (b & 0x80) {
            if (shift > 63) broken = true;
            continue;
          }
          const v = varint;
          varint = 0;
          shift = 0;
          if (reading === 'tag') {
            field = Math.floor(v / 8);
            const wt = v % 8;
            if (wt === VARINT) reading = 'value';
            else if (wt === LEN) reading = 'len';
            else if (wt === I64) skip = 8;
            else if (wt === I32) skip = 4;
            else broken = true;
          } else {
            if (reading === 'len') onLength(v);
            reading = 'tag';
          }
        }
        while (ends.length > 1 && pos >= ends[ends.length - 1] && skip === 0 && reading === 'tag') {
          if (pos > ends[ends.length - 1]) broken = true;
          ends.pop();
        }
      }
    },
  };
}
