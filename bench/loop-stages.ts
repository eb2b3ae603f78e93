// Where the loop's time goes, read after the run from the records themselves: every record on
// the app's topics carries its producer's wall-clock send time (Kafka CreateTime), so for each
// trigger we find the event the receiver produced, the first partial that carried the decisive
// watermark, the fail verdict and the rollback command, and take the differences. Nothing here
// runs while a loop is being timed.

import { decodeFlagCommand, decodeVerdict } from '../src/events/codec.js';
import { decodeCohortStats } from '../src/events/cohort-stats-codec.js';
import { decodeEventRecord } from '../src/events/event-record-codec.js';
import type { Topics } from '../src/events/topics.js';
import type { KafkaLog } from '../src/log/kafka/kafka-log.js';

export interface TriggerTiming {
  feature: string;
  /** Event time of the trigger span, and the partition its event lands on. */
  triggerEventMs: number;
  triggerPartition: number;
  /** First event time at which the gate is open (first exposure + evaluation window). */
  gateOpensAtMs: number;
  /** Wall clock just before the export call, and when the Redis change notice arrived. */
  exportStartWallMs: number;
  noticeWallMs: number;
}

/** Wall-clock milestones of one trigger, ms after the export call started. */
export interface StageTimes {
  feature: string;
  /** The receiver produced the trigger's event (its send call). */
  eventProduced: number;
  /** The aggregator published the trigger partition's first partial past the gate. */
  partialPublished: number;
  /** The verdict engine published the fail verdict. */
  verdictPublished: number;
  /** The verdict engine published the rollback command. */
  commandPublished: number;
  /** Redis notice (the whole loop). */
  redisNotice: number;
}

async function firstTimestamps<T>(
  log: KafkaLog,
  topic: string,
  decode: (b: Buffer) => T,
  match: (v: T) => string | undefined,
): Promise<Map<string, number>> {
  const first = new Map<string, number>();
  for await (const batch of log.readAll(topic)) {
    for (const r of batch.records) {
      const key = match(decode(r.value));
      if (key === undefined) continue;
      const seen = first.get(key);
      if (seen === undefined || r.timestamp < seen) first.set(key, r.timestamp);
    }
  }
  return first;
}

export async function stageTimes(log: KafkaLog, topics: Topics, triggers: TriggerTiming[]): Promise<StageTimes[]> {
  const byEventTime = new Map(triggers.map((t) => [t.triggerEventMs, t]));
  const byFeature = new Map(triggers.map((t) => [t.feature, t]));
  // A pmf.events.v2 record may carry several events: it matches if one of them is a trigger.
  const events = await firstTimestamps(log, topics.events, decodeEventRecord, (es) => es.map((e) => byEventTime.get(e.time)?.feature).find((f) => f !== undefined));
  // A cohort-stats record may carry several step snapshots of one feature: it matches if one of them does.
  const partials = await firstTimestamps(log, topics.cohortStats, decodeCohortStats, (ps) =>
    ps.map((p) => {
      const t = byFeature.get(p.feature);
      return t && p.partition === t.triggerPartition && p.watermark >= t.gateOpensAtMs ? p.feature : undefined;
    }).find((f) => f !== undefined),
  );
  const verdicts = await firstTimestamps(log, topics.verdicts, decodeVerdict, (v) => (v.outcome === 'fail' && v.cohort === 'treatment' ? v.feature : undefined));
  const commands = await firstTimestamps(log, topics.commands, decodeFlagCommand, (c) => (c.state === 'off' ? c.feature : undefined));
  const since = (t: TriggerTiming, at: number | undefined) => (at === undefined ? Number.NaN : at - t.exportStartWallMs);
  return triggers.map((t) => ({
    feature: t.feature,
    eventProduced: since(t, events.get(t.feature)),
    partialPublished: since(t, partials.get(t.feature)),
    verdictPublished: since(t, verdicts.get(t.feature)),
    commandPublished: since(t, commands.get(t.feature)),
    redisNotice: t.noticeWallMs - t.exportStartWallMs,
  }));
}
