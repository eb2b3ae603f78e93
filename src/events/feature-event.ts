// One event on pmf.events.v2 (several per record, see event-record-codec.ts): what the receiver
// learned from one span or log record.
// Rule evaluation happens downstream (aggregation), so a replay with other rules is meaningful;
// the receiver only projects the attributes rules may match on.

export interface FlagExposure {
  /** feature_flag.key */
  feature: string;
  /** feature_flag.result.variant (or deprecated feature_flag.variant), unmapped */
  variant: string;
}

export type EventSource = 'span' | 'log';

export interface FeatureEvent {
  /** Pseudonymous user id (hex HMAC); also the Kafka key. */
  user: string;
  /** Event time in ms since the epoch: span start time or log record time. */
  time: number;
  /** Dedupe key: trace id + span id in hex (logs: trace/span of the record or a content hash). */
  id: string;
  /** Span name, or the log record's event name. */
  name: string;
  /** Span duration in ms (end − start); absent for logs. */
  durationMs?: number;
  /** Flags carried by this span: its attributes and its feature_flag.evaluation span events. */
  flags: FlagExposure[];
  /** Attributes a loaded rule's activation action may match on (string-valued). */
  attrs?: Record<string, string>;
  source: EventSource;
  /**
   * Who sent it: the resource's service.name (or service.instance.id without one). The watermark
   * is held back by the slowest live origin of a partition; absent = one shared origin.
   */
  origin?: string;
}


/**
 * An event without its user and id: what decodeEventRecordIds gives, the two fields staying in the
 * record's bytes (record-ids.ts) for the aggregator's hot path.
 */
export type EventBody = Omit<FeatureEvent, 'user' | 'id'>;
