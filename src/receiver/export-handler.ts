// The one Export implementation behind both listeners: decode (scanner or JSON), map, cap
// cardinality, publish, and say what happened as an outcome the transport turns into its own
// status. It never throws: a bug becomes an `internal` outcome and a log line. The request's
// in-flight lease is released only once the sink has settled, even when the reply went out
// earlier (publish timeout), because until then the events are still in memory.

import { systemClock, type Clock } from '../core/clock.js';
import { errorMessage, isRetryable, PmfError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { FeatureEvent } from '../events/feature-event.js';
import type { CardinalityGuard } from './mapping/cardinality-guard.js';
import type { EventSink } from './event-sink.js';
import { mapLogs, mapTraces, type MapResult } from './mapping/feature-mapper.js';
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
  | { kind: 'unavailable'; message: string; retryAfterMs: number }
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
  /** Longest wait for the sink's ack before answering retryable (default: the config's; the events may still land). */
  publishTimeoutMs?: number;
  /** Delay suggested to clients on retryable answers (default: the config's). */
  retryAfterMs?: number;
  logger: Logger;
  decoders?: Partial<Record<WireFormat, OtlpDecoder>>;
}


export class ExportHandler {
  private readonly json: OtlpDecoder;
  private scanner: { keys: string; decoder: OtlpDecoder } | undefined;
  private readonly clock: Clock;
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

  /** Handles one decompressed request body; takes ownership of `lease`. */
  async export(signal: OtlpSignal, format: WireFormat, body: Uint8Array, lease: Lease): Promise<ExportOutcome> {
    let handedOver = false;
    try {
      const mapped = this.decodeAndMap(signal, format, body);
      if ('kind' in mapped) return mapped;
      const m = this.opts.metrics;
      ReceiverMetrics.add(m.received, signal, mapped.received);
      m.addAll(m.rejected, mapped.rejectReasons);
      m.addAll(m.skipped, mapped.skipped);
      this.capCardinality(mapped.events);
      if (mapped.events.length > 0) {
        handedOver = true;
        const failure = await this.publish(signal, mapped.events, lease);
        if (failure) return failure;
        m.eventsProduced += mapped.events.length;
      }
      return mapped.rejected > 0 ? { kind: 'ok', partial: { rejected: mapped.rejected, errorMessage: describeRejects(mapped) } } : { kind: 'ok' };
    } catch (err) {
      this.opts.logger.error('otlp export failed', { signal, error: errorMessage(err) });
      return { kind: 'internal', message: 'internal error' };
    } finally {
      if (!handedOver) lease.release();
    }
  }

  private decodeAndMap(signal: OtlpSignal, format: WireFormat, body: Uint8Array): MapResult | ExportOutcome {
    const mapperOpts = {
      attributeKeys: this.opts.attributeKeys ?? new Set<string>(),
      now: this.clock.now(),
      pseudonymize: this.opts.pseudonymizer.fn,
      maxValueLength: this.opts.maxValueLength,
    };
    const decoder = this.decoder(format);
    try {
      return signal === 'traces'
        ? mapTraces(decoder.decodeTraces(body), mapperOpts)
        : mapLogs(decoder.decodeLogs(body), mapperOpts);
    } catch (err) {
      if (err instanceof PmfError && err.code === 'ERR_OTLP_DECODE') {
        ReceiverMetrics.add(this.opts.metrics.rejected, 'decode_error');
        return { kind: 'invalid', message: err.message };
      }
      throw err;
    }
  }

  private capCardinality(events: FeatureEvent[]): void {
    const guard = this.opts.cardinality;
    if (!guard) return;
    for (const e of events) {
      if (e.flags.length === 0) continue;
      const kept = e.flags.filter((f) => {
        const overflow = guard.admit(f.feature, f.variant);
        if (overflow) ReceiverMetrics.add(this.opts.metrics.skipped, overflow);
        return overflow === undefined;
      });
      if (kept.length !== e.flags.length) e.flags = kept;
    }
  }

  /** undefined once the sink acked; otherwise the outcome to answer. Releases the lease when the sink settles. */
  private async publish(signal: OtlpSignal, events: FeatureEvent[], lease: Lease): Promise<ExportOutcome | undefined> {
    let settled: Promise<unknown>;
    try {
      settled = this.opts.sink.publish(events).then(() => undefined, (err: unknown) => err ?? new Error('sink failed'));
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

function describeRejects(r: MapResult): string {
  const parts = Object.entries(r.rejectReasons).map(([reason, n]) => `${n} ${reason}`);
  return `rejected ${r.rejected} record(s): ${parts.join(', ')}`;
}
