// The verdict engine's state and the operations on one feature's share of it: the index from a
// feature to its cohorts' memory, and the undo copy that makes applying a snapshot atomic. Both
// cost what the feature holds, never what the engine holds: the engine applies every feature's
// snapshot at every step, so anything proportional to all features there would make a step
// quadratic in them.

import type { FeaturePartial } from '../events/feature-partial.js';
import type { Outcome, Verdict } from '../events/verdict.js';
import type { EvaluatorMemory } from './cohort-evaluator.js';
import type { CohortRollout, FeatureRollout } from './rollout-driver.js';

export interface CohortMemory {
  /** Replaced by each evaluation, never changed in place (CohortEvaluator's contract). */
  evaluator: EvaluatorMemory;
  lastOutcome: Outcome | null;
  lastPublishedAt: number;
  /** Published, so never changed in place. */
  lastVerdict: Verdict | null;
  /** Command ids already issued for this cohort; a re-evaluation never issues one twice. */
  commands: string[];
  /** Event time of the last command issued for this cohort (cooldownSeconds counts from it). */
  lastCommandAt?: number;
  /** The cohort's ramp, for a guarded cohort of a rule with a rollout (enforce mode). */
  rollout?: CohortRollout;
}

export interface FeatureSteps {
  /** Last step evaluated; null before the first. */
  evaluated: number | null;
  /** Lowest step first reported, for the startup wait. */
  first: number | null;
  /** Snapshots not yet consumed, per partition, in step order. */
  queued: Record<string, FeaturePartial[]>;
  /** Highest step reported per partition. */
  reported: Record<string, number>;
}

/** The whole state, as the JSON checkpoint (format 1) holds it. */
export interface EngineState {
  /** Per feature and partition, the snapshot as of the last evaluated step (never changed in place). */
  partials: Record<string, Record<string, FeaturePartial>>;
  steps: Record<string, FeatureSteps>;
  /** Per `feature \0 cohort`. */
  memory: Record<string, CohortMemory>;
  /** Per feature with a rollout: the SRM expectation under moving allocations (replaced, never changed in place). */
  rollouts?: Record<string, FeatureRollout>;
}

export function memoryKey(feature: string, cohort: string): string {
  return `${feature}\u0000${cohort}`;
}

/** Per feature, the keys of its cohorts' memory in the order they were created (the state's key order). */
export class MemoryIndex {
  private readonly byFeature = new Map<string, string[]>();

  static of(memory: Record<string, CohortMemory>): MemoryIndex {
    const index = new MemoryIndex();
    for (const key of Object.keys(memory)) index.add(key.slice(0, key.indexOf('\u0000')), key);
    return index;
  }

  add(feature: string, key: string): void {
    const keys = this.byFeature.get(feature);
    if (keys) keys.push(key);
    else this.byFeature.set(feature, [key]);
  }

  keys(feature: string): readonly string[] {
    return this.byFeature.get(feature) ?? [];
  }

  truncate(feature: string, length: number): void {
    const keys = this.byFeature.get(feature);
    if (keys) keys.length = length;
  }
}

/** What applying one snapshot may change of a feature, copied so far as it is changed in place. */
export interface FeatureUndo {
  steps: FeatureSteps;
  partials: Record<string, FeaturePartial>;
  memory: [string, CohortMemory][];
  rollout: FeatureRollout | undefined;
}

/**
 * Copies what evaluation changes in place: the step bookkeeping, the per-partition map, each
 * cohort memory's own fields, its command list and its ramp. Snapshots, verdicts, evaluator
 * memories and the SRM expectation are replaced, never changed, so they are kept by reference.
 */
export function takeUndo(state: EngineState, index: MemoryIndex, feature: string, steps: FeatureSteps): FeatureUndo {
  return {
    steps: {
      evaluated: steps.evaluated,
      first: steps.first,
      queued: Object.fromEntries(Object.entries(steps.queued).map(([k, q]) => [k, q.slice()])),
      reported: { ...steps.reported },
    },
    partials: { ...state.partials[feature] },
    memory: index.keys(feature).map((k) => {
      const m = state.memory[k];
      const copy: CohortMemory = { ...m, commands: m.commands.slice() };
      if (m.rollout) copy.rollout = structuredClone(m.rollout);
      return [k, copy];
    }),
    rollout: state.rollouts?.[feature],
  };
}

/** Puts a feature back as takeUndo found it: memory created since is dropped, key order kept. */
export function applyUndo(state: EngineState, index: MemoryIndex, feature: string, undo: FeatureUndo): void {
  state.steps[feature] = undo.steps;
  state.partials[feature] = undo.partials;
  const kept = new Set(undo.memory.map(([k]) => k));
  for (const k of index.keys(feature)) if (!kept.has(k)) delete state.memory[k];
  index.truncate(feature, undo.memory.length);
  for (const [k, m] of undo.memory) state.memory[k] = m;
  if (state.rollouts) {
    if (undo.rollout) state.rollouts[feature] = undo.rollout;
    else delete state.rollouts[feature];
  }
}
