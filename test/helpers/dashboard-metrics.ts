// The metric names the Grafana dashboard's queries use, read from its JSON.

import { readFileSync } from 'node:fs';

export function dashboardMetricNames(path = 'deploy/grafana/dashboards/pmf-guard.json'): string[] {
  const d = JSON.parse(readFileSync(path, 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
  const exprs = d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  return [...new Set(exprs.flatMap((e) => e.match(/\bpmf_[a-z0-9_]+/g) ?? []))].sort();
}

/** Family names in a Prometheus exposition (histogram series map back to their family). */
export function exposedFamilies(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].flatMap((m) => [m[1], `${m[1]}_bucket`, `${m[1]}_sum`, `${m[1]}_count`]));
}
