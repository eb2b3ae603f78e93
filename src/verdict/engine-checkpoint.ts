// Incremental checkpoints of the verdict engine (format 2; docs/verdicts.md, "Checkpoints"): a
// save writes the features whose state changed since the last settled save, one part row per
// feature (its snapshots, step bookkeeping, cohort memories and SRM expectation, as JSON), so a
// checkpoint costs what the steps since the last one touched, not the whole engine. The head is
// a fixed few bytes (marker and version). Every part of the engine's state belongs to exactly one
// feature, so the rows are the whole state: restore = every row, in part order.
// Format 1, the whole state as one JSON object in the head (VerdictEngine.serialize), is still
// read: such an engine marks every feature changed, so its first save writes them all.
// A save that did not land (settle(false)) leaves its features marked, so the next one rewrites them.
// Taking a checkpoint only captures the changed features (the copy applying a snapshot already
// makes for its undo, a few µs each); their rows are built by prepare(), in slices that give the
// event loop back between them. At 100 live features every feature changes every step, and
// building all rows at once held the loop for 13–28 ms per checkpoint: a rollback command that
// fell due meanwhile waited for it. The capture keeps the rows those of the checkpoint's offset
// while later records change the engine.

import { ByteReader, ByteWriter } from '../core/byte-codec.js';
import { PmfError, errorMessage } from '../core/errors.js';
import { nextTurn } from '../core/next-turn.js';
import type { PartChanges, StatePart } from '../core/state-parts.js';
import type { FeaturePartial } from '../events/feature-partial.js';
import { memoryKey, takeUndo, type CohortMemory, type EngineState, type FeatureSteps, type MemoryIndex } from './engine-state.js';
import type { FeatureRollout } from './rollout-driver.js';

/** A format-2 head starts with 0x00 (a format-1 state starts with "{"), then "PV" and the format. */
const HEAD = Buffer.from([0x00, 0x50, 0x56]);
const FORMAT = 2;
/** Every feature's row has one version, replaced in place. */
const SEQ = '0';

/** One feature's row. */
export interface FeatureRow {
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

/**
 * One feature's row as of now, safe to serialize after the engine moved on: what the engine
 * changes in place is copied, the rest (snapshots, evaluator memories, verdicts, the SRM
 * expectation) is replaced, never changed, so it is kept by reference (engine-state.ts, takeUndo).
 */
export function captureFeature(state: EngineState, index: MemoryIndex, feature: string): FeatureRow {
  const steps = state.steps[feature];
  const copy = takeUndo(state, index, feature, steps ?? { evaluated: null, first: null, queued: {}, reported: {} });
  return {
    feature,
    steps: steps === undefined ? undefined : copy.steps,
    partials: state.partials[feature] === undefined ? undefined : copy.partials,
    memory: copy.memory.map(([k, m]) => [k.slice(feature.length + 1), m]),
    rollout: copy.rollout,
  };
}

export function rowOf(row: FeatureRow): Buffer {
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

/** What the engine gives the checkpointer: its changed features and a capture of each one's row. */
export interface CheckpointSource {
  takeChanged(): string[];
  markChanged(features: Iterable<string>): void;
  captureFeature(feature: string): FeatureRow;
}

export interface EngineCheckpoint {
  head: Buffer;
  /** Complete on every read: rows prepare() has not built yet are built then, at once. */
  readonly changes: PartChanges;
  /** Builds the rows in slices of about sliceMs, yielding to the event loop between them. */
  prepare(): Promise<void>;
  settle(saved: boolean): void;
}

/** How long one slice of row building may hold the event loop. */
const SLICE_MS = 2;

export class VerdictCheckpointer {
  private nextPart: number;

  /** `parts`: the part each stored feature's row is in (empty for an engine the store holds no rows of). */
  constructor(private readonly parts = new Map<string, number>()) {
    this.nextPart = Math.max(-1, ...parts.values()) + 1;
  }

  take(engine: CheckpointSource, yieldToLoop: () => Promise<void> = nextTurn, sliceMs = SLICE_MS): EngineCheckpoint {
    const features = engine.takeChanged();
    const captured = features.map((f) => ({ part: this.partOf(f), row: engine.captureFeature(f) }));
    const put: StatePart[] = [];
    // At least one row per slice, so a slow machine still gets there.
    const build = (until: number) => {
      while (put.length < captured.length) {
        const c = captured[put.length];
        put.push({ part: c.part, seq: SEQ, data: rowOf(c.row) });
        if (performance.now() >= until) return;
      }
    };
    return {
      head: head(),
      get changes(): PartChanges {
        build(Number.POSITIVE_INFINITY);
        return { put, drop: [] };
      },
      prepare: async () => {
        for (;;) {
          build(performance.now() + sliceMs);
          if (put.length >= captured.length) return;
          await yieldToLoop();
        }
      },
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
