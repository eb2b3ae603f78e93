// The verdict engine for the features of one input partition of pmf.cohort-stats.v1. Pure and
// deterministic: every applied snapshot re-evaluates its feature, so the verdicts depend only on
// the sequence of input records (replay gives byte-identical verdicts), never on batching or
// wall-clock time. Heartbeats are in event time for the same reason.

import { createHash } from 'node:crypto';
import type { FeaturePartial } from '../events/feature-partial.js';
import type { FlagCommand } from '../events/flag-command.js';
import type { Outcome, Verdict } from '../events/verdict.js';
import type { Rule, RuleSet } from '../rules/schema.js';
import type { CohortEvaluator, EvaluatorMemory } from './cohort-evaluator.js';
import { mergeFeature } from './merge-partials.js';

export interface VerdictEngineOptions {
  rules: RuleSet;
  evaluator: CohortEvaluator;
  /** Unchanged verdicts are re-published after this much event time. */
  heartbeatMs: number;
}

interface CohortMemory {
  evaluator: EvaluatorMemory;
  lastOutcome: Outcome | null;
  lastPublishedAt: number;
  lastVerdict: Verdict | null;
  /** Command ids already issued for this cohort; a re-evaluation never issues one twice. */
  commands: string[];
  /** Event time of the last command issued for this cohort (cooldownSeconds counts from it). */
  lastCommandAt?: number;
}

export interface EngineOutput {
  verdicts: Verdict[];
  commands: FlagCommand[];
}

interface EngineState {
  partials: Record<string, Record<string, FeaturePartial>>;
  memory: Record<string, CohortMemory>;
}

/** The part of the rules that decides this feature's commands: its own rule, canonically. */
function ruleKey(rule: Rule): string {
  return JSON.stringify(rule);
}

function hashId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

export function guardedCohorts(rule: Rule, seen: Iterable<string>): string[] {
  if (rule.cohorts.guarded) return [...rule.cohorts.guarded];
  return [...seen].filter((c) => c !== rule.cohorts.control);
}

export class VerdictEngine {
  private state: EngineState = { partials: {}, memory: {} };
  private rules: RuleSet;

  constructor(private readonly o: VerdictEngineOptions) {
    this.rules = o.rules;
  }

  setRules(rules: RuleSet): void {
    this.rules = rules;
  }

  apply(p: FeaturePartial): EngineOutput {
    const byPartition = (this.state.partials[p.feature] ??= {});
    const prev = byPartition[String(p.partition)];
    // Cumulative snapshots: an older one (a replay) carries nothing new.
    if (prev && BigInt(prev.offset) >= BigInt(p.offset)) return { verdicts: [], commands: [] };
    // Applied atomically: if evaluation throws (the runner then skips the record as rejected),
    // neither the partial nor any cohort's memory keeps a half-done change.
    const memoryBefore = Object.entries(this.state.memory).filter(([k]) => k.startsWith(`${p.feature}\u0000`));
    const saved = structuredClone(memoryBefore);
    byPartition[String(p.partition)] = p;
    try {
      return this.evaluateFeature(p.feature);
    } catch (err) {
      if (prev) byPartition[String(p.partition)] = prev;
      else delete byPartition[String(p.partition)];
      for (const k of Object.keys(this.state.memory)) if (k.startsWith(`${p.feature}\u0000`)) delete this.state.memory[k];
      for (const [k, v] of saved) this.state.memory[k] = v;
      throw err;
    }
  }

  latest(feature: string, cohort?: string): Verdict[] {
    return Object.entries(this.state.memory)
      .filter(([key]) => key.startsWith(`${feature}\u0000`))
      .map(([, m]) => m.lastVerdict)
      .filter((v): v is Verdict => v !== null && (cohort === undefined || v.cohort === cohort));
  }

  allLatest(): Verdict[] {
    return Object.values(this.state.memory).map((m) => m.lastVerdict).filter((v): v is Verdict => v !== null);
  }

  serialize(): Buffer {
    return Buffer.from(JSON.stringify(this.state));
  }

  static restore(state: Buffer, o: VerdictEngineOptions): VerdictEngine {
    const e = new VerdictEngine(o);
    e.state = JSON.parse(state.toString('utf8')) as EngineState;
    return e;
  }

  private evaluateFeature(feature: string): EngineOutput {
    const out: EngineOutput = { verdicts: [], commands: [] };
    const rule = this.rules.byFeature.get(feature);
    if (!rule) return out;
    const merged = mergeFeature(Object.values(this.state.partials[feature] ?? {}));
    const exposures: Record<string, number> = {};
    for (const [name, c] of merged.cohorts) exposures[name] = c.exposed;
    const guarded = new Set(guardedCohorts(rule, merged.cohorts.keys()));
    const control = rule.cohorts.control ? merged.cohorts.get(rule.cohorts.control) : undefined;

    for (const [name, cohort] of [...merged.cohorts].sort(([a], [b]) => a.localeCompare(b))) {
      const key = `${feature}\u0000${name}`;
      const mem = (this.state.memory[key] ??= { evaluator: {}, lastOutcome: null, lastPublishedAt: Number.NEGATIVE_INFINITY, lastVerdict: null, commands: [] });
      const result = this.o.evaluator.evaluate({
        rule,
        ruleVersion: this.rules.version,
        cohort,
        control: name === rule.cohorts.control ? undefined : control,
        exposures,
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
      if (rollback && guarded.has(name) && rule.mode === 'enforce') {
        const id = hashId('rollback', feature, name, ruleKey(rule));
        const cooling = mem.lastCommandAt !== undefined && merged.at - mem.lastCommandAt < rule.cooldownSeconds * 1000;
        if (!mem.commands.includes(id) && !cooling) commandId = id;
      }

      // A change of outcome, or of any metric's status (pending → pass while the outcome still
      // waits for slower metrics), is news; so is a command (its evidence must be public).
      // Anything else waits for the event-time heartbeat.
      const last = mem.lastVerdict;
      const changed =
        commandId !== undefined ||
        result.outcome !== mem.lastOutcome ||
        last === null ||
        (Object.keys(result.metrics) as (keyof typeof result.metrics)[]).some((m) => result.metrics[m].status !== last.metrics[m].status) ||
        result.srm.status !== last.srm.status;
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
      mem.lastOutcome = result.outcome;
      mem.lastPublishedAt = merged.at;
      mem.lastVerdict = verdict;
      out.verdicts.push(verdict);

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
