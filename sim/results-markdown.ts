// The README table of the simulation figures.

import type { DelaySummary } from './simulate.js';
import type { SuiteResult } from './suite.js';

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const hours = (d: DelaySummary) => `${pct(d.power)} detected; median ${d.medianHours ?? '–'} h, p90 ${d.p90Hours ?? '–'} h`;

export function resultsMarkdown(r: SuiteResult, seconds: number): string {
  const f = r.falseRollback;
  const d = r.detection;
  const rows = [
    ['Family false-rollback rate, every guard on its null boundary', `${pct(f.family.rate)} (α ${f.family.alpha}, bound ${pct(f.family.bound)})`],
    ...Object.entries(f.perGuard).map(([id, g]) => [`— guard \`${id}\``, `${pct(g.rate)} (α_g ${g.alpha.toFixed(4)}, bound ${pct(g.bound)})`]),
    ['Naive point-estimate rule, same harness', `${pct(f.naiveFamily)} false rollbacks`],
    ['False SRM alarms (balanced exposures)', `${pct(f.srmFalseAlarm.rate)} (α_srm ${f.srmFalseAlarm.alpha})`],
    ['Activation −5 pt (30 → 25 %), vs control', hours(d.activationMinus5pt)],
    ['Retention −3 pt (40 → 37 %), vs control', hours(d.retentionMinus3pt)],
    ['Latency +450 ms at P95 (1200 → 1650 ms, threshold 1500 ms)', hours(d.latencyPlus450ms)],
    ['— threshold guard (share > 1500 ms above 5 %)', hours(d.latencyPlus450msThresholdGuard)],
    ['— vs-control guard (LCB_T > 1.1 × UCB_C)', hours(d.latencyPlus450msVsControlGuard)],
    ['Latency +450 ms at P95 starting at hour 48 (delay from onset)', hours(d.latencyPlus450msFromHour48)],
    ['SRM: 5 % of treatment exposures lost', `${hours(d.srmTreatmentExposuresMinus5pct)}; verdict invalid in ${pct(d.srmTreatmentExposuresMinus5pct.suppressed)}`],
  ];
  return [
    '# Simulation results (`npm run sim`)',
    '',
    `Real \`SequentialEvaluator\`, evaluated at every one of ${r.ticks} ticks (14 days); 400 users/h split 50/50,`,
    '10 requests per user with intra-user correlation 0.05 of being slow; activation matures after 24 h, retention after 7 d;',
    `minCohortSize 1000, evaluation window 4 h, α = 0.05 split over ${Object.keys(f.perGuard).length} guards after α_srm = 0.001.`,
    `Delays are hours since the first exposure (they include the maturity windows). Seed ${r.seed}; ${r.nullRuns} null runs,`,
    `${r.effectRuns} runs per effect scenario; ${seconds.toFixed(1)} s.`,
    '',
    '| Scenario | Result |',
    '|---|---|',
    ...rows.map(([a, b]) => `| ${a} | ${b} |`),
    '',
  ].join('\n');
}
