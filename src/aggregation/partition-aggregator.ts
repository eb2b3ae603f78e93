// The aggregation state machine of ONE source partition of pmf.events.v2 (pure: no I/O, no wall
// clock). Records are applied in offset order; the result depends only on that sequence, so a
// restore from a checkpoint (state + offset saved atomically by the caller) followed by a replay
// gives byte-identical snapshots and state.
//
// Semantics (docs/aggregation.md), per apply(event):
//  1. Offsets at or below the last applied one are re-deliveries: skipped, counted (replayedRecords).
//  2. Lateness: an event older than watermark − horizon (horizon = longest rule window + grace,
//     or maxLatenessMs) can affect no open window: refused, counted (tooLate). Dedupe (see
//     dedupe-window.ts): an id remembered from an accepted event → duplicates (ignored, counted).
//     Otherwise the event is accepted; time < watermark → lateEvents. The ids remembered are
//     those of events that reached a live (user, feature) state, for as long as such an event
//     could still be accepted: a resend is caught whatever its event time.
//  3. Exposures (every flag of the event, in order). Only features with a rule are tracked (others:
//     untracked). The first exposure processed for (user, feature) fixes the cohort
//     (rule.cohorts.map[variant] ?? variant) and firstExposure = its event time; a later different
//     cohort marks the user as switched (cohortSwitches counts users, once). A new cohort beyond
//     maxCohortsPerFeature is not tracked (cohortOverflow).
//  4. Effects on every live (user, feature) state of the event's user, the just-created ones included
//     (so one span may be both the exposure and the action):
//     activation: the rule's action with firstExposure <= t <= firstExposure + activation window
//     (and, with activation.earlySeconds = L, early: such an action with t <= firstExposure + L);
//     retention: any event with firstExposure + returnAfter <= t < firstExposure + retention window;
//     an effect whose window has already matured is still applied (the success is added to the
//     matured count, lateApplied) while the watermark is below that window's end + grace; after
//     that it is ignored and counted (lateIgnored).
//     Latency: with rule.latency.spanName, spans of that name of a user whose state for the feature
//     exists when the span is processed and t >= firstExposure − latencyJoinSlackMs (a request span
//     usually starts just before the child span that evaluates the flag); others → latencyUnjoined.
//     Without spanName: spans carrying the flag. Only spans starting at or before the end of the
//     user's longest window count (later ones: afterClose). The user is the statistical unit: per-user counts
//     feed users / sumN2 / sumSlow2 / sumNSlow. slow = durationMs > latencyP95Threshold (raw ms).
//  5. watermark: see source-watermark.ts (the slowest live source's highest time − allowedLatenessMs).
//     Every window (and early landmark) with firstExposure + it <= watermark matures: the user enters that
//     denominator (and the numerator if it succeeded, or later within the grace). Numerators only
//     ever hold matured users. When both windows have matured and the watermark has passed the
//     later window's end + grace, the state is evicted:
//     a marker keeps the user from being exposed again; later events of that user for the feature
//     are ignored and counted (afterClose) — so a user's latency counts during the first
//     max(activation, retention window) after exposure. Markers are capped (maxRetiredUsers, FIFO);
//     a forgotten user who comes back counts as a new exposure (forgottenUsers tells how often
//     that can happen).
// Rule changes (setRules) apply to windows still open; features that lose their rule are frozen
// (kept, not reported) until the rule comes back.
//
// State layout (typed arrays, docs/aggregation.md): user-state-store.ts (≈ 38 bytes per live (user,
// feature) + user index), deadline-queue.ts (8 bytes per state: handle, coarse key), 64-bit fingerprints of ids and
// markers. After a record, a store mostly free compacts; the condition depends only on the state,
// so a restored aggregator compacts at the same record as the original and stays byte-identical.

import { PmfError } from '../core/errors.js';
import { runSteps, type Steps } from '../core/sliced-steps.js';
import type { CohortPartial } from '../events/cohort-stats.js';
import type { EventBody, FeatureEvent, FlagExposure } from '../events/feature-event.js';
import type { RecordIds } from '../events/record-ids.js';
import type { RuleSet } from '../rules/schema.js';
import { decodeState, encodeState, type AggregatorState } from './aggregator-state.js';
import { CohortAccumulator } from './cohort-accumulator.js';
import { cohortOf, compileRule, type CompiledRule } from './compiled-rule.js';
import { DeadlineQueue } from './deadline-queue.js';
import { DedupeWindow } from './dedupe-window.js';
import { SourceWatermark } from './source-watermark.js';
import type { SourceMark } from '../events/watermark-marker.js';
import { MAX_FEATURES, SWITCHED, UserStateStore } from './user-state-store.js';
import { HANDLES_PER_STEP } from './user-state-records.js';
import { resolveOptions, type PartitionAggregatorOptions, type ResolvedOptions } from './aggregator-options.js';
import { aggregatorStats, zeroCounters, type AggregatorCounters, type AggregatorStats } from './aggregator-counters.js';
import { hasIds, isRemembered, selectEventUser } from './event-keys.js';
import { carriesFeature, compareStrings, isValidBody, offsetAfter, OFFSET_PATTERN, type FeatureSlot } from './feature-slot.js';
import { alignEarlyLandmarks, applyWindowEffects, matureDue, setWindowLengths } from './window-maturation.js';

export type { PartitionAggregatorOptions } from './aggregator-options.js';
export type { AggregatorCounters, AggregatorStats } from './aggregator-counters.js';

export class PartitionAggregator {
  readonly partition: number;
  private readonly opts: ResolvedOptions;
  private rules!: RuleSet;
  private compiled = new Map<string, CompiledRule>();
  /** Rules whose latency comes from named spans, by span name. */
  private latencyBySpan = new Map<string, CompiledRule[]>();
  private readonly slots: FeatureSlot[] = [];
  private readonly slotIndex = new Map<string, number>();
  private store: UserStateStore;
  private dedupe: DedupeWindow;
  private deadlines: DeadlineQueue;
  private clock: SourceWatermark;
  /** Events older than watermark − this are refused: longest rule window + grace (or the override). */
  private horizonMs = 0;
  private lastOffset: string | undefined;
  private readonly counters: AggregatorCounters = zeroCounters();

  constructor(options: PartitionAggregatorOptions) {
    this.opts = resolveOptions(options);
    this.partition = this.opts.partition;
    this.store = new UserStateStore(this.opts.maxRetiredUsers);
    this.deadlines = new DeadlineQueue(this.store, this.opts.lateGraceMs);
    this.dedupe = new DedupeWindow(this.opts.maxDedupeEntries);
    this.clock = new SourceWatermark(this.opts.allowedLatenessMs, this.opts.sourceIdleMs, this.opts.maxSources);
    this.setRules(options.rules);
  }

  get watermark(): number {
    return this.clock.watermark;
  }

  /** Events older than this are refused as too late. */
  get latenessHorizon(): number {
    return this.watermark - this.horizonMs;
  }

  /** Next offset to read (the one after the last applied record); undefined before any record. */
  get nextOffset(): string | undefined {
    return this.lastOffset === undefined ? undefined : (BigInt(this.lastOffset) + 1n).toString();
  }

  get ruleVersion(): string {
    return this.rules.version;
  }

  /** Features with a rule, sorted (whether or not this partition has data for them). */
  ruleFeatures(): string[] {
    return (this.sortedRuleFeatures ??= [...this.compiled.keys()].sort(compareStrings));
  }

  // ruleFeatures() and ruledCohorts() as last computed: the processor asks for both at every step
  // snapshot (every few dozen events in a catch-up), and they change only with the rules, a new
  // feature slot or a new cohort. Shared with the callers, who only read them.
  private sortedRuleFeatures: string[] | undefined;
  private sortedRuledCohorts: { feature: string; cohorts: CohortAccumulator[] }[] | undefined;

  setRules(rules: RuleSet): void {
    runSteps(this.setRulesSteps(rules));
  }

  /** setRules(), pausable while it requeues every live state (a restore at 10 M pairs). */
  private *setRulesSteps(rules: RuleSet): Steps<void> {
    this.rules = rules;
    this.sortedRuleFeatures = undefined;
    this.sortedRuledCohorts = undefined;
    this.compiled = new Map(rules.rules.map((r) => [r.featureId, compileRule(r)]));
    this.latencyBySpan = new Map();
    for (const c of this.compiled.values()) {
      if (c.latencySpanName === undefined) continue;
      const list = this.latencyBySpan.get(c.latencySpanName);
      if (list) list.push(c);
      else this.latencyBySpan.set(c.latencySpanName, [c]);
    }
    for (const slot of this.slots) slot.rule = this.compiled.get(slot.name);
    alignEarlyLandmarks(this.store, this.slots);
    let longest = 0;
    for (const c of this.compiled.values()) longest = Math.max(longest, c.activationWindowMs, c.retentionWindowMs);
    this.horizonMs = this.opts.maxLatenessMs ?? longest + this.opts.lateGraceMs;
    yield* this.rebuildDeadlines();
  }

  /** The events of one log record, in order: they share its offset, checked once, for the first. */
  applyRecord(events: readonly FeatureEvent[], offset: string): void {
    for (let i = 0; i < events.length; i++) if (!this.applyInRecord(events[i], offset, i === 0)) return;
  }

  /**
   * One event of a record, `first` for the record's first. False when the record is a re-delivery
   * (its first event was skipped): the caller skips the rest. With `ids` (events/record-ids.ts), the
   * user and id are its entry `i`; without, `event` is a whole FeatureEvent.
   */
  applyInRecord(event: FeatureEvent, offset: string, first: boolean): boolean;
  applyInRecord(event: EventBody, offset: string, first: boolean, ids: RecordIds, i: number): boolean;
  applyInRecord(event: EventBody, offset: string, first: boolean, ids?: RecordIds, i = 0): boolean {
    if (first) {
      const before = this.lastOffset;
      this.apply(event, offset, ids as RecordIds, i);
      const accepted = this.lastOffset === offset && before !== offset;
      this.openRecord = accepted ? { offset, before } : undefined;
      return accepted;
    }
    if (this.openRecord?.offset !== offset) return false;
    this.lastOffset = this.openRecord.before;
    this.applyAt(event, offset, ids, i); // the offset passed apply()'s checks with the record's first event
    return true;
  }

  /** The record being applied event by event, and the offset before it. */
  private openRecord: { offset: string; before: string | undefined } | undefined;

  /** A watermark marker (events/watermark-marker.ts): its marks move the watermark as events of
   *  those sources at those times would, all at once, no data. False: re-delivery. */
  applyMarker(marks: readonly SourceMark[], offset: string): boolean {
    if (!OFFSET_PATTERN.test(offset)) throw new PmfError('ERR_INTERNAL', `not a record offset: ${JSON.stringify(offset)}`);
    this.openRecord = undefined;
    if (this.lastOffset !== undefined && !offsetAfter(offset, this.lastOffset)) {
      this.counters.replayedRecords++;
      return false;
    }
    this.lastOffset = offset;
    // One too late for an event is ignored alike; the rest are taken together (source-watermark.ts):
    // a marker never holds the watermark back less than the events it stands for.
    const horizon = this.latenessHorizon;
    if (this.clock.observeMarks(marks.filter((m) => m.time > horizon))) this.dedupe.advance(this.latenessHorizon);
    this.mature(this.watermark);
    if (this.store.needsCompaction) {
      this.store.compact();
      runSteps(this.requeueAll());
    }
    return true;
  }

  apply(event: FeatureEvent, offset: string): void;
  apply(event: EventBody, offset: string, ids: RecordIds, i: number): void;
  apply(event: EventBody, offset: string, ids?: RecordIds, i = 0): void {
    if (!OFFSET_PATTERN.test(offset)) throw new PmfError('ERR_INTERNAL', `not a record offset: ${JSON.stringify(offset)}`);
    if (this.lastOffset !== undefined && !offsetAfter(offset, this.lastOffset)) this.counters.replayedRecords++;
    else this.applyAt(event, offset, ids, i);
  }

  private applyAt(event: EventBody, offset: string, ids: RecordIds | undefined, i: number): void {
    const c = this.counters;
    this.lastOffset = offset;
    if (!isValidBody(event) || !hasIds(event, ids, i)) {
      c.invalidEvents++;
      return;
    }
    const t = event.time;
    if (t <= this.latenessHorizon) {
      c.tooLate++;
      return;
    }
    if (isRemembered(this.dedupe, event, ids, i)) {
      c.duplicates++;
      return;
    }
    c.events++;
    if (t < this.watermark) c.lateEvents++;

    const store = this.store;
    selectEventUser(store, event, ids, i);
    for (const flag of event.flags) this.expose(flag, t);
    for (let h = store.head; h !== -1; h = store.next(h)) this.applyToState(h, event);
    if (event.durationMs !== undefined && this.latencyBySpan.size > 0) this.joinNamedLatency(event);
    // Only an event that reached a live state can change a statistic if applied twice: those ids
    // are remembered (while such an event could still be accepted), the others need not be.
    if (store.head !== -1) this.dedupe.add(t);

    if (this.clock.observe(event.origin, t)) this.dedupe.advance(this.latenessHorizon);
    // Also when the watermark did not move: a late exposure may have windows that already closed.
    // (Asked here first: almost always nothing is due, and the call would box the watermark.)
    if (!this.deadlines.nothingDueBy(this.watermark)) this.mature(this.watermark);
    if (store.needsCompaction) {
      store.compact();
      runSteps(this.requeueAll());
    }
  }

  /** Exposure of the selected user to one flag. */
  private expose(flag: FlagExposure, t: number): void {
    let fi = this.slotIndex.get(flag.feature);
    const rule = fi === undefined ? this.compiled.get(flag.feature) : this.slots[fi].rule;
    if (rule === undefined) {
      this.counters.untracked++;
      return;
    }
    if (fi === undefined) fi = this.slotFor(flag.feature);
    const slot = this.slots[fi];
    const store = this.store;
    const cohortName = cohortOf(rule, flag.variant);
    const existing = store.find(fi);
    if (existing !== -1) {
      const first = slot.cohorts[store.cohort(existing)];
      if (first.cohort !== cohortName && (store.flags(existing) & SWITCHED) === 0) {
        store.setFlag(existing, SWITCHED);
        first.cohortSwitches++;
      }
      return;
    }
    if (store.isRetired(fi)) {
      this.counters.afterClose++;
      return;
    }
    let ci = slot.cohortIndex.get(cohortName);
    if (ci === undefined) {
      if (slot.cohorts.length >= this.opts.maxCohortsPerFeature) {
        this.counters.cohortOverflow++;
        return;
      }
      ci = slot.cohorts.length;
      slot.cohorts.push(new CohortAccumulator(flag.feature, cohortName, this.opts.histogram, rule.earlyMs));
      slot.cohortIndex.set(cohortName, ci);
      this.sortedRuledCohorts = undefined;
    }
    const h = store.add(fi, ci, t);
    const acc = slot.cohorts[ci];
    acc.exposed++;
    if (t < acc.firstExposureAt) acc.firstExposureAt = t;
    this.deadlines.push(h);
  }

  private applyToState(h: number, e: EventBody): void {
    const store = this.store;
    const slot = this.slots[store.feature(h)];
    const rule = slot.rule;
    if (rule === undefined) return; // frozen feature
    const t = e.time;
    const fe = store.firstExposure(h);
    applyWindowEffects(store, slot, rule, h, e, this.watermark, this.opts.lateGraceMs, this.counters);
    if (rule.latencySpanName === undefined && e.durationMs !== undefined && carriesFeature(e, slot.name)) {
      if (t <= fe + rule.closeAfterMs) this.recordLatency(h, rule, e.durationMs);
      else this.counters.afterClose++;
    }
  }

  /** Named latency spans of the selected user. */
  private joinNamedLatency(e: EventBody): void {
    const rules = this.latencyBySpan.get(e.name);
    if (rules === undefined) return;
    const store = this.store;
    for (const rule of rules) {
      const fi = this.slotIndex.get(rule.feature);
      const h = fi === undefined ? -1 : store.find(fi);
      if (h !== -1 && e.time >= store.firstExposure(h) - this.opts.latencyJoinSlackMs) {
        if (e.time <= store.firstExposure(h) + rule.closeAfterMs) this.recordLatency(h, rule, e.durationMs as number);
        else this.counters.afterClose++;
      } else if (h === -1 && fi !== undefined && store.isRetired(fi)) {
        this.counters.afterClose++;
      } else {
        this.counters.latencyUnjoined++;
      }
    }
  }

  private recordLatency(h: number, rule: CompiledRule, durationMs: number): void {
    if (!(durationMs >= 0) || durationMs === Number.POSITIVE_INFINITY) {
      this.counters.invalidDurations++;
      return;
    }
    const store = this.store;
    const slow = durationMs > rule.slowThresholdMs;
    this.slots[store.feature(h)].cohorts[store.cohort(h)].recordRequest(durationMs, slow, store.requests(h), store.slow(h));
    store.countRequest(h, slow);
  }

  private mature(watermark: number): void {
    matureDue(this.deadlines, this.store, this.slots, watermark, this.counters);
  }

  private *rebuildDeadlines(): Steps<void> {
    setWindowLengths(this.deadlines, this.slots);
    yield* this.requeueAll();
    // Windows shortened by new rules may have matured already.
    if (this.watermark !== Number.NEGATIVE_INFINITY) this.mature(this.watermark);
  }

  private *requeueAll(): Steps<void> {
    this.deadlines.clear();
    const store = this.store;
    for (let h = 0; h < store.handleLimit; h++) {
      if (h % HANDLES_PER_STEP === 0) yield;
      if (store.isLive(h)) this.deadlines.push(h);
    }
  }

  private slotFor(feature: string): number {
    let fi = this.slotIndex.get(feature);
    if (fi === undefined) {
      if (this.slots.length >= MAX_FEATURES) throw new PmfError('ERR_INTERNAL', `more than ${MAX_FEATURES} features with rules`);
      fi = this.slots.length;
      this.slots.push({ name: feature, rule: this.compiled.get(feature), cohorts: [], cohortIndex: new Map() });
      this.slotIndex.set(feature, fi);
      this.sortedRuledCohorts = undefined;
      setWindowLengths(this.deadlines, this.slots); // no state of this feature yet: nothing to requeue
    }
    return fi;
  }

  /** Every feature with a rule seen on this partition, and its cohorts' accumulators, both sorted (read only). */
  ruledCohorts(): { feature: string; cohorts: CohortAccumulator[] }[] {
    return (this.sortedRuledCohorts ??= this.sortRuledCohorts());
  }

  private sortRuledCohorts(): { feature: string; cohorts: CohortAccumulator[] }[] {
    const slots = this.slots.filter((s) => s.rule !== undefined).sort((a, b) => compareStrings(a.name, b.name));
    return slots.map((s) => ({ feature: s.name, cohorts: [...s.cohorts].sort((a, b) => compareStrings(a.cohort, b.cohort)) }));
  }

  /** Cumulative statistics of every (feature, cohort) with a rule seen on this partition, sorted. */
  snapshot(): CohortPartial[] {
    const offset = this.nextOffset;
    if (offset === undefined) return [];
    return this.ruledCohorts().flatMap((f) => f.cohorts.map((acc) => acc.toPartial(this.partition, offset, this.watermark)));
  }

  stats(): AggregatorStats {
    return aggregatorStats(this.state(), this.deadlines.approxBytes, this.watermark, this.latenessHorizon);
  }

  /** The whole partition state, for a checkpoint saved atomically with nextOffset by the caller. */
  serialize(): Buffer {
    return encodeState(this.state());
  }

  /** Rebuilds an aggregator from serialize(); opts.rules may differ (as if setRules followed). */
  static restore(bytes: Uint8Array, options: PartitionAggregatorOptions): PartitionAggregator {
    return PartitionAggregator.fromState(decodeState(bytes, options), options);
  }

  /** The parts of the state, for the checkpoint codecs (aggregator-state.ts, aggregator-checkpoint.ts). */
  state(): AggregatorState {
    return { partition: this.partition, lastOffset: this.lastOffset, clock: this.clock, counters: this.counters, dedupe: this.dedupe, slots: this.slots, slotIndex: this.slotIndex, store: this.store };
  }

  /** An aggregator over restored parts (which it takes over); options.rules apply as if setRules followed. */
  static fromState(s: AggregatorState, options: PartitionAggregatorOptions): PartitionAggregator {
    return runSteps(PartitionAggregator.fromStateSteps(s, options));
  }

  /** fromState(), pausable while it queues every live state's deadlines. */
  static *fromStateSteps(s: AggregatorState, options: PartitionAggregatorOptions): Steps<PartitionAggregator> {
    const a = new PartitionAggregator({ ...options, rules: { version: 'restoring', rules: [], byFeature: new Map() } });
    a.lastOffset = s.lastOffset;
    a.clock = s.clock;
    Object.assign(a.counters, s.counters);
    a.dedupe = s.dedupe;
    a.slots.push(...s.slots);
    for (const [name, i] of s.slotIndex) a.slotIndex.set(name, i);
    a.store = s.store;
    a.deadlines = new DeadlineQueue(s.store, a.opts.lateGraceMs);
    yield* a.setRulesSteps(options.rules);
    return a;
  }
}
