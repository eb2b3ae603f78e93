// Incremental checkpoints of the verdict engine (format 2; docs/verdicts.md, "Checkpoints"): a
// save writes the features whose state changed since the last settled save, one part row per
// feature (its snapshots, step bookkeeping, cohort memories and SRM expectation, as JSON), so a
// checkpoint costs what the steps since the last one touched, not the whole engine. The head is
// a fixed few bytes (marker and version). Every part of the engine's state belongs to exactly one
// feature, so the rows are the whole state: restore = every row, in part order.
// Format 1, the whole state as one JSON object in the head (VerdictEngine.serialize), is still
// read: such an engine marks every feature changed, so its first save writes them all.
// A save that did not land (settle(false)) leaves its features marked, so the next one rewrites them.

import { ByteReader, ByteWriter } from '../core/byte-codec.js';
import { PmfError, errorMessage } from '../core/errors.js';
import type { PartChanges, StatePart } from '../core/state-parts.js';
import type { FeaturePartial } from '../events/feature-partial.js';
import { memoryKey, type CohortMemory, type EngineState, type FeatureSteps, type MemoryIndex } from './engine-state.js';
import type { FeatureRollout } from './rollout-driver.js';

/** A format-2 head starts with 0x00 (a format-1 state starts with "{"), then "PV" and the format. */
const HEAD = Buffer.from([0x00, 0x50, 0x56]);
const FORMAT = 2;
/** Every feature's row has one version, replaced in place. */
const SEQ = '0';

/** One feature's row. */
interface FeatureRow {
  feature: string;
  steps?: FeatureSteps;
  partials?: Record<string, FeaturePartial>;
  /** Cohort → memory, in the order the engine created them. */
  memory: [string, CohortMemory][];
  rollout?: FeatureRollout;
}

export function isEngineHead(state: Uint8Array): boolean {
  return state.length > HEAD.length && HEAD.every((b, i) => state[i] === b);
}

function head(): Buffer {
  const w = new ByteWriter(8);
  for (const b of HEAD) w.byte(b);
  return w.byte(FORMAT).finish();
}

export function featureRow(state: EngineState, index: MemoryIndex, feature: string): Buffer {
  const row: FeatureRow = {
    feature,
    steps: state.steps[feature],
    partials: state.partials[feature],
    memory: index.keys(feature).map((k) => [k.slice(feature.length + 1), state.memory[k]]),
    rollout: state.rollouts?.[feature],
  };
  return Buffer.from(JSON.stringify(row));
}

/** The engine's state from a format-2 head and its part rows (ordered by part). */
export function stateFromRows(headBytes: Uint8Array, parts: readonly StatePart[]): { state: EngineState; parts: Map<string, number> } {
  const r = new ByteReader(headBytes, 'verdict engine checkpoint');
  for (const b of HEAD) if (r.byte() !== b) throw r.fail('not a verdict engine checkpoint');
  const format = r.byte();
  if (format !== FORMAT) throw r.fail(`unknown format ${format}`);
  r.expectEnd();
  const state: EngineState = { partials: {}, steps: {}, memory: {} };
  const byFeature = new Map<string, number>();
  for (const p of parts) {
    let row: FeatureRow;
    try {
      row = JSON.parse(p.data.toString('utf8')) as FeatureRow;
    } catch (err) {
      throw new PmfError('ERR_STATE_CORRUPT', `verdict engine checkpoint: part ${p.part}: ${errorMessage(err)}`, { cause: err });
    }
    if (typeof row.feature !== 'string' || !Array.isArray(row.memory) || byFeature.has(row.feature)) {
      throw new PmfError('ERR_STATE_CORRUPT', `verdict engine checkpoint: part ${p.part} is not a feature row, or repeats one`);
    }
    byFeature.set(row.feature, p.part);
    if (row.steps) state.steps[row.feature] = row.steps;
    if (row.partials) state.partials[row.feature] = row.partials;
    for (const [cohort, m] of row.memory) state.memory[memoryKey(row.feature, cohort)] = m;
    if (row.rollout) (state.rollouts ??= {})[row.feature] = row.rollout;
  }
  return { state, parts: byFeature };
}

/** What the engine gives the checkpointer: its changed features and their rows. */
export interface CheckpointSource {
  takeChanged(): string[];
  markChanged(features: Iterable<string>): void;
  featureRow(feature: string): Buffer;
}

export interface EngineCheckpoint {
  head: Buffer;
  changes: PartChanges;
  settle(saved: boolean): void;
}

export class VerdictCheckpointer {
  private nextPart: number;

  /** `parts`: the part each stored feature's row is in (empty for an engine the store holds no rows of). */
  constructor(private readonly parts = new Map<string, number>()) {
    this.nextPart = Math.max(-1, ...parts.values()) + 1;
  }

  take(engine: CheckpointSource): EngineCheckpoint {
    const features = engine.takeChanged();
    const put: StatePart[] = features.map((f) => ({ part: this.partOf(f), seq: SEQ, data: engine.featureRow(f) }));
    return {
      head: head(),
      changes: { put, drop: [] },
      settle: (saved) => {
        if (!saved) engine.markChanged(features);
      },
    };
  }

  private partOf(feature: string): number {
    let part = this.parts.get(feature);
    if (part === undefined) {
      part = this.nextPart++;
      this.parts.set(feature, part);
    }
    return part;
  }
}

/** The engine's state from a stored checkpoint of either format (head or whole state, and its part rows). */
export function readEngineCheckpoint(state: Uint8Array, parts: readonly StatePart[]): EngineState {
  if (parts.length === 0 && !isEngineHead(state)) {
    const restored = JSON.parse(Buffer.from(state).toString('utf8')) as EngineState;
    return { ...restored, steps: restored.steps ?? {} };
  }
  return stateFromRows(state, parts).state;
}
