// Where the receiver hands its events. publish() resolves only once they are durable (Kafka
// acks or the embedded log's append), because the OTLP reply is sent after it. A PmfError with
// retryable=true turns into a retryable status for the exporter.

import type { FeatureEvent } from '../events/feature-event.js';

export interface EventSink {
  publish(events: FeatureEvent[]): Promise<void>;
}
