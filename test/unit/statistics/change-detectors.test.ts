import { describe, expect, it } from 'vitest';
import { Rule } from '../../../src/rules/schema.js';
import type { MergedCohortStats } from '../../../src/verdict/cohort-evaluator.js';
import { alarmLine, detectorName } from '../../../src/verdict/statistics/alarm-lines.js';
import { alphaBudget, guardsOf } from '../../../src/verdict/statistics/alpha-budget.js';
import { newChangeMemory, PRODUCT_LIMIT_SHARE, stepChangeDetectors, type ChangeMemory } from '../../../src/verdict/statistics/change-detectors.js';
import { Random } from '../../../sim/random.js';

const HOUR = 3_600_000;
const rule = Rule.parse({
  featureId: 'f',
  activationThreshold: 0.2,
  retentionThreshold: 0.3,
  latencyP95Threshold: 1500,
  minCohortSize: 100,
  evaluationWindowSeconds: 3600,
  activation: { action: { spanName: 'click' }, earlySeconds: 8 * 3600 },
  cohorts: { control: 'control', guarded: ['treatment'] },
  guardrails: { maxActivationDrop: 0, maxP95Increase: 0.1 },
});
const budget = alphaBudget(rule, 1);

/** Cumulative counts of one arm; requests of 10 per user, the slow ones counted per user. */
class Arm {
  exposed = 0;
  activation = { matured: 0, successes: 0 };
  latency = { count: 0, slow: 0, users: 0, sumN2: 0, sumSlow2: 0, sumNSlow: 0 };
  above = 0;
  constructor(readonly name: string, private readonly random: Random) {}

  step(users: number, activationRate: number, slowShare: number): void {
    this.exposed += users;
    this.activation.matured += users;
    this.activation.successes += this.random.binomial(users, activationRate);
    for (let u = 0; u < users; u++) {
      const slow = this.random.binomial(10, slowShare);
      const l = this.latency;
      l.users++;
      l.count += 10;
      l.slow += slow;
      l.sumN2 += 100;
      l.sumSlow2 += slow * slow;
      l.sumNSlow += 10 * slow;
    }
  }

  stats(): MergedCohortStats {
    const slowCount = this.latency.slow;
    return {
      cohort: this.name,
      exposed: this.exposed,
      firstExposureAt: 0,
      activation: { ...this.activation },
      retention: { matured: 0, successes: 0 },
      // A two-point latency model: slow requests above every cut used here, the rest below.
      latency: { ...this.latency, p95: 1200, valueAtPercentile: () => 1200, countAbove: () => slowCount },
      cohortSwitches: 0,
    };
  }
}

function run(steps: number, each: (step: number, t: Arm, c: Arm) => void, seed = 1) {
  const random = new Random(seed);
  const t = new Arm('treatment', random);
  const c = new Arm('control', random);
  const memory: ChangeMemory = newChangeMemory();
  let last: ReturnType<typeof stepChangeDetectors> = [];
  for (let s = 1; s <= steps; s++) {
    each(s, t, c);
    last = stepChangeDetectors({ rule, cohort: t.stats(), control: c.stats(), at: s * HOUR, specs: guardsOf(rule), alphaByGuard: budget.byGuard, memory });
  }
  return { memory, last };
}

describe('change detectors over cumulative counts', () => {
  it('catch a late onset and date it to the step it began', () => {
    const { memory, last } = run(60, (s, t, c) => {
      t.step(200, 0.3, s < 48 ? 0.03 : 0.09);
      c.step(200, 0.3, 0.03);
    });
    const latency = last.find((d) => d.id === 'latencyP95')!;
    expect(latency.alarm).toBe(true);
    expect(memory.alarms.latencyP95).toBeGreaterThanOrEqual(48 * HOUR);
    expect(memory.alarms.latencyP95).toBeLessThanOrEqual(52 * HOUR);
    expect(latency.since).toBeGreaterThanOrEqual(46 * HOUR);
    expect(latency.since).toBeLessThanOrEqual(48 * HOUR);
    expect(latency.sums[1] / latency.sums[0]).toBeGreaterThan(0.07);
    expect(memory.alarms.activation).toBeUndefined();
  });

  it('are not fooled by a ramp of the allocation while both arms drift alike', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const { memory } = run(200, (s, t, c) => {
        const rate = 0.3 + 0.1 * Math.sin(s / 10); // both arms, hour by hour
        const share = s < 48 ? 0.1 : 0.5;
        t.step(Math.round(400 * share), rate, 0.03);
        c.step(Math.round(400 * (1 - share)), rate, 0.03);
      }, seed);
      expect(memory.alarms['activation-vs-control'], `seed ${seed}`).toBeUndefined();
    }
  });

  it('skip a step whose counts went backwards (a reset source) and re-base on the new counts', () => {
    const random = new Random(2);
    const t = new Arm('treatment', random);
    t.step(500, 0.3, 0.03);
    const memory = newChangeMemory();
    const specs = guardsOf(rule).filter((g) => g.comparison === 'threshold');
    stepChangeDetectors({ rule, cohort: t.stats(), at: HOUR, specs, alphaByGuard: budget.byGuard, memory });
    const before = JSON.stringify(memory.detectors);
    const reset = { ...t.stats(), activation: { matured: 10, successes: 0 } };
    stepChangeDetectors({ rule, cohort: reset, at: 2 * HOUR, specs, alphaByGuard: budget.byGuard, memory });
    const after = JSON.parse(JSON.stringify(memory.detectors));
    // No evidence from the reset step (only the start weight moved the Shiryaev–Roberts sums).
    expect(after.activation.b).toEqual(JSON.parse(before).activation.b);
    expect(memory.cohort?.[0]).toBe(10);
  });

  it('judge a control first seen late only from the next step on', () => {
    const random = new Random(3);
    const t = new Arm('treatment', random);
    const c = new Arm('control', random);
    const memory = newChangeMemory();
    t.step(500, 0.1, 0.03);
    stepChangeDetectors({ rule, cohort: t.stats(), at: HOUR, specs: guardsOf(rule), alphaByGuard: budget.byGuard, memory });
    c.step(5000, 0.3, 0.03);
    t.step(500, 0.1, 0.03);
    const out = stepChangeDetectors({ rule, cohort: t.stats(), control: c.stats(), at: 2 * HOUR, specs: guardsOf(rule), alphaByGuard: budget.byGuard, memory });
    expect(out.find((d) => d.id === 'activation-vs-control')!.sums).toEqual([0, 0, 0, 0]);
    expect(memory.control?.[0]).toBe(5000);
  });

  describe('product-limit test (activation.early with maturedSuccesses)', () => {
    /**
     * 200 users per arm and step (hour); the landmark at 8 h, the window at 24 h. Each arm
     * activates within the window at rate p, a share g of its activators by the landmark.
     */
    function run(steps: number, t: { p: number; g: number }, c: { p: number; g: number }, options: { matured?: boolean; judged?: Rule } = {}) {
      const random = new Random(11);
      const memory = newChangeMemory();
      const arms = [t, c].map((truth) => ({ truth, earlyBy: [] as number[], reached: 0, early: 0, matured: 0, successes: 0, maturedEarly: 0 }));
      let last: ReturnType<typeof stepChangeDetectors> = [];
      for (let s = 1; s <= steps; s++) {
        for (const a of arms) {
          if (s > 8) {
            const k = random.binomial(200, a.truth.p * a.truth.g);
            a.earlyBy[s - 8] = k;
            a.reached += 200;
            a.early += k;
          }
          if (s > 24) {
            const k = a.earlyBy[s - 24];
            a.matured += 200;
            a.maturedEarly += k;
            a.successes += k + random.binomial(200 - k, (a.truth.p * (1 - a.truth.g)) / (1 - a.truth.p * a.truth.g));
          }
        }
        const stats = (name: string, a: (typeof arms)[number]): MergedCohortStats => ({
          cohort: name, exposed: 200 * s, firstExposureAt: 0,
          activation: {
            matured: a.matured, successes: a.successes,
            early: { afterMs: 8 * HOUR, reached: a.reached, successes: a.early, ...(options.matured === false ? {} : { maturedSuccesses: a.maturedEarly }) },
          },
          retention: { matured: 0, successes: 0 },
          latency: { count: 0, slow: 0, users: 0, sumN2: 0, sumSlow2: 0, sumNSlow: 0, p95: null, valueAtPercentile: () => null, countAbove: () => 0 },
          cohortSwitches: 0,
        });
        last = stepChangeDetectors({
          rule: options.judged ?? rule, cohort: stats('treatment', arms[0]), control: stats('control', arms[1]), at: s * HOUR,
          specs: guardsOf(rule), alphaByGuard: budget.byGuard, memory,
        });
      }
      return { memory, guard: last.find((d) => d.id === 'activation-vs-control')! };
    }

    it('fires on a drop of the 24 h rate soon after the first users mature, at its share of α_g', () => {
      const { memory, guard } = run(26, { p: 0.2, g: 0.75 }, { p: 0.3, g: 0.75 });
      expect(guard.alarm).toBe(true);
      expect(guard.productLimit?.afterMs).toBe(8 * HOUR);
      expect(guard.logThreshold).toBeCloseTo(Math.log(1 / (budget.byGuard['activation-vs-control'] * PRODUCT_LIMIT_SHARE)), 12);
      expect(memory.alarms['activation-vs-control']).toBeLessThanOrEqual(26 * HOUR);
      expect(memory.early).toEqual({ afterMs: 8 * HOUR });
      expect(detectorName(guard)).toBe('activation-product-limit-vs-control');
      expect(alarmLine(guard, rule)).toMatch(/^activation within 24 h 1\d\.\d % vs control [23]\d\.\d % \(product-limit estimate with young users past 8 h; allowed drop/);
    });

    it('stays quiet when the treatment only delays activation (fewer by the landmark, the same within the window)', () => {
      const { memory, guard } = run(120, { p: 0.3, g: 0.4 }, { p: 0.3, g: 0.75 });
      expect(guard.alarm).toBe(false);
      expect(memory.alarms['activation-vs-control']).toBeUndefined();
      // The early shares alone would have told them apart: 12 % vs 22.5 % activated by the landmark.
      expect(memory.productLimit!.used[1] / memory.productLimit!.used[0]).toBeLessThan(0.15);
    });

    it('ignores early counts at a landmark other than the rule\'s', () => {
      const other = Rule.parse({ ...rule, activation: { action: { spanName: 'click' }, earlySeconds: 6 * 3600 } });
      const { memory, guard } = run(30, { p: 0.2, g: 0.75 }, { p: 0.3, g: 0.75 }, { judged: other });
      expect(memory.early).toBe(false);
      expect(guard.productLimit).toBeNull();
    });

    it('gives the matured detector the whole α_g when the first snapshot has no matured early successes', () => {
      const { memory, guard } = run(30, { p: 0.2, g: 0.75 }, { p: 0.3, g: 0.75 }, { matured: false });
      expect(memory.early).toBe(false);
      expect(memory.productLimit).toBeNull();
      expect(guard.productLimit).toBeNull();
      expect(guard.logThreshold).toBeCloseTo(Math.log(1 / budget.byGuard['activation-vs-control']), 12);
    });
  });
});
