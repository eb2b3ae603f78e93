// Kafka's RangeAssignor: per topic, members subscribed to it (sorted by member id) take contiguous
// ranges of partitions, the first (partitions % members) members one extra. Pure, so the embedded
// group coordinator and its tests share it.

import type { TopicPartition } from '../partitioned-log.js';

export interface MemberSubscription {
  memberId: string;
  topics: readonly string[];
}

export function assignRange(
  members: readonly MemberSubscription[],
  partitionsPerTopic: ReadonlyMap<string, number>,
): Map<string, TopicPartition[]> {
  const result = new Map<string, TopicPartition[]>(members.map((m) => [m.memberId, []]));
  const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
  for (const topic of topics) {
    const partitions = partitionsPerTopic.get(topic) ?? 0;
    const subscribers = members
      .filter((m) => m.topics.includes(topic))
      .map((m) => m.memberId)
      .sort();
    const per = Math.floor(partitions / subscribers.length);
    const extra = partitions % subscribers.length;
    subscribers.forEach((memberId, i) => {
      const start = i * per + Math.min(i, extra);
      const length = per + (i < extra ? 1 : 0);
      const owned = result.get(memberId)!;
      for (let p = start; p < start + length; p++) owned.push({ topic, partition: p });
    });
  }
  return result;
}
