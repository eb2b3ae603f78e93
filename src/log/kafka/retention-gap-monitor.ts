// Data lost to retention must not pass silently: when a consumer group takes over partitions, its
// committed offsets are compared with each partition's log-start offset. A committed offset below
// the log start means the records in between were deleted before the group read them (the group
// was down or lagging longer than retention.ms). Kafka would just resume at the log start; here
// each such gap is counted (pmf_log_retention_gaps_total, pmf_log_records_lost_total) and logged
// as an error, once per group, partition and committed offset.

import type { Admin } from 'kafkajs';
import type { Logger } from '../../core/logger.js';
import type { RetentionGaps, TopicPartition } from '../partitioned-log.js';

export class RetentionGapMonitor {
  private readonly gaps = new Map<string, number>();
  private readonly recordsLost = new Map<string, number>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly admin: () => Promise<Admin>,
    private readonly logger: Logger,
  ) {}

  snapshot(): RetentionGaps {
    return { gaps: new Map(this.gaps), recordsLost: new Map(this.recordsLost) };
  }

  /** Compares the group's committed offsets of `owned` with their log-start offsets. */
  async check(groupId: string, owned: readonly TopicPartition[]): Promise<void> {
    if (owned.length === 0) return;
    const admin = await this.admin();
    const topics = [...new Set(owned.map((tp) => tp.topic))];
    const committed = await admin.fetchOffsets({ groupId, topics });
    for (const topic of topics) {
      const starts = await admin.fetchTopicOffsets(topic);
      for (const { partition } of owned.filter((tp) => tp.topic === topic)) {
        const offset = committed.find((c) => c.topic === topic)?.partitions.find((p) => p.partition === partition)?.offset;
        const low = starts.find((s) => s.partition === partition)?.low;
        if (offset === undefined || low === undefined || BigInt(offset) < 0n || BigInt(offset) >= BigInt(low)) continue;
        const key = `${groupId}\u0000${topic}\u0000${partition}\u0000${offset}`;
        if (this.reported.has(key)) continue;
        this.reported.add(key);
        const lost = Number(BigInt(low) - BigInt(offset));
        this.gaps.set(topic, (this.gaps.get(topic) ?? 0) + 1);
        this.recordsLost.set(topic, (this.recordsLost.get(topic) ?? 0) + lost);
        this.logger.error(`records lost to retention: ${topic}/${partition} was committed at ${offset} but the log now starts at ${low}`, {
          code: 'ERR_LOG_GAP',
          groupId,
          topic,
          partition,
          committed: offset,
          logStart: low,
          recordsLost: lost,
          fix: 'raise kafka.retentionMs for this topic or alert on consumer lag before it reaches retention',
        });
      }
    }
  }
}
