// Plain counters the admin /metrics endpoint renders (docs/contract.md). Kept free of any
// metrics library so the receiver stays testable and the renderer owns the exposition format.

import type { Sample } from '../admin/metrics-registry.js';

export type OtlpSignal = 'traces' | 'logs';

/** Live values owned by other receiver parts, read when /metrics is scraped. */
export interface ReceiverGauges {
  inFlightBytes(): number;
  inFlightPeakBytes(): number;
  inFlightLimitBytes(): number;
  /** Requests (or body chunks) refused because the in-flight budget was spent. */
  budgetRefusals(): number;
  trackedFeatures(): number;
  /** Features and variants the cardinality guard forgot after its idle time. */
  cardinalityForgotten(): number;
}

export class ReceiverMetrics {
  /** Spans / log records seen, by signal. */
  readonly received = new Map<OtlpSignal, number>();
  /** Records refused as invalid, by reason (e.g. invalid_trace_id; a body that does not decode → decode_error). */
  readonly rejected = new Map<string, number>();
  /** Valid records that produced no event or a smaller one, by reason (e.g. no_user, cohort_overflow). */
  readonly skipped = new Map<string, number>();
  /** Requests answered, keyed `${signal}:${status}`: a gRPC status name or an HTTP status code. */
  readonly requests = new Map<string, number>();
  eventsProduced = 0;
  /** Publishes that did not settle within the publish timeout (answered as retryable). */
  publishTimeouts = 0;
  /** Watermark markers the log acknowledged (receiver/idle-marker.ts). */
  markersWritten = 0;
  gauges: ReceiverGauges | undefined;

  static add<K>(map: Map<K, number>, key: K, n = 1): void {
    if (n !== 0) map.set(key, (map.get(key) ?? 0) + n);
  }

  addAll(map: Map<string, number>, counts: Readonly<Record<string, number | undefined>>): void {
    for (const [k, n] of Object.entries(counts)) if (n) ReceiverMetrics.add(map, k, n);
  }

  /** The samples app-metrics.ts does not render: in-flight memory and cardinality. */
  gaugeSamples(): Sample[] {
    const g = this.gauges;
    const out: Sample[] = [
      { name: 'pmf_receiver_publish_timeouts_total', help: 'Exports answered as retryable because the log did not ack in time', type: 'counter', value: this.publishTimeouts },
      { name: 'pmf_receiver_watermark_markers_total', help: 'Watermark markers written to quiet events partitions', type: 'counter', value: this.markersWritten },
    ];
    if (!g) return out;
    return [
      ...out,
      { name: 'pmf_receiver_inflight_bytes', help: 'Request bytes held between arrival and the log ack', type: 'gauge', value: g.inFlightBytes() },
      { name: 'pmf_receiver_inflight_peak_bytes', help: 'Most request bytes ever held at once', type: 'gauge', value: g.inFlightPeakBytes() },
      { name: 'pmf_receiver_inflight_limit_bytes', help: 'The in-flight bytes budget', type: 'gauge', value: g.inFlightLimitBytes() },
      { name: 'pmf_receiver_inflight_refusals_total', help: 'Requests refused with a retryable status because the budget was spent', type: 'counter', value: g.budgetRefusals() },
      { name: 'pmf_receiver_tracked_features', help: 'Distinct features admitted by the cardinality guard', type: 'gauge', value: g.trackedFeatures() },
      { name: 'pmf_receiver_cardinality_forgotten_total', help: 'Features and variants the cardinality guard forgot after its idle time', type: 'counter', value: g.cardinalityForgotten() },
    ];
  }
}
