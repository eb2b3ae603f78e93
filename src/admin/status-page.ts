// The status page: server-rendered HTML with inline SVG and inline CSS, no script and nothing
// fetched, so it works offline and behind the admin auth like any other read. It shows every
// feature with its cohorts (outcome, PMF score, flag state, last change and its reason), per guard
// a chart of the estimate and its always-valid bounds against the threshold over event time, the
// zombie-feature report, and each feature's audit trail.

import type { AuditEntry, FeatureFlags } from '../flags/flag-repository.js';
import type { Report } from '../report/feature-report.js';
import { pmfScore } from '../report/pmf-score.js';
import { METRIC_NAMES, type CohortHistory } from '../verdict/verdict-history.js';
import { escapeHtml as e, guardChart } from './svg-chart.js';

export interface StatusFeature {
  feature: string;
  /** Whether a rule guards this feature. */
  ruled: boolean;
  cohorts: CohortHistory[];
  flags: FeatureFlags | null;
  audit: AuditEntry[];
}

export interface StatusPageData {
  generatedAt: string;
  ruleVersion: string;
  features: StatusFeature[];
  report?: Report;
  /** Shown when this role lacks a part (e.g. no verdict stage here). */
  notes: string[];
}

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#f7f8fa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}.meta{color:#5c6577;font-size:12px}
table{border-collapse:collapse;background:#fff;margin:6px 0}th,td{border:1px solid #d8dce3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
.outcome{font-weight:600;padding:1px 6px;border-radius:3px}.o-pass{background:#d8f3dc;color:#1b5e20}.o-fail{background:#fde0e0;color:#b71c1c}
.o-pending{background:#eef0f4;color:#37474f}.o-inconclusive{background:#fff3cd;color:#7a5b00}.o-invalid{background:#ede7f6;color:#4527a0}
.charts{display:flex;flex-wrap:wrap;gap:8px}.chart{background:#fff;border:1px solid #d8dce3}
.chart .axis{stroke:#9aa3b2;stroke-width:1}.chart .tick{font-size:10px;fill:#5c6577}.chart .band{fill:#90caf9;fill-opacity:.45;stroke:none}
.chart .estimate{fill:none;stroke:#1565c0;stroke-width:2}.chart .threshold{stroke:#c62828;stroke-width:1.5;stroke-dasharray:6 4}
.chart .threshold-label{fill:#c62828}.chart .metric-label{fill:#1d2330;font-size:11px;font-weight:600}.chart .fail-mark{fill:#c62828}.chart .empty{fill:#9aa3b2;font-size:12px}
.zombie{color:#b71c1c;font-weight:600}.note{background:#fff3cd;padding:6px 10px;border-radius:4px}
`;

function outcome(o: string | null | undefined): string {
  return o ? `<span class="outcome o-${e(o)}">${e(o)}</span>` : '–';
}

function n(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(digits);
}

function cohortRows(f: StatusFeature): string {
  if (f.cohorts.length === 0 && !f.flags) return '<p class="meta">no verdict yet</p>';
  const names = [...new Set([...f.cohorts.map((c) => c.cohort), ...Object.keys(f.flags?.cohorts ?? {})])].sort();
  const rows = names.map((name) => {
    const h = f.cohorts.find((c) => c.cohort === name);
    const flag = f.flags?.cohorts[name];
    const pin = flag?.pinnedUntil ? ` (pinned ${e(flag.pinnedState ?? '')} until ${e(flag.pinnedUntil)})` : '';
    return `<tr><td>${e(name)}</td><td>${outcome(h?.latest.outcome)}</td><td class="num">${n(h ? pmfScore(h.latest) : null)}</td>`
      + `<td>${flag ? `${e(flag.state)}${pin}` : '–'}</td><td>–</td>`
      + `<td>${h ? `${e(h.lastChange.evaluatedAt)}: ${e(h.lastChange.reason)}` : flag ? `${e(flag.updatedAt)}: ${e(flag.reason)}` : '–'}</td></tr>`;
  });
  return `<table><thead><tr><th>cohort</th><th>outcome</th><th>PMF score</th><th>flag</th><th>rollout stage</th><th>last change (event time): reason</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function charts(f: StatusFeature): string {
  return f.cohorts
    .map((h) => {
      const svgs = METRIC_NAMES.filter((m) => h.points.some((p) => p.metrics[m].estimate !== null || p.metrics[m].status !== 'pending'))
        .map((m) => guardChart(m, h.points, `${h.feature} / ${h.cohort}: ${m}`));
      if (svgs.length === 0) return '';
      return `<h3 id="${e(`chart-${h.feature}-${h.cohort}`)}">${e(h.cohort)} ${outcome(h.latest.outcome)} <span class="meta">${h.points.length} points, latest ${e(h.latest.evaluatedAt)}</span></h3><div class="charts">${svgs.join('')}</div>`;
    })
    .join('');
}

function audit(f: StatusFeature): string {
  if (f.audit.length === 0) return '';
  const rows = f.audit.map((a) => `<tr><td>${e(a.createdAt)}</td><td>${e(a.cohort)}</td><td>${e(a.action ?? '')}</td><td>${e(a.fromState ?? '–')} → ${e(a.toState)}</td><td>${e(a.source)}${a.actor ? ` (${e(a.actor)})` : ''}</td><td>${e(a.outcome)}</td><td>${e(a.reason)}</td></tr>`);
  return `<h3>audit trail</h3><table><thead><tr><th>at</th><th>cohort</th><th>action</th><th>state</th><th>source</th><th>result</th><th>reason</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function report(r: Report | undefined): string {
  if (!r) return '';
  const rows = r.features.map((f) => `<tr><td>${e(f.feature)}</td><td class="num">${f.exposedUsers}</td><td class="num">${f.requests}</td><td class="num">${n(f.spanSeconds, 1)}</td>`
    + `<td class="num">${f.activationRate === null ? '–' : `${(f.activationRate * 100).toFixed(1)} %`}</td><td>${outcome(f.outcome)}</td>`
    + `<td>${f.zombie ? '<span class="zombie">zombie</span>' : ''} <span class="meta">${e(f.zombieReason)}</span></td></tr>`);
  return `<h2>Zombie-feature report</h2><p class="meta">event time ${e(r.from ?? 'the first record kept')} to ${e(r.to ?? 'the latest')}; engagement floor ${(r.engagementFloor * 100).toFixed(1)} % activation</p>`
    + `<table><thead><tr><th>feature</th><th>exposed users</th><th>requests</th><th>span time (s)</th><th>activation</th><th>verdict</th><th>zombie</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export function renderStatusPage(d: StatusPageData): string {
  const features = d.features.map((f) => `<section><h2 id="${e(`feature-${f.feature}`)}">${e(f.feature)}${f.ruled ? '' : ' <span class="meta">(no rule)</span>'}</h2>${cohortRows(f)}${charts(f)}${audit(f)}</section>`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">`
    + `<link rel="icon" href="data:,"><title>pmf-guard status</title><style>${CSS}</style></head><body>`
    + `<h1>pmf-guard status</h1><p class="meta">generated ${e(d.generatedAt)} · rules ${e(d.ruleVersion)} · charts: estimate (line), always-valid bounds (band), threshold (dashed), first failing point (dot)</p>`
    + d.notes.map((x) => `<p class="note">${e(x)}</p>`).join('')
    + `<h2>Features</h2><ul>${d.features.map((f) => `<li><a href="#${e(`feature-${f.feature}`)}">${e(f.feature)}</a> ${outcome(worst(f))}</li>`).join('') || '<li>none yet</li>'}</ul>`
    + features.join('') + report(d.report) + '</body></html>';
}

function worst(f: StatusFeature): string | null {
  const order = ['pass', 'pending', 'inconclusive', 'invalid', 'fail'];
  return f.cohorts.map((c) => c.latest.outcome as string).reduce<string | null>((w, o) => (w === null || order.indexOf(o) > order.indexOf(w) ? o : w), null);
}
