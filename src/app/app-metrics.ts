// Renders every component's plain counters as Prometheus samples: spans received/rejected by
// reason, requests by transport/signal/code, events produced, records applied, consumer and
// watermark lag in seconds, verdicts by outcome, per-cohort estimate/bounds/n/outcome, commands
// applied, the flag-write duration histogram and webhook deliveries. Names follow Prometheus
// conventions (base units: seconds, bytes; counters end in _total; one label per dimension), and
// every series whose labels are known in advance is present from start-up, at zero.

import type { MetricsRegistry, Sample } from '../admin/metrics-registry.js';
import type { ReceiverMetrics } from '../receiver/receiver-metrics.js';
import type { StatefulRunner } from '../stream/stateful-runner.js';
import { FLAG_WRITE_LATENCY_BUCKETS_MS, type FlagWriter } from '../flags/flag-writer.js';
import type { FlagCommandConsumer } from '../flags/flag-command-consumer.js';
import type { PartitionedLog } from '../log/partitioned-log.js';
import { aggregatorFamilies, aggregatorSamples } from '../stream/aggregator-metrics.js';
import type { Outcome, Verdict } from '../events/verdict.js';
import { METRIC_NAMES, type VerdictHistory } from '../verdict/verdict-history.js';
import type { NotifierStats } from '../notify/notifier.js';
import type { Rule, RuleSet } from '../rules/schema.js';
import { EmbeddedLog } from '../log/embedded/embedded-log.js';
import type { TableRetention } from '../store/table-retention.js';
import type { OutboxRelay } from '../flags/outbox-relay.js';

export interface MetricSources {
  receiver: ReceiverMetrics;
  /** For consumer lag: the log's end offsets of a stage's input topic. */
  log?: PartitionedLog;
  aggregator?: StatefulRunner;
  verdict?: StatefulRunner;
  /** The verdicts this process keeps (verdict role): per-cohort gauges. */
  history?: VerdictHistory;
  /** The rules in force: cohorts they name have their gauges (pending, NaN) before the first verdict. */
  rules?: () => RuleSet;
  flagWriter?: FlagWriter;
  notifier?: { stats(): NotifierStats };
  tableRetention?: TableRetention;
  relay?: OutboxRelay;
  /** Wall clock, only to show how far the watermark is behind the present. */
  now: () => number;
  commandConsumer?: FlagCommandConsumer;
}

const OUTCOMES: readonly Outcome[] = ['pending', 'pass', 'fail', 'inconclusive', 'invalid'];
const SIGNALS = ['traces', 'logs'] as const;

const counter = (name: string, help: string, value: number, labels?: Record<string, string>): Sample => ({ name, help, type: 'counter', value, labels });
const gauge = (name: string, help: string, value: number, labels?: Record<string, string>): Sample => ({ name, help, type: 'gauge', value, labels });

function fromMap(name: string, help: string, label: string, map: Map<string, number>): Sample[] {
  return [...map].map(([k, v]) => counter(name, help, v, { [label]: k }));
}

function runnerSamples(stage: string, r: StatefulRunner): Sample[] {
  const s = r.stats;
  const labels = { stage };
  return [
    counter('pmf_stage_records_applied_total', 'Input records applied to stage state', s.recordsApplied, labels),
    counter('pmf_stage_records_rejected_total', 'Input records that could not be decoded (skipped, counted)', s.recordsRejected, labels),
    counter('pmf_stage_records_replayed_total', 'Re-delivered records skipped because the checkpoint already has them', s.recordsSkippedBelowCheckpoint, labels),
    counter('pmf_stage_checkpoints_total', 'State + offset checkpoints written', s.checkpoints, labels),
    gauge('pmf_stage_owned_partitions', 'Input partitions this member owns', s.ownedPartitions, labels),
    counter('pmf_stage_stale_states_dropped_total', 'Partition states dropped because another owner moved the checkpoint on', s.staleStatesDropped, labels),
    counter('pmf_stage_checkpoints_refused_total', 'Checkpoint saves refused because the stored one was further along', s.checkpointsRefused, labels),
    counter('pmf_stage_offset_gaps_total', 'Batches that started past the next offset (sparse offsets), accepted after re-delivery', s.offsetGaps, labels),
  ];
}

/**
 * Consumer lag in records and in seconds. The seconds are how long the partition has been behind:
 * wall time since a scrape last found it caught up (0 while caught up), a measure that needs no
 * record timestamps and reads like Burrow's "time behind".
 */
function lagCollector(stage: string, r: StatefulRunner, log: PartitionedLog, nowMs: () => number): () => Promise<Sample[]> {
  const caughtUpAt = new Map<number, number>();
  return async () => {
    const positions = r.positions();
    const now = nowMs();
    const out: Sample[] = [];
    if (positions.size === 0 || !log.endOffsets) {
      out.push(gauge('pmf_stage_consumer_lag_records', 'Records of the input partitions not yet applied (log end offset − next offset)', 0, { stage }));
      out.push(gauge('pmf_stage_consumer_lag_seconds', 'How long the stage has been behind the log end (0 when caught up)', 0, { stage }));
      return out;
    }
    const ends = await log.endOffsets(r.inputTopic);
    let records = 0;
    let seconds = 0;
    for (const [partition, next] of positions) {
      const lag = Number(BigInt(ends.get(partition) ?? '0') - next);
      records += Math.max(lag, 0);
      if (lag <= 0 || !caughtUpAt.has(partition)) caughtUpAt.set(partition, now);
      seconds = Math.max(seconds, lag > 0 ? (now - caughtUpAt.get(partition)!) / 1000 : 0);
    }
    out.push(gauge('pmf_stage_consumer_lag_records', 'Records of the input partitions not yet applied (log end offset − next offset)', records, { stage }));
    out.push(gauge('pmf_stage_consumer_lag_seconds', 'How long the stage has been behind the log end (0 when caught up)', seconds, { stage }));
    return out;
  };
}

function receiverSamples(r: ReceiverMetrics): Sample[] {
  const received = new Map<string, number>(SIGNALS.map((s) => [s, 0]));
  for (const [signal, v] of r.received) received.set(signal, v);
  const requests: Sample[] = [];
  for (const [key, v] of r.requests) {
    const i = key.indexOf(':');
    const signal = key.slice(0, i);
    const code = key.slice(i + 1);
    // HTTP answers are counted by status code, gRPC ones by status name: the transport says which.
    const transport = /^\d+$/.test(code) ? 'http' : 'grpc';
    requests.push(counter('pmf_receiver_requests_total', 'OTLP requests answered, by transport, signal and status code', v, { transport, signal, code }));
  }
  if (requests.length === 0) {
    for (const transport of ['grpc', 'http']) {
      for (const signal of SIGNALS) requests.push(counter('pmf_receiver_requests_total', 'OTLP requests answered, by transport, signal and status code', 0, { transport, signal, code: transport === 'grpc' ? 'OK' : '200' }));
    }
  }
  return [
    ...[...received].map(([signal, v]) => counter('pmf_receiver_records_received_total', 'Spans and log records received', v, { signal })),
    ...fromMap('pmf_receiver_records_rejected_total', 'Spans and log records rejected, by reason', 'reason', r.rejected),
    ...fromMap('pmf_receiver_records_skipped_total', 'Valid records that carried nothing to measure, by reason', 'reason', r.skipped),
    ...requests,
    counter('pmf_receiver_events_produced_total', 'Feature events acknowledged by the log', r.eventsProduced),
  ];
}

const THRESHOLDS = { activation: 'activationThreshold', retention: 'retentionThreshold', latencyP95: 'latencyP95Threshold' } as const;

/** Cohorts the rules name (control and guarded) that have no verdict yet: pending, no estimate. */
function declaredCohorts(rules: RuleSet, history: VerdictHistory): { feature: string; cohort: string; latest: Pick<Verdict, 'outcome' | 'metrics' | 'evaluatedAt'> | null; rule: Rule }[] {
  const out = [];
  for (const rule of rules.rules) {
    for (const cohort of [rule.cohorts.control, ...(rule.cohorts.guarded ?? [])]) {
      if (cohort !== undefined && history.get(rule.featureId, cohort) === undefined) out.push({ feature: rule.featureId, cohort, latest: null, rule });
    }
  }
  return out;
}

/** Per-cohort gauges from the verdicts: estimate, bounds, threshold and n per metric; the outcome as a state set. */
function cohortSamples(history: VerdictHistory, rules: RuleSet | undefined): Sample[] {
  const out: Sample[] = [];
  const cohorts = [
    ...history.list().map((h) => ({ feature: h.feature, cohort: h.cohort, latest: h.latest as Pick<Verdict, 'outcome' | 'metrics' | 'evaluatedAt'> | null, rule: undefined as Rule | undefined })),
    ...(rules ? declaredCohorts(rules, history) : []),
  ];
  for (const h of cohorts) {
    const base = { feature: h.feature, cohort: h.cohort };
    for (const metric of METRIC_NAMES) {
      const m = h.latest?.metrics[metric] ?? { estimate: null, lower: null, upper: null, n: 0, threshold: h.rule![THRESHOLDS[metric]] };
      const labels = { ...base, metric };
      out.push(gauge('pmf_cohort_estimate', 'Latest estimate of the metric for the cohort (NaN until there is data)', m.estimate ?? NaN, labels));
      out.push(gauge('pmf_cohort_lower_bound', 'Always-valid lower confidence bound of the metric', m.lower ?? NaN, labels));
      out.push(gauge('pmf_cohort_upper_bound', 'Always-valid upper confidence bound of the metric', m.upper ?? NaN, labels));
      out.push(gauge('pmf_cohort_threshold', "The rule's threshold for the metric", m.threshold, labels));
      out.push(gauge('pmf_cohort_samples', 'Sample size (n) behind the metric', m.n, labels));
    }
    const current = h.latest?.outcome ?? 'pending';
    for (const outcome of OUTCOMES) {
      out.push(gauge('pmf_cohort_outcome', 'Latest verdict outcome of the cohort: 1 for the current state, 0 for the others', current === outcome ? 1 : 0, { ...base, outcome }));
    }
    out.push(gauge('pmf_cohort_evaluated_timestamp_seconds', 'Event time of the latest verdict (seconds since the epoch; NaN before the first)', h.latest ? Date.parse(h.latest.evaluatedAt) / 1000 : NaN, base));
  }
  return out;
}


/** The embedded log's disk use per topic and what retention, compaction and fsync did. */
function embeddedLogSamples(log: EmbeddedLog): Sample[] {
  const s = log.stats();
  const counter = (name: string, help: string, value: number): Sample => ({ name, help, type: 'counter', value });
  return [
    ...s.topics.flatMap((t): Sample[] => [
      { name: 'pmf_embedded_log_bytes', help: 'Bytes of segment files per topic', type: 'gauge', labels: { topic: t.topic }, value: t.bytes },
      { name: 'pmf_embedded_log_segments', help: 'Segment files per topic', type: 'gauge', labels: { topic: t.topic }, value: t.segments },
    ]),
    counter('pmf_embedded_log_retention_segments_deleted_total', 'Segments deleted by time or size retention', s.retentionSegmentsDeleted),
    counter('pmf_embedded_log_retention_records_deleted_total', 'Records deleted by time or size retention', s.retentionRecordsDeleted),
    counter('pmf_embedded_log_compacted_records_total', 'Superseded cohort-stats records removed by compaction', s.recordsCompacted),
    counter('pmf_embedded_log_maintenance_failures_total', 'Retention or compaction passes that failed', s.maintenanceFailures),
    counter('pmf_embedded_log_fsync_failures_total', 'Interval fsyncs that failed (records in that window may not survive a power cut)', s.fsyncFailures),
  ];
}

export function appMetrics(registry: MetricsRegistry, src: MetricSources): void {
  if (src.relay) {
    const relay = src.relay;
    registry.register(() => {
      const s = relay.stats();
      return [
        { name: 'pmf_flag_cache_feature_failures_total', help: 'Per-feature cache writes refused for good (WRONGTYPE, version not a number); other features went on', type: 'counter', value: s.featureFailures },
        { name: 'pmf_flag_cache_failing_features', help: 'Features whose cache key refuses writes now (listed in /readyz)', type: 'gauge', value: s.failingFeatures },
        { name: 'pmf_flag_outbox_published_total', help: 'Outbox rows delivered to the cache', type: 'counter', value: s.published },
        { name: 'pmf_flag_relay_failures_total', help: 'Outbox relay runs that failed (cache or store unavailable)', type: 'counter', value: s.failures },
      ];
    });
  }
  if (src.tableRetention) {
    const t = src.tableRetention;
    registry.register(() => {
      const s = t.stats();
      return [
        ...([['audit_log', s.auditLogDeleted], ['applied_commands', s.appliedCommandsDeleted], ['outbox', s.outboxDeleted]] as const).map(([table, value]) => ({
          name: 'pmf_store_retention_rows_deleted_total', help: 'Rows deleted by table retention', type: 'counter' as const, labels: { table }, value,
        })),
        { name: 'pmf_store_vacuums_total', help: 'VACUUM + CHECKPOINT passes on embedded PGlite', type: 'counter', value: s.vacuums },
        { name: 'pmf_store_retention_failures_total', help: 'Table retention or vacuum runs that failed', type: 'counter', value: s.failures },
      ];
    });
  }
  if (src.log instanceof EmbeddedLog) {
    const log = src.log;
    registry.register(() => embeddedLogSamples(log));
  }
  // Labelled by reasons that appear with the first such record: declared so they exist from start-up.
  registry.declare('pmf_receiver_records_rejected_total', 'Spans and log records rejected, by reason', 'counter');
  registry.declare('pmf_receiver_records_skipped_total', 'Valid records that carried nothing to measure, by reason', 'counter');
  registry.register(() => receiverSamples(src.receiver));
  if (src.log?.retentionGaps) {
    const log = src.log;
    registry.register(() => {
      const g = log.retentionGaps!();
      return [
        ...fromMap('pmf_log_retention_gaps_total', 'Times a consumer group resumed behind the log start: records deleted by retention before they were read (alert on any)', 'topic', g.gaps),
        ...fromMap('pmf_log_records_lost_total', 'Records deleted by retention before a consumer group read them', 'topic', g.recordsLost),
      ];
    });
  }
  if (src.aggregator) {
    const a = src.aggregator;
    // Partitions are owned (and labelled) only once records arrive: the families exist from start-up.
    for (const f of aggregatorFamilies()) registry.declare(f.name, f.help, f.type);
    registry.register(() => [...runnerSamples('aggregator', a), ...aggregatorSamples(a.processors(), src.now())]);
    if (src.log) registry.register(lagCollector('aggregator', a, src.log, src.now));
  }
  if (src.verdict) {
    const v = src.verdict;
    if (src.log) registry.register(lagCollector('verdict', v, src.log, src.now));
    registry.register(() => runnerSamples('verdict', v));
  }
  if (src.history) {
    const history = src.history;
    registry.register(() => {
      const byOutcome = new Map<string, number>(OUTCOMES.map((o) => [o, 0]));
      for (const h of history.list()) byOutcome.set(h.latest.outcome, (byOutcome.get(h.latest.outcome) ?? 0) + 1);
      return [
        ...[...byOutcome].map(([outcome, n]) => gauge('pmf_verdict_cohorts', 'Cohorts by their latest verdict outcome', n, { outcome })),
        ...cohortSamples(history, src.rules?.()),
      ];
    });
  }
  if (src.flagWriter) {
    const w = src.flagWriter;
    registry.register(() => {
      const m = w.metrics();
      return [
        ...Object.entries(m.commands).map(([status, n]) => counter('pmf_flag_commands_total', 'Flag commands handled, by result', n, { status })),
        {
          name: 'pmf_flag_write_duration_seconds',
          help: 'Command received to Redis written, for applied commands',
          type: 'histogram',
          value: m.writeLatency.count,
          histogram: {
            buckets: m.writeLatency.buckets.map((b, i) => ({ le: FLAG_WRITE_LATENCY_BUCKETS_MS[i] / 1000, count: b.count })),
            sum: m.writeLatency.sumMs / 1000,
            count: m.writeLatency.count,
          },
        } satisfies Sample,
        counter('pmf_flag_redis_push_failures_total', 'Immediate Redis pushes deferred to the outbox relay', m.relayFailures),
      ];
    });
  }
  if (src.notifier) {
    const n = src.notifier;
    registry.register(() => {
      const s = n.stats();
      return [
        counter('pmf_webhook_deliveries_total', 'Webhook deliveries, by result', s.delivered, { result: 'delivered' }),
        counter('pmf_webhook_deliveries_total', 'Webhook deliveries, by result', s.failedAttempts, { result: 'retried' }),
        counter('pmf_webhook_deliveries_total', 'Webhook deliveries, by result', s.gaveUp, { result: 'gave_up' }),
        counter('pmf_webhook_dropped_total', 'Notifications dropped because the delivery queue was full', s.dropped),
        gauge('pmf_webhook_queue_length', 'Notifications waiting for delivery', s.queued),
      ];
    });
  }
  if (src.commandConsumer) {
    const c = src.commandConsumer;
    registry.register(() => fromMap('pmf_flag_commands_refused_total', 'Commands on the commands topic refused (unsigned, bad signature, undeclared feature, malformed), by reason', 'reason', c.refused));
  }
}
