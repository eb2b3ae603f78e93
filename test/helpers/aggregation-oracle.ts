// An independent, deliberately naive recomputation of a partition's CohortPartials from the whole
// record list, for checking PartitionAggregator (unit property tests, fault / recovery tests).
// It shares no aggregation logic with src/aggregation, on purpose (an oracle that ran the same code
// could not disagree with it): instead of an incremental state machine it computes the per-record
// watermark first, then, per (user, feature), scans the user's events and decides every statistic
// from the definitions (src/aggregation/partition-aggregator.ts header). It does share what is
// configuration rather than logic: the aggregator's options with their defaults and validation
// (resolveOptions), so both always run with the same settings; and the histogram encoding of the
// result. Not covered: the caps (dedupe entries, retired markers, cohorts per feature, sources) —
// use inputs below them.

import type { CohortPartial } from '../../src/events/cohort-stats.js';
import type { FeatureEvent } from '../../src/events/feature-event.js';
import type { SnapshotPosition } from '../../src/events/feature-partial.js';
import type { Rule } from '../../src/rules/schema.js';
import { resolveOptions, type PartitionAggregatorOptions } from '../../src/aggregation/aggregator-options.js';
import { LatencyHistogram } from '../../src/events/latency-histogram.js';
import type { SourceMark } from '../../src/events/watermark-marker.js';

export interface OracleRecord {
  event: FeatureEvent;
  offset: string;
  /** A later event of the same pmf.events.v2 record (same offset as the one before). */
  continuesRecord?: boolean;
}

/** A watermark marker record: its marks count for the watermark as events of those origins at those times, heard together, and as nothing else. */
export interface OracleMarker {
  marks: readonly SourceMark[];
  offset: string;
}

/**
 * The records a snapshot taken at `position` reflects: every record before its offset and, for a
 * snapshot taken inside a record, that record's first `recordEvents` events.
 */
export function upToPosition<R extends OracleRecord | OracleMarker>(records: readonly R[], position: SnapshotPosition): R[] {
  const end = BigInt(position.offset);
  let taken = 0;
  return records.filter((r) => {
    const off = BigInt(r.offset);
    if (off < end) return true;
    return off === end && position.recordEvents !== undefined && taken++ < position.recordEvents;
  });
}

/** The oracle's partials stamped with a snapshot's position (the oracle counts whole records only). */
export function atPosition(partials: readonly CohortPartial[], position: SnapshotPosition): CohortPartial[] {
  return partials.map((c) => ({ ...c, offset: position.offset, ...(position.recordEvents === undefined ? {} : { recordEvents: position.recordEvents }) }));
}

/** The aggregator's own options; the oracle reads the lateness, grace, idle and join-slack ones, not the caps. */
export type OracleOptions = PartitionAggregatorOptions;

export interface OracleResult {
  partials: CohortPartial[];
  events: number;
  duplicates: number;
  tooLate: number;
  lateEvents: number;
  untracked: number;
  replayedRecords: number;
}

interface Accepted {
  event: FeatureEvent;
  /** Watermark when the event was processed (before it). */
  watermarkBefore: number;
}

interface UserResult {
  cohort: string;
  firstExposure: number;
  switched: boolean;
  activationMatured: boolean;
  activated: boolean;
  /** With activation.earlySeconds: the landmark matured, and an action at or before it was applied. */
  earlyReached: boolean;
  earlyActivated: boolean;
  retentionMatured: boolean;
  returned: boolean;
  durations: number[];
  slow: number;
}

export function oracleAggregate(records: readonly (OracleRecord | OracleMarker)[], opts: OracleOptions): OracleResult {
  const { allowedLatenessMs: lateness, lateGraceMs: grace, sourceIdleMs: idle, latencyJoinSlackMs: slack, maxLatenessMs } = resolveOptions(opts);
  const closeAfter = (r: Rule) => Math.max(r.activation.windowSeconds, r.retention.windowSeconds) * 1000;
  // The default horizon is a definition (no open window can take an older event), so it is derived
  // here again rather than read from the aggregator.
  const horizonMs = maxLatenessMs ?? Math.max(0, ...opts.rules.rules.map(closeAfter)) + grace;
  const result: OracleResult = { partials: [], events: 0, duplicates: 0, tooLate: 0, lateEvents: 0, untracked: 0, replayedRecords: 0 };

  // Pass 1: offsets, the watermark seen by each event (the slowest origin that has not fallen
  // silent while the newest event time moved `idle` on), refusals, and dedupe: an id is
  // remembered when its event reached a live (user, feature) state (created by it, or not yet
  // past its later window end + grace), while its time is above the lateness horizon.
  let lastOffset: bigint | undefined;
  let leader = -Infinity;
  let watermark = -Infinity;
  const origins = new Map<string, { max: number; lastContact: number }>();
  const rememberedIdTime = new Map<string, number>();
  const states = new Map<string, { retireAt: number }>();
  const accepted: Accepted[] = [];
  // Several (origin, time) pairs heard at once: an event is one, a watermark marker's marks are
  // all of them together (the newest time first, every named origin in contact at it).
  const observe = (heard: readonly { origin?: string; time: number }[]) => {
    if (heard.length === 0) return;
    leader = Math.max(leader, ...heard.map((h) => h.time));
    for (const { origin, time } of heard) {
      const key = origin ?? '';
      const o = origins.get(key);
      if (o) {
        o.max = Math.max(o.max, time);
        o.lastContact = leader;
      } else origins.set(key, { max: time, lastContact: leader });
    }
    const active = [...origins.values()].filter((x) => leader - x.lastContact <= idle).map((x) => x.max);
    watermark = Math.max(watermark, Math.min(...active) - lateness);
  };
  for (const r of records) {
    const off = BigInt(r.offset);
    const continuesRecord = 'event' in r && r.continuesRecord;
    if (lastOffset !== undefined && off <= lastOffset && !(continuesRecord && off === lastOffset)) {
      result.replayedRecords++;
      continue;
    }
    lastOffset = off;
    if ('marks' in r) {
      const horizon = watermark - horizonMs;
      observe(r.marks.filter((m) => m.time > horizon));
      continue;
    }
    const event = r.event;
    if (!Number.isFinite(event.time) || !event.user) continue;
    const horizon = watermark - horizonMs;
    if (event.time <= horizon) {
      result.tooLate++;
      continue;
    }
    const prev = rememberedIdTime.get(event.id);
    if (prev !== undefined && prev > horizon) {
      result.duplicates++;
      continue;
    }
    result.events++;
    if (event.time < watermark) result.lateEvents++;
    let live = false;
    for (const f of event.flags) {
      const rule = opts.rules.byFeature.get(f.feature);
      if (!rule) {
        result.untracked++;
        continue;
      }
      const key = JSON.stringify([event.user, f.feature]);
      if (!states.has(key)) {
        states.set(key, { retireAt: event.time + closeAfter(rule) + grace });
        live = true;
      }
    }
    for (const rule of opts.rules.rules) {
      const st = states.get(JSON.stringify([event.user, rule.featureId]));
      if (st && watermark < st.retireAt) live = true;
    }
    if (live) rememberedIdTime.set(event.id, event.time);
    accepted.push({ event, watermarkBefore: watermark });
    observe([event]);
  }
  const finalWatermark = watermark;
  if (lastOffset === undefined) return result;
  const nextOffset = (lastOffset + 1n).toString();

  // Pass 2: per user, per feature, straight from the definitions.
  const byUser = new Map<string, Accepted[]>();
  for (const a of accepted) {
    const list = byUser.get(a.event.user) ?? [];
    list.push(a);
    byUser.set(a.event.user, list);
  }
  const perCohort = new Map<string, { rule: Rule; cohort: string; users: UserResult[] }>();
  for (const rule of opts.rules.rules) {
    for (const events of byUser.values()) {
      const u = userForFeature(rule, events, finalWatermark, slack, grace);
      if (u === undefined) continue;
      const key = JSON.stringify([rule.featureId, u.cohort]);
      const entry = perCohort.get(key) ?? { rule, cohort: u.cohort, users: [] };
      entry.users.push(u);
      perCohort.set(key, entry);
    }
  }

  const keys = [...perCohort.keys()].sort((a, b) => {
    const [fa, ca] = JSON.parse(a) as [string, string];
    const [fb, cb] = JSON.parse(b) as [string, string];
    return fa < fb ? -1 : fa > fb ? 1 : ca < cb ? -1 : ca > cb ? 1 : 0;
  });
  for (const key of keys) {
    const { rule, cohort, users } = perCohort.get(key)!;
    const histogram = new LatencyHistogram();
    for (const u of users) for (const d of u.durations) histogram.record(d);
    const withRequests = users.filter((u) => u.durations.length > 0);
    const hasAction = rule.activation.action !== undefined;
    const earlySeconds = hasAction ? rule.activation.earlySeconds : undefined;
    const reached = users.filter((u) => u.earlyReached);
    result.partials.push({
      feature: rule.featureId,
      cohort,
      partition: opts.partition,
      offset: nextOffset,
      watermark: finalWatermark,
      firstExposureAt: Math.min(...users.map((u) => u.firstExposure)),
      exposed: users.length,
      activation: {
        matured: hasAction ? users.filter((u) => u.activationMatured).length : 0,
        successes: hasAction ? users.filter((u) => u.activationMatured && u.activated).length : 0,
        ...(earlySeconds === undefined
          ? {}
          : {
              early: {
                afterMs: earlySeconds * 1000,
                reached: reached.length,
                successes: reached.filter((u) => u.earlyActivated).length,
                maturedSuccesses: reached.filter((u) => u.earlyActivated && u.activationMatured).length,
              },
            }),
      },
      retention: {
        matured: users.filter((u) => u.retentionMatured).length,
        successes: users.filter((u) => u.retentionMatured && u.returned).length,
      },
      latency: {
        count: users.reduce((s, u) => s + u.durations.length, 0),
        slow: users.reduce((s, u) => s + u.slow, 0),
        users: withRequests.length,
        sumN2: users.reduce((s, u) => s + u.durations.length ** 2, 0),
        sumSlow2: users.reduce((s, u) => s + u.slow ** 2, 0),
        sumNSlow: users.reduce((s, u) => s + u.durations.length * u.slow, 0),
        histogram: histogram.toBase64(),
      },
      cohortSwitches: users.filter((u) => u.switched).length,
    });
  }
  return result;
}

function cohortName(rule: Rule, variant: string): string {
  const map = rule.cohorts.map;
  return map !== undefined && Object.hasOwn(map, variant) ? map[variant] : variant;
}

function userForFeature(rule: Rule, events: readonly Accepted[], finalWatermark: number, slack: number, grace: number): UserResult | undefined {
  const feature = rule.featureId;
  const first = events.findIndex((a) => a.event.flags.some((f) => f.feature === feature));
  if (first < 0) return undefined;
  const exposure = events[first].event;
  const variants = exposure.flags.filter((f) => f.feature === feature).map((f) => cohortName(rule, f.variant));
  const cohort = variants[0];
  const fe = exposure.time;
  const activationEnd = fe + rule.activation.windowSeconds * 1000;
  const landmark = fe + (rule.activation.earlySeconds ?? 0) * 1000;
  const retentionStart = fe + rule.retention.returnAfterSeconds * 1000;
  const retentionEnd = fe + rule.retention.windowSeconds * 1000;
  const closeAt = Math.max(activationEnd, retentionEnd);
  const action = rule.activation.action;

  // From the exposure on: the event is processed while the window it would affect is still open,
  // that is before the watermark passes the window's end + grace (the exposing event always is).
  const later = events.slice(first).map((a, i) => ({ e: a.event, openUntil: (end: number) => i === 0 || a.watermarkBefore < end }));
  const matchesAction = (e: FeatureEvent) =>
    action !== undefined &&
    (action.spanName === undefined || e.name === action.spanName) &&
    (action.attribute === undefined || (e.attrs !== undefined && Object.hasOwn(e.attrs, action.attribute.key) && e.attrs[action.attribute.key] === action.attribute.value));

  const durations: number[] = [];
  let slow = 0;
  for (const { e, openUntil } of later) {
    if (e.durationMs === undefined || !openUntil(closeAt + grace) || e.time > closeAt) continue;
    const counts =
      rule.latency.spanName !== undefined ? e.name === rule.latency.spanName && e.time >= fe - slack : e.flags.some((f) => f.feature === feature);
    if (!counts || !(e.durationMs >= 0) || !Number.isFinite(e.durationMs)) continue;
    durations.push(e.durationMs);
    if (e.durationMs > rule.latencyP95Threshold) slow++;
  }

  return {
    cohort,
    firstExposure: fe,
    switched:
      variants.some((c) => c !== cohort) ||
      later.slice(1).some(({ e, openUntil }) => openUntil(closeAt + grace) && e.flags.some((f) => f.feature === feature && cohortName(rule, f.variant) !== cohort)),
    activationMatured: finalWatermark >= activationEnd,
    activated: later.some(({ e, openUntil }) => e.time >= fe && e.time <= activationEnd && openUntil(activationEnd + grace) && matchesAction(e)),
    // Reached when the landmark matured; an action up to it counts while the activation window
    // is open for late data, like the activation itself (so early successes are activations).
    earlyReached: rule.activation.earlySeconds !== undefined && finalWatermark >= landmark,
    earlyActivated: later.some(({ e, openUntil }) => e.time >= fe && e.time <= landmark && openUntil(activationEnd + grace) && matchesAction(e)),
    retentionMatured: finalWatermark >= retentionEnd,
    returned: later.some(({ e, openUntil }) => e.time >= retentionStart && e.time < retentionEnd && openUntil(retentionEnd + grace)),
    durations,
    slow,
  };
}
