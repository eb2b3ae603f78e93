// Plain counters the admin /metrics endpoint renders (DESIGN section 9). Kept free of any
// metrics library so the receiver stays testable and the renderer owns the exposition format.

export type OtlpSignal = 'traces' | 'logs';

export class ReceiverMetrics {
  /** Spans / log records seen, by signal. */
  readonly received = new Map<OtlpSignal, number>();
  /** Records refused as invalid, by reason (e.g. invalid_trace_id, no body decode → decode_error). */
  readonly rejected = new Map<string, number>();
  /** Valid records that produced no event or a smaller one, by reason (e.g. no_user). */
  readonly skipped = new Map<string, number>();
  /** Requests answered, keyed `${signal}:${grpcStatusName}`. */
  readonly requests = new Map<string, number>();
  eventsProduced = 0;

  static add<K>(map: Map<K, number>, key: K, n = 1): void {
    if (n !== 0) map.set(key, (map.get(key) ?? 0) + n);
  }

  addAll(map: Map<string, number>, counts: Readonly<Record<string, number | undefined>>): void {
    for (const [k, n] of Object.entries(counts)) if (n) ReceiverMetrics.add(map, k, n);
  }
}
