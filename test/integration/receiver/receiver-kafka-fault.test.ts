// Backpressure fault test (issue 5; docs/architecture.md): real HTTP/protobuf exporters (which retry on
// 429/503 with Retry-After) load a receiver that publishes to a real Kafka broker; the broker is
// stopped mid-load and started again. Afterwards every span the receiver acknowledged is in the
// events topic, the receiver answered retryably while the broker was away, and the in-flight
// memory stayed within its budget. The broker is this test's own (scripts/stack.sh with a private
// port and directory), so stopping it disturbs no other test.

import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEventRecord } from '../../../src/events/event-record-codec.js';
import { KafkaLog } from '../../../src/log/kafka/kafka-log.js';
import type { LogProducer } from '../../../src/log/partitioned-log.js';
import { OtlpReceiver } from '../../../src/receiver/otlp-receiver.js';
import { PrivateKafka } from '../../helpers/private-kafka.js';
import { uniqueName, waitFor } from '../../helpers/services.js';
import { recordSpans } from '../../unit/receiver/otlp-fixtures.js';
import { testPseudonymizer } from './receiver-test-kit.js';
import { silentLogger } from '../../../src/core/logger.js';
import { LogEventSink } from '../../../src/receiver/event-sink.js';

const broker = new PrivateKafka(29000 + 2 * Math.floor(Math.random() * 500), { temporaryDir: true });

// Small on purpose: a dozen exporters with ~40 KB requests overrun it while the broker is away.
const MAX_IN_FLIGHT = 256 * 1024;
const WORKERS = 12;
const SPANS_PER_EXPORT = 200;

let log: KafkaLog;
let producer: LogProducer;

beforeAll(async () => {
  await broker.start();
  log = new KafkaLog({ brokers: [...broker.brokers], clientId: 'receiver-fault', logLevel: 'nothing', logger: silentLogger });
}, 200_000);

afterAll(async () => {
  await log?.close();
  await broker.remove();
}, 200_000);

describe('receiver backpressure against a real broker that goes away', () => {
  it('loses no acknowledged span, answers retryably during the outage and stays within its memory budget', { timeout: 300_000 }, async () => {
    const topic = uniqueName('receiver_fault');
    await log.ensureTopics([{ name: topic, partitions: 3 }]);
    producer = log.producer('receiver-fault');
    await producer.start();
    const receiver = new OtlpReceiver({ logger: silentLogger,
      grpc: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      pseudonymizer: testPseudonymizer,
      sink: new LogEventSink(log, producer, topic, 3),
      limits: { maxInFlightBytes: MAX_IN_FLIGHT, maxHttpBodyBytes: 128 * 1024, maxGrpcMessageBytes: 128 * 1024 },
      publishTimeoutMs: 3000,
      retryAfterMs: 1000,
    });
    await receiver.start();

    // The ledger: ids of spans whose export the receiver answered with success.
    const acked = new Set<string>();
    let failedSpans = 0;
    let stopLoad = false;
    let serial = 0;
    let peakInFlight = 0;
    const rssAtStart = process.memoryUsage().rss;
    let peakRss = rssAtStart;
    const sampler = setInterval(() => {
      peakInFlight = Math.max(peakInFlight, receiver.budget.inUse);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 50);

    const worker = async () => {
      const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${receiver.httpPort}/v1/traces`, timeoutMillis: 15_000 });
      while (!stopLoad) {
        const spans = await recordSpans(Array.from({ length: SPANS_PER_EXPORT }, () => ({
          name: 'GET /dashboard',
          attributes: { 'feature_flag.key': 'new-dashboard', 'feature_flag.result.variant': 'treatment', 'enduser.id': `user-${serial++}` },
          startMs: Date.now() - 1000,
          endMs: Date.now() - 900,
        })));
        const code = await new Promise<number>((resolve) => exporter.export(spans, (r) => resolve(r.code)));
        if (code === 0) for (const s of spans) acked.add(s.spanContext().traceId + s.spanContext().spanId);
        else failedSpans += spans.length;
      }
      await exporter.shutdown();
    };
    const workers = Array.from({ length: WORKERS }, worker);

    try {
      await waitFor(() => acked.size >= 2000, { timeoutMs: 60_000, message: 'spans acknowledged before the outage' });
      await broker.stop();
      const ackedBeforeRestart = () => acked.size;
      const retryable = () => (receiver.metrics.requests.get('traces:503') ?? 0) + (receiver.metrics.requests.get('traces:429') ?? 0);
      await waitFor(() => retryable() >= WORKERS && (receiver.metrics.requests.get('traces:429') ?? 0) > 0, {
        timeoutMs: 60_000, message: 'retryable answers (503 from the log, 429 from the budget) while the broker is down',
      });
      const duringOutage = ackedBeforeRestart();
      await broker.start();
      await waitFor(() => acked.size >= duringOutage + 2000, { timeoutMs: 120_000, message: 'spans acknowledged after the broker returned' });
    } finally {
      stopLoad = true;
      await Promise.all(workers);
      clearInterval(sampler);
      await receiver.stop();
    }

    const inTopic = new Map<string, number>();
    for await (const batch of log.readAll!(topic)) {
      for (const r of batch.records) {
        for (const { id } of decodeEventRecord(r.value)) inTopic.set(id, (inTopic.get(id) ?? 0) + 1);
      }
    }
    const missing = [...acked].filter((id) => !inTopic.has(id));
    const duplicates = [...inTopic.values()].filter((n) => n > 1).length;
    console.info(`[measure] receiver fault: ${acked.size} spans acked, ${failedSpans} failed after retries, ${inTopic.size} distinct in Kafka ` +
      `(${duplicates} duplicated by resends), answers ${JSON.stringify(Object.fromEntries(receiver.metrics.requests))}, ` +
      `in-flight peak ${receiver.budget.peak} B of ${MAX_IN_FLIGHT}, RSS +${((peakRss - rssAtStart) / 2 ** 20).toFixed(0)} MiB`);

    expect(missing).toEqual([]);
    expect(receiver.metrics.requests.get('traces:503') ?? 0).toBeGreaterThan(0);
    expect(receiver.metrics.requests.get('traces:429') ?? 0).toBeGreaterThan(0);
    // The bound was reached, and held.
    expect(receiver.budget.peak).toBeGreaterThan(MAX_IN_FLIGHT / 2);
    expect(receiver.budget.peak).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    expect(peakInFlight).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    // The whole test process (exporters, ledger, SDK) included: an unbounded queue would show here.
    expect(peakRss - rssAtStart).toBeLessThan(400 * 1024 * 1024);
  });
});
