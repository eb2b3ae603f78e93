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
}

export interface EngineOutput {
  verdicts: Verdict[];
  commands: FlagCommand[];
}

interface EngineState {
  partials: Record<string, Record<string, FeaturePartial>>;
  memory: Record<string, CohortMemory>;
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
    byPartition[String(p.partition)] = p;
    return this.evaluateFeature(p.feature);
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
      // A change of outcome, or of any metric's status (pending → pass while the outcome still
      // waits for slower metrics), is news; anything else waits for the event-time heartbeat.
      const last = mem.lastVerdict;
      const changed =
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
      };
      mem.lastOutcome = result.outcome;
      mem.lastPublishedAt = merged.at;
      mem.lastVerdict = verdict;
      out.verdicts.push(verdict);

      const rollback = result.outcome === 'fail' || (result.outcome === 'invalid' && rule.onSrm === 'rollback');
      if (rollback && guarded.has(name) && rule.mode === 'enforce') {
        const commandId = hashId('rollback', feature, name, this.rules.version);
        if (!mem.commands.includes(commandId)) {
          mem.commands.push(commandId);
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
    }
    return out;
  }
}
