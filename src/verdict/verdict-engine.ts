// The verdict engine for the features of one input partition of pmf.cohort-stats.v1. Pure, and a
// function of the event log and the rules alone: the aggregators publish a snapshot of every
// feature each time a partition's watermark crosses a step of event time (FeaturePartial.step),
// and a feature is evaluated at step s once every partition reporting it has passed s, over each
// partition's snapshot as of s. What a step sees therefore depends only on each partition's
// events up to the one that crossed it, never on when snapshots were published or arrived, so
// `replay` of the recorded log gives the live verdict stream bit for bit.
// Before its first evaluation a feature waits until `partitions` source partitions report it
// (every partition with data reports every ruled feature at each step). A partition that has no
// data at all would hold everything, so the caller may waive the wait (releaseStartup, from the
// verdict stage after a wall-clock grace): the partitions heard of by then are judged, and one
// first heard of later joins at its next step. That is the one case where arrival shows in the
// verdicts (docs/aggregation.md); replay counts the partitions that hold records.
// Heartbeats are in event time for the same reason.

import type { FeaturePartial } from '../events/feature-partial.js';
import type { FlagCommand } from '../events/flag-command.js';
import type { RolloutSteer } from '../events/rollout-steer.js';
import type { Outcome, RolloutView, Verdict } from '../events/verdict.js';
import type { Rule, RuleSet } from '../rules/schema.js';
import type { CohortEvaluator } from './cohort-evaluator.js';
import { captureFeature, type FeatureRow } from './engine-checkpoint.js';
import { applyUndo, MemoryIndex, memoryKey, takeUndo, type CohortMemory, type EngineState, type FeatureSteps } from './engine-state.js';
import { hashId } from './content-id.js';
import { gateReason } from './gates.js';
import { mergeFeature } from './merge-partials.js';
import { ensureRamp, rememberSteer, rolloutCommand, rolloutView, srmExpectation, type CohortRollout } from './rollout-driver.js';
import { allocationOf, onEvidence, onSteer, type RampChange } from './rollout-ramp.js';

export interface VerdictEngineOptions {
  rules: RuleSet;
  evaluator: CohortEvaluator;
  /** Unchanged verdicts are re-published after this much event time. */
  heartbeatMs: number;
  /** Source partitions (of pmf.events.v2) a feature waits for before its first evaluation. */
  partitions?: number;
}

export interface EngineOutput {
  verdicts: Verdict[];
  commands: FlagCommand[];
}

/** A guarded cohort's rollout as the status page shows it. */
export interface RolloutStatusView {
  feature: string;
  cohort: string;
  rollout: RolloutView;
  /** Per metric, the guard state at the last evaluation. */
  guards: Record<string, string> | null;
  outcome: Outcome | null;
  evaluatedAt: string | null;
  lastSteer?: CohortRollout['lastSteer'];
}

/** The event-time step a snapshot stands for (a snapshot without one: its watermark). */
export function stepOf(p: FeaturePartial): number {
  return p.step ?? p.watermark;
}

/** The part of the rules that decides this feature's commands: its own rule, canonically. */
function ruleKey(rule: Rule): string {
  return JSON.stringify(rule);
}

export function guardedCohorts(rule: Rule, seen: Iterable<string>): string[] {
  if (rule.cohorts.guarded) return [...rule.cohorts.guarded];
  return [...seen].filter((c) => c !== rule.cohorts.control);
}

export class VerdictEngine {
  private state: EngineState = { partials: {}, steps: {}, memory: {} };
  private index = new MemoryIndex();
  /** Features whose state changed since the last takeChanged (what an incremental checkpoint writes). */
  private changed = new Set<string>();
  private rules: RuleSet;
  /** The wait for `partitions` was waived (see the header); not state: a restart waits again. */
  private released = false;

  constructor(private readonly o: VerdictEngineOptions) {
    this.rules = o.rules;
  }

  setRules(rules: RuleSet): void {
    this.rules = rules;
  }

  apply(p: FeaturePartial): EngineOutput {
    const feature = p.feature;
    const key = String(p.partition);
    const steps = (this.state.steps[feature] ??= { evaluated: null, first: null, queued: {}, reported: {} });
    const step = stepOf(p);
    // Snapshots of one partition come in step order; a re-sent one (a replay) carries nothing new.
    if (steps.reported[key] !== undefined && steps.reported[key] >= step) return { verdicts: [], commands: [] };
    // Applied atomically: if evaluation throws (the runner then skips the record as rejected),
    // neither the snapshots nor any cohort's memory keeps a half-done change.
    const undo = takeUndo(this.state, this.index, feature, steps);
    this.changed.add(feature);
    steps.reported[key] = step;
    (steps.queued[key] ??= []).push(p);
    if (steps.first === null || step < steps.first) steps.first = step;
    try {
      return this.evaluateDueSteps(feature, steps);
    } catch (err) {
      applyUndo(this.state, this.index, feature, undo);
      throw err;
    }
  }

  /** Evaluates, in order, every reported step that all partitions reporting the feature have passed. */
  private evaluateDueSteps(feature: string, steps: FeatureSteps): EngineOutput {
    const out: EngineOutput = { verdicts: [], commands: [] };
    const reported = Object.values(steps.reported);
    const low = Math.min(...reported);
    if (steps.evaluated === null && !this.released && this.o.partitions !== undefined && reported.length < this.o.partitions) return out;
    const byPartition = (this.state.partials[feature] ??= {});
    const absorb = (upTo: number) => {
      for (const [key, q] of Object.entries(steps.queued)) {
        while (q.length > 0 && stepOf(q[0]) <= upTo) byPartition[key] = q.shift()!;
      }
    };
    for (;;) {
      // A partition that joins late brings snapshots of steps already judged: they count from the next step.
      if (steps.evaluated !== null) absorb(steps.evaluated);
      let next = Number.POSITIVE_INFINITY;
      for (const q of Object.values(steps.queued)) if (q.length > 0 && stepOf(q[0]) < next) next = stepOf(q[0]);
      if (next === Number.POSITIVE_INFINITY || next > low) break;
      absorb(next);
      steps.evaluated = next;
      const r = this.evaluateFeature(feature, next);
      out.verdicts.push(...r.verdicts);
      out.commands.push(...r.commands);
    }
    return out;
  }

  /** Stops waiting for partitions that have not reported; judges every feature's due steps. */
  releaseStartup(): EngineOutput {
    const out: EngineOutput = { verdicts: [], commands: [] };
    if (this.released) return out;
    this.released = true;
    for (const [feature, steps] of Object.entries(this.state.steps).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (steps.evaluated !== null || Object.keys(steps.reported).length === 0) continue;
      this.changed.add(feature);
      const r = this.evaluateDueSteps(feature, steps);
      out.verdicts.push(...r.verdicts);
      out.commands.push(...r.commands);
    }
    return out;
  }

  latest(feature: string, cohort?: string): Verdict[] {
    return this.index
      .keys(feature)
      .map((key) => this.state.memory[key].lastVerdict)
      .filter((v): v is Verdict => v !== null && (cohort === undefined || v.cohort === cohort));
  }

  allLatest(): Verdict[] {
    return Object.values(this.state.memory).map((m) => m.lastVerdict).filter((v): v is Verdict => v !== null);
  }

  serialize(): Buffer {
    return Buffer.from(JSON.stringify(this.state));
  }

  /** From a whole-state (format 1) checkpoint: every feature counts as changed, so the next incremental save writes them all. */
  static restore(state: Buffer, o: VerdictEngineOptions): VerdictEngine {
    const restored = JSON.parse(state.toString('utf8')) as EngineState;
    const e = VerdictEngine.fromState({ ...restored, steps: restored.steps ?? {} }, o);
    e.markChanged([...Object.keys(e.state.steps), ...Object.keys(e.state.partials), ...Object.keys(e.state.rollouts ?? {})]);
    for (const key of Object.keys(e.state.memory)) e.changed.add(key.slice(0, key.indexOf('\u0000')));
    return e;
  }

  static fromState(state: EngineState, o: VerdictEngineOptions): VerdictEngine {
    const e = new VerdictEngine(o);
    e.state = state;
    e.index = MemoryIndex.of(state.memory);
    return e;
  }

  takeChanged(): string[] {
    const features = [...this.changed];
    this.changed.clear();
    return features;
  }

  markChanged(features: Iterable<string>): void {
    for (const f of features) this.changed.add(f);
  }

  /** One feature's share of the state, as an incremental checkpoint's row, captured now and serialized later (engine-checkpoint.ts). */
  captureFeature(feature: string): FeatureRow {
    return captureFeature(this.state, this.index, feature);
  }

  /** Applies a person's steering request to a cohort's ramp, at the feature's current event time. */
  steer(req: RolloutSteer): EngineOutput {
    const out: EngineOutput = { verdicts: [], commands: [] };
    const rule = this.rules.byFeature.get(req.feature);
    const plan = rule?.rollout;
    // The admin API checks feature and cohort against the rules before it sends; a request that
    // still does not fit (the rules changed meanwhile) has no ramp to steer.
    if (!rule || !plan || rule.mode !== 'enforce' || !rule.cohorts.guarded?.includes(req.cohort)) return out;
    const merged = mergeFeature(Object.values(this.state.partials[req.feature] ?? {}));
    const stats = merged.cohorts.get(req.cohort);
    const at = Number.isFinite(merged.at) && merged.cohorts.size > 0 ? merged.at : Date.parse(req.requestedAt);
    const exposed = stats?.exposed ?? 0;
    const mem = this.cohortMemory(req.feature, req.cohort);
    this.changed.add(req.feature);
    const cr = ensureRamp(mem.rollout, plan, stats?.firstExposureAt ?? at);
    mem.rollout = cr;
    if (cr.steers.includes(req.steerId)) return out;
    rememberSteer(cr, req.steerId);
    const step = onSteer(plan, cr.ramp, { action: req.action, at, exposed, actor: req.actor, reason: req.reason });
    // A refused request still reaches the flag writer, as a command that changes nothing, so the
    // audit log shows who asked for what and why it was refused.
    const change: RampChange = step.change ?? {
      action: req.action,
      stage: cr.ramp.status === 'rolled-back' || cr.ramp.status === 'aborted' ? 0 : cr.ramp.stage + 1,
      percent: allocationOf(plan, cr.ramp),
      state: cr.ramp.status === 'rolled-back' || cr.ramp.status === 'aborted' ? 'off' : 'on',
      status: cr.ramp.status,
      reason: `${step.refused} (requested by ${req.actor}${req.reason ? `: ${req.reason}` : ''})`,
    };
    if (step.change?.action === 'start') cr.epoch += 1;
    cr.ramp = step.state;
    cr.lastSteer = { steerId: req.steerId, action: req.action, actor: req.actor, result: step.change ? 'applied' : 'refused', reason: change.reason };
    out.commands.push(rolloutCommand({ feature: req.feature, cohort: req.cohort, rule, cr, change, issuedAt: new Date(at).toISOString(), steer: req }));
    return out;
  }

  /** Every ramp of a feature this engine owns, with the guard states of its last verdict. */
  rollouts(feature: string): RolloutStatusView[] {
    const rule = this.rules.byFeature.get(feature);
    if (!rule?.rollout) return [];
    const merged = mergeFeature(Object.values(this.state.partials[feature] ?? {}));
    const views: RolloutStatusView[] = [];
    for (const key of this.index.keys(feature)) {
      const mem = this.state.memory[key];
      if (!mem.rollout) continue;
      const cohort = key.slice(feature.length + 1);
      const v = mem.lastVerdict;
      const at = merged.cohorts.size > 0 ? merged.at : mem.rollout.ramp.stageStartedAt;
      const view: RolloutStatusView = {
        feature,
        cohort,
        rollout: rolloutView(rule.rollout, mem.rollout, at, merged.cohorts.get(cohort)?.exposed ?? 0),
        guards: v ? Object.fromEntries(Object.entries(v.metrics).map(([m, x]) => [m, x.status])) : null,
        outcome: v?.outcome ?? null,
        evaluatedAt: v?.evaluatedAt ?? null,
      };
      if (mem.rollout.lastSteer) view.lastSteer = mem.rollout.lastSteer;
      views.push(view);
    }
    return views.sort((a, b) => a.cohort.localeCompare(b.cohort));
  }

  private cohortMemory(feature: string, cohort: string): CohortMemory {
    const key = memoryKey(feature, cohort);
    let mem = this.state.memory[key];
    if (!mem) {
      mem = this.state.memory[key] = { evaluator: {}, lastOutcome: null, lastPublishedAt: Number.NEGATIVE_INFINITY, lastVerdict: null, commands: [] };
      this.index.add(feature, key);
    }
    return mem;
  }

  private evaluateFeature(feature: string, step: number): EngineOutput {
    const out: EngineOutput = { verdicts: [], commands: [] };
    const rule = this.rules.byFeature.get(feature);
    if (!rule) return out;
    // Evaluated as of the step: every partition has passed it, and its snapshot is the one taken there.
    const merged = { ...mergeFeature(Object.values(this.state.partials[feature] ?? {})), at: step };
    const exposures: Record<string, number> = {};
    for (const [name, c] of merged.cohorts) exposures[name] = c.exposed;
    const guarded = new Set(guardedCohorts(rule, merged.cohorts.keys()));
    const control = rule.cohorts.control ? merged.cohorts.get(rule.cohorts.control) : undefined;
    // A rollout is driven only in enforce mode: in dry-run no command moves the allocation, so the
    // ramp (and the SRM expectation that follows it) would describe a rollout that is not happening.
    const plan = rule.mode === 'enforce' ? rule.rollout : undefined;
    let expectedShares: Record<string, number> | undefined;
    if (plan) {
      const allocations: Record<string, number> = {};
      for (const g of guarded) {
        const cr = this.state.memory[memoryKey(feature, g)]?.rollout;
        allocations[g] = cr ? allocationOf(plan, cr.ramp) : plan.stages[0].percent;
      }
      const rollouts = (this.state.rollouts ??= {});
      const srm = srmExpectation(rule, rollouts[feature], allocations, exposures);
      rollouts[feature] = srm.feature;
      expectedShares = srm.shares;
    }

    for (const [name, cohort] of [...merged.cohorts].sort(([a], [b]) => a.localeCompare(b))) {
      const mem = this.cohortMemory(feature, name);
      const result = this.o.evaluator.evaluate({
        rule,
        ruleVersion: this.rules.version,
        cohort,
        control: name === rule.cohorts.control ? undefined : control,
        exposures,
        ...(expectedShares ? { expectedShares } : {}),
        at: merged.at,
        memory: mem.evaluator,
      });
      mem.evaluator = result.memory;

      // Whether to act is decided at every evaluation, not only when a verdict is published, so a
      // dry-run → enforce switch acts at once. The id is keyed on this feature's rule (not the
      // whole file's version), so editing another rule never re-issues a rollback; cooldownSeconds
      // (event time) spaces out the commands a changed rule may issue for the same cohort.
      const rollback = result.outcome === 'fail' || (result.outcome === 'invalid' && rule.onSrm === 'rollback');
      let commandId: string | undefined;
      let rampChange: RampChange | undefined;
      let view: RolloutView | undefined;
      if (plan && guarded.has(name)) {
        // A cohort in a rollout is steered by its ramp: a failure rolls it back (allocation 0 and
        // off in one command), a pass advances it once the stage's minimums are met.
        const cr = ensureRamp(mem.rollout, plan, cohort.firstExposureAt);
        const gatesOpen = gateReason({ rule, ruleVersion: this.rules.version, cohort, exposures, at: merged.at, memory: {} }) === null;
        const step = onEvidence(plan, cr.ramp, { outcome: rollback ? 'fail' : result.outcome, at: merged.at, exposed: cohort.exposed, reason: result.reason, gatesOpen });
        cr.ramp = step.state;
        mem.rollout = cr;
        rampChange = step.change;
        view = rolloutView(plan, cr, merged.at, cohort.exposed);
      } else if (rollback && guarded.has(name) && rule.mode === 'enforce') {
        const id = hashId('rollback', feature, name, ruleKey(rule));
        const cooling = mem.lastCommandAt !== undefined && merged.at - mem.lastCommandAt < rule.cooldownSeconds * 1000;
        if (!mem.commands.includes(id) && !cooling) commandId = id;
      }

      // A change of outcome, or of any metric's status (pending → pass while the outcome still
      // waits for slower metrics), is news; so is a command (its evidence must be public), and a
      // rollout's change of stage or status. Anything else waits for the event-time heartbeat.
      const last = mem.lastVerdict;
      const changed =
        commandId !== undefined ||
        rampChange !== undefined ||
        result.outcome !== mem.lastOutcome ||
        last === null ||
        (Object.keys(result.metrics) as (keyof typeof result.metrics)[]).some((m) => result.metrics[m].status !== last.metrics[m].status) ||
        result.srm.status !== last.srm.status ||
        (view !== undefined && (view.status !== last.rollout?.status || view.stage !== last.rollout?.stage));
      if (!changed && merged.at - mem.lastPublishedAt < this.o.heartbeatMs) continue;

      const evaluatedAt = new Date(merged.at).toISOString();
      const verdict: Verdict = {
        verdictId: hashId(feature, name, result.outcome, this.rules.version, evaluatedAt, JSON.stringify(merged.inputOffsets)),
        feature,
        cohort: name,
        outcome: result.outcome,
        metrics: result.metrics,
        srm: result.srm,
        ruleVersion: this.rules.version,
        evaluatedAt,
        inputOffsets: merged.inputOffsets,
        reason: result.reason,
        ...(result.regressions && result.regressions.length > 0 ? { regressions: result.regressions } : {}),
      };
      if (view) verdict.rollout = view;
      mem.lastOutcome = result.outcome;
      mem.lastPublishedAt = merged.at;
      mem.lastVerdict = verdict;
      out.verdicts.push(verdict);

      if (rampChange !== undefined && mem.rollout) {
        const cmd = rolloutCommand({ feature, cohort: name, rule, cr: mem.rollout, change: rampChange, issuedAt: evaluatedAt, evidence: verdict });
        mem.commands.push(cmd.commandId);
        if (cmd.action === 'rollback') mem.lastCommandAt = merged.at;
        out.commands.push(cmd);
      }
      if (commandId !== undefined) {
        mem.commands.push(commandId);
        mem.lastCommandAt = merged.at;
        out.commands.push({
          commandId,
          feature,
          cohort: name,
          action: 'rollback',
          state: 'off',
          source: 'verdict',
          reason: result.reason,
          evidence: verdict,
          issuedAt: evaluatedAt,
        });
      }
    }
    return out;
  }
}
