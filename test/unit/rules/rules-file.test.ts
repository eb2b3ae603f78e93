import { describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { parseRules } from '../../../src/rules/load.js';

// The seed article's SMART_RECOMMENDATIONS_RULE, exactly its six fields and values.
const SEED_RULE = {
  featureId: 'feat_smart_recs_v1',
  activationThreshold: 0.15,
  retentionThreshold: 0.4,
  latencyP95Threshold: 200,
  minCohortSize: 5000,
  evaluationWindowSeconds: 14400,
};

function problems(text: string): string {
  try {
    parseRules(text, 'rules.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(PmfError);
    expect((err as PmfError).code).toBe('ERR_RULES_INVALID');
    return (err as Error).message;
  }
  throw new Error('expected the rules to be refused');
}

describe('rules file', () => {
  it('loads the seed rule as written, with defaults for every extension', () => {
    const set = parseRules(JSON.stringify({ rules: [SEED_RULE] }));
    const rule = set.byFeature.get('feat_smart_recs_v1')!;
    expect(rule).toMatchObject(SEED_RULE);
    expect(rule.activation.windowSeconds).toBe(86_400);
    expect(rule.retention).toEqual({ returnAfterSeconds: 86_400, windowSeconds: 604_800 });
    expect(rule.mode).toBe('enforce');
    expect(rule.alpha).toBe(0.05);
    expect(set.version).toMatch(/^sha256:[0-9a-f]{12}$/);
  });

  it('names the rules by content when no version is given, and by the version when one is', () => {
    const a = parseRules(JSON.stringify({ rules: [SEED_RULE] }));
    const b = parseRules(JSON.stringify({ rules: [{ ...SEED_RULE, minCohortSize: 6000 }] }));
    expect(a.version).not.toBe(b.version);
    expect(parseRules(JSON.stringify({ version: 'v7', rules: [SEED_RULE] })).version).toBe('v7');
  });

  it('reads the documented YAML example of a rules file', () => {
    const set = parseRules(`
rules:
  - featureId: feat_smart_recs_v1
    activationThreshold: 0.15
    retentionThreshold: 0.40
    latencyP95Threshold: 200
    minCohortSize: 5000
    evaluationWindowSeconds: 14400
    activation: { action: { spanName: recs.click }, windowSeconds: 86400 }
    retention: { returnAfterSeconds: 86400, windowSeconds: 604800 }
    latency: { spanName: "GET /dashboard" }
    cohorts: { control: control, guarded: [treatment] }
    guardrails: { maxActivationDrop: 0.02, maxP95Increase: 0.10 }
    alpha: 0.05
    mode: enforce
    cooldownSeconds: 3600
`);
    expect(set.rules[0].cohorts).toEqual({ control: 'control', guarded: ['treatment'] });
    expect(set.rules[0].latency.spanName).toBe('GET /dashboard');
  });

  it('lists every problem of an invalid file at once, each with its place', () => {
    const message = problems(`
rules:
  - featureId: a
    activationThreshold: 1.5
    retentionThreshold: 0.4
    latencyP95Threshold: -3
    minCohortSize: 5000
    evaluationWindowSeconds: 14400
    mode: yolo
    colour: blue
  - featureId: a
    activationThreshold: 0.1
    retentionThreshold: 0.4
    latencyP95Threshold: 200
    evaluationWindowSeconds: 14400
`);
    expect(message).toMatch(/rules\[0\]\.activationThreshold/);
    expect(message).toMatch(/rules\[0\]\.latencyP95Threshold/);
    expect(message).toMatch(/rules\[0\]\.mode/);
    expect(message).toMatch(/unknown key\(s\) "colour"/);
    expect(message).toMatch(/rules\[1\]\.minCohortSize/);
    expect(message).toMatch(/(\d+) problem\(s\)/);
    expect(Number(/(\d+) problem\(s\)/.exec(message)![1])).toBeGreaterThanOrEqual(5);
  });

  it('refuses a control cohort that is also guarded, and a rules file that is not YAML', () => {
    expect(problems(JSON.stringify({ rules: [{ ...SEED_RULE, cohorts: { control: 'c', guarded: ['c'] } }] }))).toMatch(/cannot also be guarded/);
    expect(problems('rules: [ {')).toMatch(/not valid YAML or JSON/);
    expect(problems('rules: []')).toMatch(/at least one rule/);
  });
});

describe('feature and cohort names', () => {
  const withRule = (extra: Record<string, unknown>) => JSON.stringify({ rules: [{ ...SEED_RULE, ...extra }] });

  it('accepts the usual shapes of flag keys and variants', () => {
    for (const featureId of ['feat_smart_recs_v1', 'checkout.v2', 'team:search-ranking', 'A'.repeat(128)]) {
      expect(parseRules(withRule({ featureId, cohorts: { control: 'off', guarded: ['on', 'variant-b'], map: { true: 'on' } } })).rules[0].featureId).toBe(featureId);
    }
  });

  it('refuses a featureId that would break the Redis hash tag, a key or a label, at load with the rule', () => {
    for (const featureId of ['', 'a{b}', 'has space', 'nul\u0000byte', 'slash/inside', '-leading', 'x'.repeat(129), 'é']) {
      expect(problems(withRule({ featureId })), JSON.stringify(featureId)).toMatch(/rules\[0\]\.featureId: featureId must be 1-128 letters, digits/);
    }
  });

  it('refuses cohort names that are not names, and the reserved Redis field "version", everywhere a cohort is named', () => {
    expect(problems(withRule({ cohorts: { guarded: ['version'] } }))).toMatch(/cohorts\.guarded\[0\]: a cohort cannot be named "version".*cohorts\.map/);
    expect(problems(withRule({ cohorts: { control: 'version' } }))).toMatch(/cohorts\.control: a cohort cannot be named "version"/);
    expect(problems(withRule({ cohorts: { map: { v2: 'version' } } }))).toMatch(/cohorts\.map\.v2: a cohort cannot be named "version"/);
    expect(problems(withRule({ cohorts: { guarded: ['{x}'] } }))).toMatch(/cohorts\.guarded\[0\]: a cohort name must be 1-128/);
    expect(problems(withRule({ cohorts: { expectedShares: { 'a b': 0.5 } } }))).toMatch(/cohorts\.expectedShares/);
  });
});
