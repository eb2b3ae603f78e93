// Where the receiver hands its events, and the one sink that writes them to the event log.
// publish() resolves only once they are durable (Kafka acks or the embedded log's append),
// because the OTLP reply is sent after it. A PmfError with retryable=true turns into a retryable
// status for the exporter.

import { encodeJson } from '../events/codec.js';
import type { FeatureEvent } from '../events/feature-event.js';
import type { LogProducer } from '../log/partitioned-log.js';

export interface EventSink {
  publish(events: FeatureEvent[]): Promise<void>;
}

/**
 * Writes FeatureEvents as JSON to the events topic, keyed by the pseudonymized user, so every
 * event of one user lands on one partition and one aggregator sees the user's whole story.
 */
export class LogEventSink implements EventSink {
  constructor(
    private readonly producer: LogProducer,
    private readonly topic: string,
  ) {}

  publish(events: FeatureEvent[]): Promise<void> {
    return this.producer.send(this.topic, events.map((e) => ({ key: e.user, value: encodeJson(e) })));
  }
}
