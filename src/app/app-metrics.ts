// Renders every component's plain counters as Prometheus samples (docs/contract.md): spans
// received/rejected by reason, events produced, records applied, verdicts by outcome, commands
// applied, flag-write latency.

import type { MetricsRegistry, Sample } from '../admin/metrics-registry.js';
import type { ReceiverMetrics } from '../receiver/receiver-metrics.js';
import type { StatefulRunner } from '../stream/stateful-runner.js';
import type { FlagWriter } from '../flags/flag-writer.js';
import type { FlagCommandConsumer } from '../flags/flag-command-consumer.js';
import type { VerdictProcessor } from '../stream/verdict-processor.js';
import type { PartitionedLog } from '../log/partitioned-log.js';
import { aggregatorSamples } from '../stream/aggregator-metrics.js';
import { EmbeddedLog } from '../log/embedded/embedded-log.js';
import type { TableRetention } from '../store/table-retention.js';
import type { OutboxRelay } from '../flags/outbox-relay.js';

export interface MetricSources {
  receiver: ReceiverMetrics;
  /** For consumer lag: the log's end offsets of a stage's input topic. */
  log?: PartitionedLog;
  aggregator?: StatefulRunner;
  verdict?: StatefulRunner;
  flagWriter?: FlagWriter;
  tableRetention?: TableRetention;
  relay?: OutboxRelay;
  /** Wall clock, only to show how far the watermark is behind the present. */
  now: () => number;
  commandConsumer?: FlagCommandConsumer;
}

function fromMap(name: string, help: string, label: string, map: Map<string, number>): Sample[] {
  return [...map].map(([k, v]) => ({ name, help, type: 'counter' as const, labels: { [label]: k }, value: v }));
}

function runnerSamples(stage: string, r: StatefulRunner): Sample[] {
  const s = r.stats;
  const labels = { stage };
  return [
    { name: 'pmf_stage_records_applied_total', help: 'Input records applied to stage state', type: 'counter', labels, value: s.recordsApplied },
    { name: 'pmf_stage_records_rejected_total', help: 'Input records that could not be decoded (skipped, counted)', type: 'counter', labels, value: s.recordsRejected },
    { name: 'pmf_stage_records_replayed_total', help: 'Re-delivered records skipped because the checkpoint already has them', type: 'counter', labels, value: s.recordsSkippedBelowCheckpoint },
    { name: 'pmf_stage_checkpoints_total', help: 'State + offset checkpoints written', type: 'counter', labels, value: s.checkpoints },
    { name: 'pmf_stage_owned_partitions', help: 'Input partitions this member owns', type: 'gauge', labels, value: s.ownedPartitions },
    { name: 'pmf_stage_stale_states_dropped_total', help: 'Partition states dropped because another owner moved the checkpoint on', type: 'counter', labels, value: s.staleStatesDropped },
    { name: 'pmf_stage_checkpoints_refused_total', help: 'Checkpoint saves refused because the stored one was further along', type: 'counter', labels, value: s.checkpointsRefused },
    { name: 'pmf_stage_offset_gaps_total', help: 'Batches that started past the next offset (sparse offsets), accepted after re-delivery', type: 'counter', labels, value: s.offsetGaps },
  ];
}

/** Records between each owned partition's position and the log end: how far behind the stage is. */
async function lagSamples(stage: string, r: StatefulRunner, log: PartitionedLog): Promise<Sample[]> {
  const positions = r.positions();
  if (positions.size === 0 || !log.endOffsets) return [];
  const ends = await log.endOffsets(r.inputTopic);
  return [...positions].map(([partition, next]) => ({
    name: 'pmf_stage_consumer_lag',
    help: 'Records of the input partition not yet applied (log end offset − next offset)',
    type: 'gauge' as const,
    labels: { stage, partition: String(partition) },
    value: Number(BigInt(ends.get(partition) ?? '0') - next),
  }));
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
  registry.register(() => {
    const r = src.receiver;
    return [
      ...[...r.received].map(([signal, v]) => ({ name: 'pmf_receiver_records_received_total', help: 'Spans and log records received', type: 'counter' as const, labels: { signal }, value: v })),
      ...fromMap('pmf_receiver_records_rejected_total', 'Spans and log records rejected, by reason', 'reason', r.rejected),
      ...fromMap('pmf_receiver_records_skipped_total', 'Valid records that carried nothing to measure, by reason', 'reason', r.skipped),
      ...fromMap('pmf_receiver_requests_total', 'OTLP requests answered, by signal:status', 'status', r.requests),
      { name: 'pmf_receiver_events_produced_total', help: 'Feature events acknowledged by the log', type: 'counter', value: r.eventsProduced },
    ];
  });
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
    registry.register(() => [...runnerSamples('aggregator', a), ...aggregatorSamples(a.processors(), src.now())]);
    if (src.log) {
      const log = src.log;
      registry.register(() => lagSamples('aggregator', a, log));
    }
  }
  if (src.verdict) {
    const v = src.verdict;
    if (src.log) {
      const log = src.log;
      registry.register(() => lagSamples('verdict', v, log));
    }
    registry.register(() => {
      const byOutcome = new Map<string, number>();
      for (const p of v.processors().values()) {
        for (const verdict of (p as VerdictProcessor).engine.allLatest()) byOutcome.set(verdict.outcome, (byOutcome.get(verdict.outcome) ?? 0) + 1);
      }
      return [
        ...runnerSamples('verdict', v),
        ...[...byOutcome].map(([outcome, n]) => ({ name: 'pmf_verdict_cohorts', help: 'Cohorts by their latest verdict outcome', type: 'gauge' as const, labels: { outcome }, value: n })),
      ];
    });
  }
  if (src.flagWriter) {
    const w = src.flagWriter;
    registry.register(() => {
      const m = w.metrics();
      return [
        ...Object.entries(m.commands).map(([status, n]) => ({ name: 'pmf_flag_commands_total', help: 'Flag commands handled, by result', type: 'counter' as const, labels: { status }, value: n })),
        ...m.writeLatency.buckets.map((b) => ({ name: 'pmf_flag_write_latency_ms_bucket', help: 'Command received to Redis written, ms (cumulative buckets)', type: 'counter' as const, labels: { le: String(b.le) }, value: b.count })),
        { name: 'pmf_flag_write_latency_ms_count', help: 'Applied commands timed', type: 'counter', value: m.writeLatency.count },
        { name: 'pmf_flag_write_latency_ms_sum', help: 'Sum of flag-write latencies, ms', type: 'counter', value: m.writeLatency.sumMs },
        { name: 'pmf_flag_redis_push_failures_total', help: 'Immediate Redis pushes deferred to the outbox relay', type: 'counter', value: m.relayFailures },
      ];
    });
  }
  if (src.commandConsumer) {
    const c = src.commandConsumer;
    registry.register(() => fromMap('pmf_flag_commands_refused_total', 'Commands on the commands topic refused (unsigned, bad signature, undeclared feature, malformed), by reason', 'reason', c.refused));
  }
}
