// `pmf-guard rules check FILE`: validate a rules file and say, per feature, what would be guarded
// and how, in words a reviewer can check against intent before the file is deployed.

import type { Rule, RuleSet } from '../rules/schema.js';

const dur = (s: number) => (s % 86_400 === 0 ? `${s / 86_400} d` : s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} min` : `${s} s`);

export function describeRule(r: Rule): string[] {
  const cohorts = r.cohorts.guarded ? r.cohorts.guarded.join(', ') : 'every cohort seen except the control';
  const lines = [
    `${r.featureId} (${r.mode === 'enforce' ? 'enforce: failing cohorts are rolled back' : 'dry-run: verdicts only, no rollback'})`,
    `  guarded cohorts: ${cohorts}${r.cohorts.control ? `; control: ${r.cohorts.control}` : '; no control (absolute thresholds)'}`,
    `  activation ≥ ${r.activationThreshold} within ${dur(r.activation.windowSeconds)} of exposure` +
      (r.activation.action ? ` (action: ${[r.activation.action.spanName && `span "${r.activation.action.spanName}"`, r.activation.action.attribute && `${r.activation.action.attribute.key}=${r.activation.action.attribute.value}`].filter(Boolean).join(' and ')})` : ' (any span of the feature)'),
    `  retention ≥ ${r.retentionThreshold}: returns after ${dur(r.retention.returnAfterSeconds)}, within ${dur(r.retention.windowSeconds)}`,
    `  latency P95 ≤ ${r.latencyP95Threshold} ms${r.latency.spanName ? ` on span "${r.latency.spanName}"` : ''}`,
  ];
  const g = r.guardrails;
  if (g.maxActivationDrop !== undefined || g.maxRetentionDrop !== undefined || g.maxP95Increase !== undefined) {
    lines.push(`  versus control: activation drop ≤ ${g.maxActivationDrop ?? '–'}, retention drop ≤ ${g.maxRetentionDrop ?? '–'}, P95 increase ≤ ${g.maxP95Increase ?? '–'}`);
  }
  lines.push(
    `  decided after ≥ ${r.minCohortSize} users per cohort and ${dur(r.evaluationWindowSeconds)} of event time, always-valid at alpha ${r.alpha}; inconclusive (held for a person) after ${dur(r.maxDurationSeconds)}`,
    `  sample ratio mismatch: ${r.onSrm === 'rollback' ? 'rolls the cohort back' : 'freezes the verdict'}; cooldown between commands ${dur(r.cooldownSeconds)}`,
  );
  if (r.notify) lines.push(`  webhooks: ${r.notify.webhooks.map((w) => `${new URL(w.url).origin} (${w.format}${w.events ? `: ${w.events.join(', ')}` : ''})`).join('; ')}`);
  return lines;
}

export function describeRules(rules: RuleSet, file: string): string {
  return [`${file}: valid, version ${rules.version}, ${rules.rules.length} feature(s)`, '', ...rules.rules.flatMap((r) => [...describeRule(r), ''])].join('\n').trimEnd();
}
