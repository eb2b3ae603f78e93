// `pmf-guard status` and `pmf-guard report`: what the status page shows, and the zombie-feature
// report, printed as terminal tables (or the instance's JSON with --json). Rendering is pure so it is
// unit-tested; fetching goes through admin-client.ts.

import type { Report } from '../report/feature-report.js';
import { textTable } from './text-table.js';

export interface StatusJson {
  generatedAt: string;
  ruleVersion: string;
  notes: string[];
  features: {
    feature: string;
    ruled: boolean;
    cohorts: {
      cohort: string;
      outcome: string | null;
      pmfScore: number | null;
      flag: string | null;
      evaluatedAt: string | null;
      lastChange: { at: string; reason: string } | null;
      metrics: Record<string, { n: number; estimate: number | null; lower: number | null; upper: number | null; threshold: number; status: string }> | null;
    }[];
    audit: { at: string; cohort: string; action: string | null; toState: string; source: string; reason: string }[];
  }[];
}

const short = (x: number | null) => (x === null ? '–' : Number.isInteger(x) ? String(x) : x.toPrecision(3));

export function renderStatus(s: StatusJson): string {
  const out: string[] = [`pmf-guard status at ${s.generatedAt} (rules ${s.ruleVersion})`, ...s.notes.map((n) => `note: ${n}`)];
  if (s.features.length === 0) out.push('', 'no features yet');
  for (const f of s.features) {
    out.push('', `${f.feature}${f.ruled ? '' : ' (no rule)'}`);
    out.push(textTable(
      ['cohort', 'outcome', 'score', 'flag', 'guards (estimate [lower, upper] vs threshold, n)', 'last change'],
      f.cohorts.map((c) => [
        c.cohort,
        c.outcome,
        c.pmfScore,
        c.flag,
        c.metrics
          ? Object.entries(c.metrics).filter(([, m]) => m.estimate !== null).map(([k, m]) => `${k} ${m.status} ${short(m.estimate)} [${short(m.lower)}, ${short(m.upper)}] vs ${short(m.threshold)} n=${m.n}`).join('; ') || 'no estimate yet'
          : null,
        c.lastChange ? `${c.lastChange.at}: ${c.lastChange.reason}` : null,
      ]),
    ));
    for (const a of f.audit) out.push(`  audit ${a.at} ${a.cohort} ${a.action ?? ''} → ${a.toState} (${a.source}): ${a.reason}`);
  }
  return out.join('\n');
}

export function renderReport(r: Report): string {
  const pct = (x: number | null) => (x === null ? null : `${(x * 100).toFixed(1)} %`);
  const out = [
    `zombie-feature report, event time ${r.from ?? 'from the first record kept'} to ${r.to ?? 'the latest'}; engagement floor ${(r.engagementFloor * 100).toFixed(1)} % activation`,
    textTable(
      ['feature', 'cohort', 'exposed users', 'requests', 'span time (s)', 'activation', 'verdict', 'PMF score', 'zombie'],
      r.features.flatMap((f) => [
        [f.feature, '(all)', f.exposedUsers, f.requests, f.spanSeconds, pct(f.activationRate), f.outcome, null, f.zombie ? 'ZOMBIE' : ''],
        ...f.cohorts.map((c) => ['', c.cohort, c.exposedUsers, c.requests, c.spanSeconds, pct(c.activationRate), c.outcome, c.pmfScore, ''] as (string | number | null)[]),
      ]),
    ),
  ];
  const zombies = r.features.filter((f) => f.zombie);
  out.push('', zombies.length === 0 ? 'no zombie features' : zombies.map((f) => `${f.feature}: ${f.zombieReason}`).join('\n'));
  return out.join('\n');
}
