import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../../src/events/latency-histogram.js';
import { Rule, type RuleInput } from '../../../src/rules/schema.js';
import type { EvaluationInput, EvaluatorMemory, MergedCohortStats } from '../../../src/verdict/cohort-evaluator.js';
import { detectorAlarms, failedGuards, SequentialEvaluator } from '../../../src/verdict/sequential-evaluator.js';

const HOUR = 3_600_000;

interface StatsSpec {
  cohort?: string;
  exposed?: number;
  activation?: [successes: number, matured: number];
  retention?: [successes: number, matured: number];
  /** users × perUser requests; latency of request j of user u. */
  latency?: { users: number; perUser: number; ms: (u: number, j: number) => number };
  threshold?: number;
}

/** MergedCohortStats exactly as the aggregator and merge would produce them. */
function stats(spec: StatsSpec): MergedCohortStats {
  const h = new LatencyHistogram();
  const l = { count: 0, slow: 0, users: 0, sumN2: 0, sumSlow2: 0, sumNSlow: 0 };
  const threshold = spec.threshold ?? 200;
  const lat = spec.latency ?? { users: 5000, perUser: 5, ms: (u: number, j: number) => 20 + ((u * 7 + j * 13) % 130) };
  for (let u = 0; u < lat.users; u++) {
    let slow = 0;
    for (let j = 0; j < lat.perUser; j++) {
      const v = lat.ms(u, j);
      h.record(v);
      if (v > threshold) slow++;
    }
    l.users++;
    l.count += lat.perUser;
    l.slow += slow;
    l.sumN2 += lat.perUser * lat.perUser;
    l.sumSlow2 += slow * slow;
    l.sumNSlow += lat.perUser * slow;
  }
  const [as, am] = spec.activation ?? [1500, 5000];
  const [rs, rm] = spec.retention ?? [3000, 5000];
  return {
    cohort: spec.cohort ?? 'treatment',
    exposed: spec.exposed ?? 20_000,
    firstExposureAt: 0,
    activation: { successes: as, matured: am },
    retention: { successes: rs, matured: rm },
    latency: {
      ...l,
      p95: h.count === 0 ? null : h.valueAtPercentile(95),
      valueAtPercentile: (p) => (h.count === 0 ? null : h.valueAtPercentile(p)),
      countAbove: (v) => h.countAbove(v),
    },
    cohortSwitches: 0,
  };
}

const seedRule: RuleInput = {
  featureId: 'feat_smart_recs_v1',
  activationThreshold: 0.15,
  retentionThreshold: 0.4,
  latencyP95Threshold: 200,
  minCohortSize: 5000,
  evaluationWindowSeconds: 14_400,
  activation: { action: { spanName: 'recs.click' } },
};

function input(rule: Rule, cohort: MergedCohortStats, extra: Partial<EvaluationInput> = {}): EvaluationInput {
  return {
    rule,
    ruleVersion: 'v1',
    cohort,
    exposures: { [cohort.cohort]: cohort.exposed },
    at: 48 * HOUR,
    memory: {},
    ...extra,
  };
}

const evaluator = new SequentialEvaluator();
const slowLatency = { users: 5000, perUser: 5, ms: (u: number, j: number) => 100 + ((u * 7 + j * 13) % 600) };

describe('SequentialEvaluator gates', () => {
  const rule = Rule.parse(seedRule);

  it('is pending below minCohortSize, with every metric pending', () => {
    const r = evaluator.evaluate(input(rule, stats({ exposed: 812, activation: [10, 500] })));
    expect(r.outcome).toBe('pending');
    expect(r.reason).toBe('pending: 812 of 5000 exposed users (minCohortSize)');
    expect(Object.values(r.metrics).map((m) => m.status)).toEqual(['pending', 'pending', 'pending']);
    expect(r.metrics.activation.n).toBe(500); // the evidence is still reported
  });

  it('is pending until evaluationWindowSeconds of event time since the first exposure', () => {
    const r = evaluator.evaluate(input(rule, stats({ activation: [10, 5000] }), { at: 3 * HOUR }));
    expect(r.outcome).toBe('pending');
    expect(r.reason).toMatch(/^pending: evaluation window open for 3600 s more/);
  });

  it('does not fail before the gates open, and fails at the first evaluation after', () => {
    const bad = stats({ activation: [490, 5000] });
    const early = evaluator.evaluate(input(rule, bad, { at: 1 * HOUR }));
    expect(early.outcome).toBe('pending');
    const later = evaluator.evaluate(input(rule, bad, { at: 5 * HOUR, memory: early.memory }));
    expect(later.outcome).toBe('fail');
  });
});

describe('SequentialEvaluator verdicts', () => {
  const rule = Rule.parse(seedRule);

  it('fails activation below threshold with the contract reason line', () => {
    const r = evaluator.evaluate(input(rule, stats({ activation: [490, 5000] })));
    expect(r.outcome).toBe('fail');
    expect(r.metrics.activation).toMatchObject({ n: 5000, threshold: 0.15, status: 'fail' });
    expect(r.metrics.activation.estimate).toBeCloseTo(0.098, 12);
    expect(r.metrics.activation.upper!).toBeLessThan(0.15);
    expect(r.metrics.activation.lower!).toBeLessThan(0.098);
    // The detector that fired, the data since the estimated onset (here: the first exposure), and
    // its evidence against 1/α_g (3 guards, no control: α_g = 0.049 / 3 → 1/α_g ≈ 61).
    expect(r.reason).toMatch(
      /^fail: activation 9\.8 % of 5000 users matured \(< threshold 15 %\) since about 1970-01-01T00:00Z \(activation-rate detector, e-value [\d.e+]+ ≥ 1\/α_g 61\)$/,
    );
    expect(failedGuards(r.memory)).toEqual(['activation']);
    expect(r.regressions).toEqual([
      { guard: 'activation', detector: 'activation-rate', since: '1970-01-01T00:00:00.000Z', detectedAt: new Date(48 * HOUR).toISOString() },
    ]);
  });

  it('fails latency when the share above the threshold is credibly over 5 %, with ms bounds', () => {
    const r = evaluator.evaluate(input(rule, stats({ latency: slowLatency })));
    expect(r.outcome).toBe('fail');
    const m = r.metrics.latencyP95;
    expect(m.status).toBe('fail');
    expect(m.n).toBe(25_000);
    expect(m.threshold).toBe(200);
    expect(m.estimate!).toBeGreaterThan(600);
    expect(m.lower!).toBeLessThanOrEqual(m.estimate!);
    expect(m.lower!).toBeGreaterThan(200);
    expect(m.upper!).toBeGreaterThanOrEqual(m.estimate!);
    expect(r.reason).toMatch(
      /^fail: latency P95 exceedance \d+(\.\d)? % of requests slower than 200 ms \(> 5 %\) since about 1970-01-01T00:00Z \(p95-exceedance detector, e-value [\d.e+]+ ≥ 1\/α_g 61\)$/,
    );
  });

  it('passes when every configured metric passes', () => {
    const r = evaluator.evaluate(input(rule, stats({})));
    expect(r.outcome).toBe('pass');
    expect(Object.values(r.metrics).map((m) => m.status)).toEqual(['pass', 'pass', 'pass']);
    expect(r.reason).toMatch(/^pass: activation 30 % \(always-valid 98\.3 % lower bound [\d.]+ %\) ≥ threshold 15 %; retention 60 %/);
  });

  it('reports an unconfigured metric as pending with n 0, and it does not block pass', () => {
    const noAction = Rule.parse({ ...seedRule, activation: undefined });
    const r = evaluator.evaluate(input(noAction, stats({})));
    expect(r.outcome).toBe('pass');
    expect(r.metrics.activation).toEqual({ n: 0, estimate: null, lower: null, upper: null, threshold: 0.15, status: 'pending' });
    expect(r.reason).toMatch(/activation not measured \(the rule has no activation action\)$/);
    // Two guards share the budget: 0.049 / 2 → 97.55 %, shown as 97.5 %.
    expect(r.reason).toMatch(/retention 60 % \(always-valid 97\.5 % lower bound/);
  });

  it('stays pending while a CS still straddles its threshold', () => {
    const r = evaluator.evaluate(input(rule, stats({ activation: [152, 1000] })));
    expect(r.outcome).toBe('pending');
    expect(r.metrics.activation.status).toBe('pending');
    expect(r.metrics.activation.lower!).toBeLessThan(0.15);
    expect(r.metrics.activation.upper!).toBeGreaterThan(0.15);
    expect(r.reason).toMatch(/^pending: undecided: activation 15\.2 % \(always-valid 98\.3 % CS [\d.]+ % – [\d.]+ %\) vs threshold 15 %$/);
  });

  it('is inconclusive past maxDurationSeconds, and never fails anew there', () => {
    const late = 14 * 24 * HOUR;
    const undecided = evaluator.evaluate(input(rule, stats({ activation: [152, 1000] }), { at: late }));
    expect(undecided.outcome).toBe('inconclusive');
    expect(undecided.metrics.activation.status).toBe('inconclusive');
    expect(undecided.reason).toMatch(/^inconclusive: undecided after 14 d \(maxDurationSeconds 1209600\), held for a person: activation/);
    const bad = evaluator.evaluate(input(rule, stats({ activation: [490, 5000] }), { at: late }));
    expect(bad.outcome).toBe('inconclusive');
    const small = evaluator.evaluate(input(rule, stats({ exposed: 812 }), { at: late }));
    expect(small.outcome).toBe('inconclusive');
    expect(small.reason).toBe(
      'inconclusive: after 14 d (maxDurationSeconds 1209600) still 812 of 5000 exposed users (minCohortSize), held for a person',
    );
  });
});

describe('SequentialEvaluator memory', () => {
  const rule = Rule.parse(seedRule);

  it('keeps a fail sticky when later data looks healthy', () => {
    const failed = evaluator.evaluate(input(rule, stats({ activation: [490, 5000] })));
    const later = evaluator.evaluate(input(rule, stats({ activation: [9000, 30_000] }), { at: 96 * HOUR, memory: failed.memory }));
    expect(later.outcome).toBe('fail');
    expect(later.metrics.activation.status).toBe('fail');
    expect(later.reason).toBe(failed.reason);
  });

  it('narrows monotonically: the running intersection never widens', () => {
    let memory: EvaluatorMemory = {};
    let upper = 1;
    let lower = 0;
    for (const [s, n] of [[160, 1000], [300, 2000], [500, 3000], [640, 4000]] as const) {
      const r = evaluator.evaluate(input(rule, stats({ activation: [s, n] }), { memory }));
      memory = r.memory;
      expect(r.metrics.activation.upper!).toBeLessThanOrEqual(upper);
      expect(r.metrics.activation.lower!).toBeGreaterThanOrEqual(lower);
      upper = r.metrics.activation.upper!;
      lower = r.metrics.activation.lower!;
    }
  });

  it('is deterministic and does not mutate the memory it is given', () => {
    const first = evaluator.evaluate(input(rule, stats({ activation: [152, 1000] })));
    const frozen = JSON.parse(JSON.stringify(first.memory));
    const a = evaluator.evaluate(input(rule, stats({ activation: [300, 2000] }), { memory: first.memory }));
    const b = evaluator.evaluate(input(rule, stats({ activation: [300, 2000] }), { memory: first.memory }));
    expect(JSON.parse(JSON.stringify(first.memory))).toEqual(frozen);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.parse(JSON.stringify(a.memory))).toEqual(a.memory); // JSON-serialisable
  });

  it('starts a new family when the rule statistics change, and ignores foreign memory', () => {
    const failed = evaluator.evaluate(input(rule, stats({ activation: [490, 5000] })));
    const relaxed = Rule.parse({ ...seedRule, activationThreshold: 0.05 });
    expect(evaluator.evaluate(input(relaxed, stats({ activation: [490, 5000] }), { memory: failed.memory })).outcome).toBe('pass');
    const gateOnly = Rule.parse({ ...seedRule, minCohortSize: 6000 });
    expect(evaluator.evaluate(input(gateOnly, stats({ activation: [490, 5000] }), { memory: failed.memory })).outcome).toBe('fail');
    expect(evaluator.evaluate(input(rule, stats({}), { memory: { fingerprint: 42, junk: true } })).outcome).toBe('pass');
  });
});

describe('SequentialEvaluator against a control', () => {
  const rule = Rule.parse({
    ...seedRule,
    cohorts: { control: 'control', guarded: ['treatment'] },
    guardrails: { maxActivationDrop: 0.02, maxP95Increase: 0.1 },
    onSrm: 'rollback',
  });
  const control = stats({ cohort: 'control', activation: [6000, 20_000] });

  it('fails an activation drop larger than maxActivationDrop', () => {
    const t = stats({ activation: [5000, 20_000] });
    const r = evaluator.evaluate(input(rule, t, { control, exposures: { treatment: 20_000, control: 20_000 } }));
    expect(r.outcome).toBe('fail');
    expect(r.metrics.activation.status).toBe('fail');
    expect(r.reason).toMatch(
      /^fail: activation 25 % vs control 30 % \(allowed drop 2 pts\) since about 1970-01-01T00:00Z \(activation-vs-control detector, e-value [\d.e+]+ ≥ 1\/α_g \d+\)$/,
    );
    expect(failedGuards(r.memory)).toEqual(['activation-vs-control']);
  });

  it('fails a P95 regression beyond 1.1 × the control from the second step (its cut is fixed before the data)', () => {
    const slower = (users: number) => stats({ latency: { users, perUser: 5, ms: (u, j) => 20 + ((u * 7 + j * 13) % 180) } });
    const base = (users: number) => stats({ cohort: 'control', activation: [6000, 20_000], latency: { users, perUser: 5, ms: (u, j) => 20 + ((u * 7 + j * 13) % 130) } });
    const exposures = { treatment: 20_000, control: 20_000 };
    const first = evaluator.evaluate(input(rule, slower(1000), { control: base(1000), exposures, at: 47 * HOUR }));
    expect(failedGuards(first.memory)).toEqual([]);
    const r = evaluator.evaluate(input(rule, slower(5000), { control: base(5000), exposures, memory: first.memory }));
    expect(r.metrics.latencyP95.status).toBe('fail');
    expect(failedGuards(r.memory)).toEqual(['latencyP95-vs-control']);
    expect(r.reason).toMatch(
      /^fail: latency P95 vs control: [\d.]+ % of requests slower than 1\.1 × control P95 \(\d+ ms\) vs [\d.]+ % of control requests slower than \d+ ms since about 1970-01-02T23:00Z \(p95-vs-control detector, e-value [\d.e+]+ ≥ 1\/α_g \d+\)$/,
    );
  });

  it('cannot pass without control data for its vs-control guards', () => {
    const r = evaluator.evaluate(input(rule, stats({}), { exposures: { treatment: 20_000, control: 20_000 } }));
    expect(r.outcome).toBe('pending');
    expect(r.reason).toMatch(/no matured users in both cohorts yet/);
  });

  it('is invalid on a sample ratio mismatch: comparisons with the control are not judged, and names onSrm', () => {
    const t = stats({ activation: [5000, 20_000] }); // fails vs control, but the comparison cannot be trusted
    const r = evaluator.evaluate(input(rule, t, { control, exposures: { treatment: 9_000, control: 11_000 } }));
    expect(r.outcome).toBe('invalid');
    expect(r.srm.status).toBe('mismatch');
    expect(r.srm.counts).toEqual({ control: 11_000, treatment: 9_000 });
    expect(r.srm.pValue!).toBeLessThan(0.001);
    expect(r.srm.suppressed).toEqual(['activation-vs-control', 'latencyP95-vs-control']);
    expect(Object.values(r.metrics).map((m) => m.status)).toEqual(['pending', 'pending', 'pending']);
    expect(r.reason).toMatch(
      /^invalid: sample ratio mismatch \(always-valid p [\d.e-]+ ≤ 0\.001; exposures control 11000, treatment 9000; expected 50 % \/ 50 %\); comparisons with the control not judged \(activation-vs-control, latencyP95-vs-control\), the cohort's own thresholds still are; onSrm: rollback$/,
    );
    expect(failedGuards(r.memory)).toEqual([]);
    expect(Object.keys(detectorAlarms(r.memory))).toContain('activation-vs-control'); // fired, not counted
  });

  it('still fails a cohort that breaks its own threshold under a sample ratio mismatch, and says so', () => {
    const freeze = Rule.parse({ ...seedRule, cohorts: { control: 'control', guarded: ['treatment'] }, guardrails: { maxActivationDrop: 0.02 }, onSrm: 'freeze' });
    const t = stats({ latency: slowLatency });
    const r = evaluator.evaluate(input(freeze, t, { control, exposures: { treatment: 9_000, control: 11_000 } }));
    expect(r.srm.status).toBe('mismatch');
    expect(r.outcome).toBe('fail');
    expect(r.metrics.latencyP95.status).toBe('fail');
    expect(failedGuards(r.memory)).toEqual(['latencyP95']);
    expect(r.reason).toMatch(/^fail: latency P95 exceedance .* since about .*; sample ratio mismatch \(.*\): comparisons with the control not judged, the cohort's own thresholds still are$/);
    expect(r.regressions?.map((x) => x.detector)).toEqual(['p95-exceedance']);
  });

  it('reports SRM ok on balanced exposures, and not-applicable with a single cohort', () => {
    const r = evaluator.evaluate(input(rule, stats({ activation: [6000, 20_000] }), { control, exposures: { treatment: 20_000, control: 20_050 } }));
    expect(r.srm.status).toBe('ok');
    expect(r.outcome).toBe('pass');
    const single = evaluator.evaluate(input(Rule.parse(seedRule), stats({})));
    expect(single.srm).toEqual({ status: 'not-applicable', pValue: null, counts: { treatment: 20_000 } });
  });
});
