// The one Export implementation behind both listeners: decode (scanner or JSON), map, cap
// cardinality, publish, and say what happened as an outcome the transport turns into its own
// status. It never throws: a bug becomes an `internal` outcome and a log line. The request's
// in-flight lease is released only once the sink has settled, even when the reply went out
// earlier (publish timeout), because until then the events are still in memory.

import { systemClock, type Clock } from '../core/clock.js';
import { errorMessage, isRetryable, PmfError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { LogRecord } from '../log/partitioned-log.js';
import type { CardinalityGuard } from './mapping/cardinality-guard.js';
import type { EventSink, SourceTimes } from './event-sink.js';
import { RequestMapper, type MapCounts, type MapperOptions } from './mapping/feature-mapper.js';
import type { OtlpLogsRequest, OtlpTracesRequest } from './decode/otlp-types.js';
import { EventBatcher } from './event-batcher.js';
import { BudgetSpentError, checkJsonObjects, DEFAULT_MAX_JSON_OBJECTS, RequestCounter, RequestLimitError, type RequestLimits } from './decode/request-limits.js';
import type { Lease } from './transport/inflight-budget.js';
import type { OtlpDecoder } from './decode/otlp-decoder.js';
import { createJsonDecoder } from './decode/otlp-json-decoder.js';
import type { PartialSuccess, WireFormat } from './transport/otlp-response.js';
import { createScannerDecoder } from './decode/otlp-scanner.js';
import type { Pseudonymizer } from './mapping/pseudonymizer.js';
import { ReceiverMetrics, type OtlpSignal } from './receiver-metrics.js';
import { configDefaults } from '../config/schema.js';

export type ExportOutcome =
  | { kind: 'ok'; partial?: PartialSuccess }
  /** Bad data: not retryable (gRPC INVALID_ARGUMENT, HTTP 400). */
  | { kind: 'invalid'; message: string }
  /** The log is down or slow: retryable (gRPC UNAVAILABLE, HTTP 503), with a suggested delay. */
  | { kind: 'unavailable'; message: string; retryAfterMs: number; overloaded?: boolean }
  | { kind: 'internal'; message: string };

export interface ExportHandlerOptions {
  sink: EventSink;
  pseudonymizer: Pseudonymizer;
  metrics: ReceiverMetrics;
  /** Keys projected into FeatureEvent.attrs (the loaded rules' activation attribute keys). */
  attributeKeys?: ReadonlySet<string>;
  cardinality?: CardinalityGuard;
  clock?: Clock;
  maxValueLength?: number;
  /** Longest span duration taken as a latency (see MapperOptions.maxDurationMs). */
  maxDurationMs?: number;
  /** Records mapped between turns of the event loop (default 2000: a few ms of work). */
  mapSliceRecords?: number;
  /** Per-request caps on records and attributes, enforced while decoding. */
  requestLimits?: RequestLimits;
  /** Longest wait for the sink's ack before answering retryable (default: the config's; the events may still land). */
  publishTimeoutMs?: number;
  /** Delay suggested to clients on retryable answers (default: the config's). */
  retryAfterMs?: number;
  logger: Logger;
  decoders?: Partial<Record<WireFormat, OtlpDecoder>>;
}

const MAP_SLICE = 2000;
const MAX_POOLED_BATCHERS = 64;

export class ExportHandler {
  private readonly json: OtlpDecoder;
  private scanner: { keys: string; decoder: OtlpDecoder } | undefined;
  private readonly clock: Clock;
  /** Batchers keep their grown buffers between requests. */
  private readonly batchers: EventBatcher[] = [];
  readonly retryAfterMs: number;

  constructor(private readonly opts: ExportHandlerOptions) {
    this.json = opts.decoders?.json ?? createJsonDecoder();
    this.clock = opts.clock ?? systemClock;
    this.retryAfterMs = opts.retryAfterMs ?? configDefaults.receiver.retryAfterSeconds * 1000;
  }

  /** The scanner must know the projected keys, which a rules reload changes in place. */
  private decoder(format: WireFormat): OtlpDecoder {
    if (format === 'json') return this.json;
    if (this.opts.decoders?.protobuf) return this.opts.decoders.protobuf;
    const keys = [...(this.opts.attributeKeys ?? [])].join('\u0000');
    if (this.scanner?.keys !== keys) this.scanner = { keys, decoder: createScannerDecoder(this.opts.attributeKeys ?? []) };
    return this.scanner.decoder;
  }

  get metrics(): ReceiverMetrics {
    return this.opts.metrics;
  }

  /** The per-request caps in force, defaults filled in (the HTTP listener prechecks bodies with them). */
  get requestLimits(): Required<RequestLimits> {
    const l = this.opts.requestLimits;
    return {
      maxRecords: l?.maxRecords ?? configDefaults.receiver.maxRecordsPerRequest,
      maxAttributes: l?.maxAttributes ?? configDefaults.receiver.maxAttributesPerRequest,
      maxJsonObjects: l?.maxJsonObjects ?? DEFAULT_MAX_JSON_OBJECTS,
    };
  }

  /** Handles one decompressed request body; takes ownership of `lease`. */
  async export(signal: OtlpSignal, format: WireFormat, body: Uint8Array, lease: Lease): Promise<ExportOutcome> {
    let handedOver = false;
    const batcher = this.batchers.pop() ?? new EventBatcher(this.opts.sink.partitions);
    try {
      const mapped = await this.decodeAndMap(signal, format, body, lease, batcher);
      // A gRPC call's admission reservation shrinks to what the request really holds.
      lease.trim();
      if ('kind' in mapped) return mapped;
      const m = this.opts.metrics;
      ReceiverMetrics.add(m.received, signal, mapped.received);
      m.addAll(m.rejected, mapped.rejectReasons);
      m.addAll(m.skipped, mapped.skipped);
      if (mapped.produced > 0) {
        const records = batcher.take();
        handedOver = true;
        const failure = await this.publish(signal, records, batcher.takeTimes(), lease);
        if (failure) return failure;
        m.eventsProduced += mapped.produced;
      }
      return mapped.rejected > 0 ? { kind: 'ok', partial: { rejected: mapped.rejected, errorMessage: describeRejects(mapped) } } : { kind: 'ok' };
    } catch (err) {
      this.opts.logger.error('otlp export failed', { signal, error: errorMessage(err) });
      return { kind: 'internal', message: 'internal error' };
    } finally {
      batcher.clear();
      // Only batchers for the current partition count go back (the count is learned at start).
      if (batcher.partitions === this.opts.sink.partitions && this.batchers.length < MAX_POOLED_BATCHERS) this.batchers.push(batcher);
      if (!handedOver) lease.release();
    }
  }

  private mapperOptions(): MapperOptions {
    const now = this.clock.now();
    const guard = this.opts.cardinality;
    return {
      attributeKeys: this.opts.attributeKeys ?? new Set<string>(),
      now,
      pseudonymize: this.opts.pseudonymizer.entryFn,
      pseudonymizeUtf8: this.opts.pseudonymizer.utf8Fn,
      maxValueLength: this.opts.maxValueLength,
      maxDurationMs: this.opts.maxDurationMs,
      // One clock read per request, not per span: the guard forgets after hours, not milliseconds.
      admitFlag: guard ? admitPerRequest(guard, now) : undefined,
    };
  }

  /**
   * Decodes, then maps in slices of MAP_SLICE records with a turn of the event loop between
   * them, so one large request cannot hold health checks, the admin API or the aggregator.
   */
  private async decodeAndMap(signal: OtlpSignal, format: WireFormat, body: Uint8Array, lease: Lease, out: EventBatcher): Promise<MapCounts | ExportOutcome> {
    const decoder = this.decoder(format);
    const counter = new RequestCounter(this.opts.requestLimits, (bytes) => lease.grow(bytes));
    let req: OtlpTracesRequest | OtlpLogsRequest;
    try {
      if (format === 'json') await checkJsonObjects(body, this.opts.requestLimits?.maxJsonObjects ?? DEFAULT_MAX_JSON_OBJECTS, yieldToEventLoop);
      req = signal === 'traces' ? decoder.decodeTraces(body, counter) : decoder.decodeLogs(body, counter);
      counter.flush();
    } catch (err) {
      if (err instanceof BudgetSpentError) return { kind: 'unavailable', message: err.message, retryAfterMs: this.retryAfterMs, overloaded: true };
      if (err instanceof RequestLimitError) {
        ReceiverMetrics.add(this.opts.metrics.rejected, err.reason);
        return { kind: 'invalid', message: err.message };
      }
      if (err instanceof PmfError && err.code === 'ERR_OTLP_DECODE') {
        ReceiverMetrics.add(this.opts.metrics.rejected, 'decode_error');
        return { kind: 'invalid', message: err.message };
      }
      throw err;
    }
    const mapper = new RequestMapper(this.mapperOptions(), out);
    const slice = this.opts.mapSliceRecords ?? MAP_SLICE;
    for (;;) {
      const done = signal === 'traces' ? mapper.traces(req as OtlpTracesRequest, slice) : mapper.logs(req as OtlpLogsRequest, slice);
      if (done) return mapper.counts;
      await yieldToEventLoop();
    }
  }

  /** undefined once the sink acked; otherwise the outcome to answer. Releases the lease when the sink settles. */
  private async publish(signal: OtlpSignal, records: LogRecord[], times: SourceTimes, lease: Lease): Promise<ExportOutcome | undefined> {
    let settled: Promise<unknown>;
    try {
      settled = this.opts.sink.publish(records, times).then(() => undefined, (err: unknown) => err ?? new Error('sink failed'));
    } catch (err) {
      settled = Promise.resolve(err ?? new Error('sink failed'));
    }
    void settled.then(() => lease.release());
    let timer: { cancel(): void } | undefined;
    const timeoutMs = this.opts.publishTimeoutMs ?? configDefaults.receiver.publishTimeoutMs;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = this.clock.setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([settled, timedOut]);
    timer?.cancel();
    if (result === undefined) return undefined;
    if (result === 'timeout') {
      this.opts.metrics.publishTimeouts++;
      this.opts.logger.warn('event log did not acknowledge in time; answering retryable', { signal, timeoutMs });
      return { kind: 'unavailable', message: `event log did not acknowledge within ${timeoutMs} ms, retry`, retryAfterMs: this.retryAfterMs };
    }
    // Whatever kept the log from acknowledging, the exporter must keep the data and retry
    // (docs/architecture.md): a permanent-looking error here (a missing topic while it is being
    // created, a broker-side limit) would otherwise make the exporter drop good spans for good.
    const retryable = isRetryable(result);
    this.opts.logger.warn('event sink refused a batch', { signal, retryable, error: errorMessage(result) });
    return { kind: 'unavailable', message: `event log did not acknowledge, retry: ${errorMessage(result)}`, retryAfterMs: this.retryAfterMs };
  }
}

/** Pairs remembered per request: a request's spans nearly always repeat a handful. */
const ADMITTED_PAIRS = 8;

/**
 * guard.admit at one instant, remembering the pairs it let through: at the same `now` admitting a
 * pair again answers the same and changes nothing in the guard (its time stamps are already `now`),
 * so the request's later spans skip its two Map look-ups.
 */
function admitPerRequest(guard: CardinalityGuard, now: number): NonNullable<MapperOptions['admitFlag']> {
  const features: string[] = [];
  const variants: string[] = [];
  return (feature, variant) => {
    for (let i = 0; i < features.length; i++) if (features[i] === feature && variants[i] === variant) return undefined;
    const overflow = guard.admit(feature, variant, now);
    if (overflow === undefined && features.length < ADMITTED_PAIRS) {
      features.push(feature);
      variants.push(variant);
    }
    return overflow;
  };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function describeRejects(r: MapCounts): string {
  const parts = Object.entries(r.rejectReasons).map(([reason, n]) => `${n} ${reason}`);
  return `rejected ${r.rejected} record(s): ${parts.join(', ')}`;
}
