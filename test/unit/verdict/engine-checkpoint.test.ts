// Incremental checkpoints of the verdict engine: a save writes only the features changed since the
// last settled one, a save that did not land is written again, the rows restore the whole state
// (equal to the format-1 JSON of the same engine), a format-1 checkpoint is still read and its
// first incremental save writes every feature, and a damaged row is refused with a stable code.
// Rows built later (prepare, in slices) are those of the moment the checkpoint was taken, byte for
// byte, however the engine moved on meanwhile.

import { describe, expect, it } from 'vitest';
import type { FeaturePartial } from '../../../src/events/feature-partial.js';
import { parseRules } from '../../../src/rules/load.js';
import type { StatePart } from '../../../src/core/state-parts.js';
import { readEngineCheckpoint, stateFromRows, VerdictCheckpointer } from '../../../src/verdict/engine-checkpoint.js';
import { SequentialEvaluator } from '../../../src/verdict/sequential-evaluator.js';
import { VerdictEngine } from '../../../src/verdict/verdict-engine.js';
import { cohortPartial, HOUR, T0 } from './engine-fixture.js';

const FEATURES = ['a', 'b', 'c'];
const RULES = parseRules(JSON.stringify({
  version: 'r1',
  rules: FEATURES.map((featureId) => ({
    featureId, activationThreshold: 0.15, retentionThreshold: 0.4, latencyP95Threshold: 200, minCohortSize: 100, evaluationWindowSeconds: 3600,
    cohorts: { control: 'control', guarded: ['treatment'] }, mode: 'enforce',
  })),
}));
const options = () => ({ rules: RULES, evaluator: new SequentialEvaluator(), heartbeatMs: HOUR, partitions: 2 });

function snapshot(feature: string, partition: number, step: number, treatmentMs: number): FeaturePartial {
  const at = T0 + step * 60_000;
  const exposed = 50 * step;
  const cohorts = [cohortPartial({ cohort: 'control', exposed, latencyMs: 120, requests: 2 * exposed }), cohortPartial({ cohort: 'treatment', exposed, latencyMs: treatmentMs, requests: 2 * exposed })];
  return { feature, partition, offset: String(step), watermark: at, step: at, cohorts: cohorts.map((c) => ({ ...c, feature, partition, offset: String(step), watermark: at })) };
}

/** Every step of `features` on both partitions, the slow treatment in 'b' only. */
function feed(e: VerdictEngine, steps: number[], features = FEATURES) {
  const out = [];
  for (const s of steps) for (const f of features) for (const p of [0, 1]) out.push(e.apply(snapshot(f, p, s, f === 'b' ? 600 : 120)));
  return out;
}

/** The store's rows after saves: a row with the same part replaced. */
class Rows {
  head: Buffer = Buffer.alloc(0);
  private readonly byPart = new Map<number, StatePart>();
  save(cp: ReturnType<VerdictCheckpointer['take']>) {
    this.head = cp.head;
    for (const p of cp.changes.put) this.byPart.set(p.part, p);
    expect(cp.changes.drop).toEqual([]);
  }
  parts(): StatePart[] {
    return [...this.byPart.values()].sort((x, y) => x.part - y.part);
  }
}

describe('verdict engine checkpoints', () => {
  it('write only the features changed since the last save, and restore to the same state and verdicts', () => {
    const e = new VerdictEngine(options());
    const cp = new VerdictCheckpointer();
    const rows = new Rows();
    feed(e, [1, 2, 3]);
    const first = cp.take(e);
    expect(first.changes.put).toHaveLength(3);
    rows.save(first);
    first.settle(true);
    expect(cp.take(e).changes.put).toEqual([]);

    feed(e, [4, 5], ['b']);
    const second = cp.take(e);
    expect(second.changes.put.map((p) => p.part)).toEqual([first.changes.put[FEATURES.indexOf('b')].part]);
    rows.save(second);
    second.settle(true);

    const restored = stateFromRows(rows.head, rows.parts());
    expect(restored.state).toEqual(JSON.parse(e.serialize().toString()));
    const r = VerdictEngine.fromState(restored.state, options());
    // From here both see the same snapshots: same verdicts and commands, to the byte.
    const later = [6, 7, 8, 70, 71];
    expect(JSON.stringify(feed(r, later))).toBe(JSON.stringify(feed(e, later)));
    expect(feed(e, [72]).some((o) => o.commands.length > 0) || e.latest('b').some((v) => v.outcome === 'fail')).toBe(true);
  });

  it('writes a save that did not land again', () => {
    const e = new VerdictEngine(options());
    const cp = new VerdictCheckpointer();
    feed(e, [1], ['a', 'c']);
    const lost = cp.take(e);
    lost.settle(false);
    feed(e, [1], ['b']);
    const next = cp.take(e);
    expect(next.changes.put.map((p) => JSON.parse(p.data.toString()).feature).sort()).toEqual(['a', 'b', 'c']);
    // Each feature keeps its part: the rows replace, never duplicate.
    expect(new Set(next.changes.put.map((p) => p.part)).size).toBe(3);
  });

  it('reads a format-1 (whole JSON) checkpoint; the first incremental save then writes every feature', () => {
    const e = new VerdictEngine(options());
    feed(e, [1, 2, 70]);
    const whole = e.serialize();
    expect(readEngineCheckpoint(whole, [])).toEqual(JSON.parse(whole.toString()));
    const upgraded = VerdictEngine.restore(whole, options());
    const cp = new VerdictCheckpointer();
    const rows = new Rows();
    rows.save(cp.take(upgraded));
    expect(rows.parts()).toHaveLength(3);
    expect(readEngineCheckpoint(rows.head, rows.parts())).toEqual(JSON.parse(whole.toString()));
    // A restored checkpointer numbers new features after the stored ones.
    const again = new VerdictCheckpointer(stateFromRows(rows.head, rows.parts()).parts);
    const e2 = VerdictEngine.fromState(readEngineCheckpoint(rows.head, rows.parts()), options());
    feed(e2, [71], ['a']);
    expect(again.take(e2).changes.put.map((p) => p.part)).toEqual([rows.parts().find((p) => JSON.parse(p.data.toString()).feature === 'a')!.part]);
  });

  it('refuses a damaged row or head with ERR_STATE_CORRUPT', () => {
    const e = new VerdictEngine(options());
    feed(e, [1]);
    const rows = new Rows();
    rows.save(new VerdictCheckpointer().take(e));
    const parts = rows.parts();
    expect(() => stateFromRows(rows.head, [{ ...parts[0], data: Buffer.from('{"feat') }])).toThrow(expect.objectContaining({ code: 'ERR_STATE_CORRUPT' }));
    expect(() => stateFromRows(rows.head, [parts[0], parts[0]])).toThrow(expect.objectContaining({ code: 'ERR_STATE_CORRUPT' }));
    expect(() => stateFromRows(Buffer.from([0, 0x50, 0x56, 9]), parts)).toThrow(/unknown format 9/);
  });

  it('builds in slices the rows of the moment it was taken, while the engine moves on', async () => {
    const e = new VerdictEngine(options());
    const twin = new VerdictEngine(options());
    feed(e, [1, 2, 3, 70]);
    feed(twin, [1, 2, 3, 70]);
    const expected = new VerdictCheckpointer().take(twin);
    // One row per slice; between slices the runner keeps applying records: the rows must not see them.
    let yields = 0;
    const taken = new VerdictCheckpointer().take(e, async () => void feed(e, [72 + yields++]), 0);
    feed(e, [71]);
    await taken.prepare();
    expect(yields).toBe(2);
    expect(taken.head).toEqual(expected.head);
    expect(taken.changes.put.map((p) => p.data.toString())).toEqual(expected.changes.put.map((p) => p.data.toString()));
    expect(taken.changes.put.map((p) => p.part)).toEqual(expected.changes.put.map((p) => p.part));
    // The later steps did change the engine (the capture is not just the same state).
    expect(new VerdictCheckpointer().take(e).changes.put.map((p) => p.data.toString())).not.toEqual(expected.changes.put.map((p) => p.data.toString()));
  });
});
