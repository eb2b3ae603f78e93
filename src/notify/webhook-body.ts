// What a webhook says: one notification (an outcome change, a rollback, a hold) rendered as the
// generic JSON body or as a Slack-compatible message ({text, blocks}, which Slack's incoming webhooks,
// Mattermost and Rocket.Chat accept). Pure, so the bodies are unit-tested byte for byte.

import type { Outcome, Verdict } from '../events/verdict.js';

export type NotificationKind = 'outcome-changed' | 'rollback' | 'hold' | 'stage-changed';
export const NOTIFICATION_KINDS: readonly NotificationKind[] = ['outcome-changed', 'rollback', 'hold', 'stage-changed'];

export interface Notification {
  kind: NotificationKind;
  /** Stable across re-deliveries and re-evaluations of the same verdict: receivers dedupe on it. */
  idempotencyKey: string;
  feature: string;
  cohort: string;
  outcome: Outcome;
  previousOutcome: Outcome | null;
  reason: string;
  /** Event time of the verdict (ISO 8601). */
  evaluatedAt: string;
  verdictId: string;
  ruleVersion: string;
  metrics: Verdict['metrics'];
}

export type WebhookFormat = 'json' | 'slack';

const TITLES: Record<NotificationKind, string> = {
  'outcome-changed': 'verdict changed',
  rollback: 'rolled back',
  hold: 'held for a person',
  'stage-changed': 'rollout stage changed',
};

function fmt(v: number | null): string {
  return v === null ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(4);
}

export function renderBody(n: Notification, format: WebhookFormat): string {
  if (format === 'json') return JSON.stringify({ type: n.kind, ...n });
  const change = n.previousOutcome ? `${n.previousOutcome} → ${n.outcome}` : n.outcome;
  const text = `pmf-guard: ${n.feature}/${n.cohort} ${TITLES[n.kind]} (${change}): ${n.reason}`;
  const fields = (Object.entries(n.metrics) as [string, Verdict['metrics']['activation']][]).map(
    ([name, m]) => ({ type: 'mrkdwn', text: `*${name}* ${m.status}: ${fmt(m.estimate)} [${fmt(m.lower)}, ${fmt(m.upper)}] vs ${fmt(m.threshold)}, n=${m.n}` }),
  );
  return JSON.stringify({
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${n.feature}* / *${n.cohort}* ${TITLES[n.kind]} (${change})\n${n.reason}` } },
      { type: 'section', fields },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `event time ${n.evaluatedAt} · rules ${n.ruleVersion} · verdict ${n.verdictId}` }] },
    ],
  });
}

/** The notifications a newly published verdict (and the command it may carry) gives rise to. */
export function notificationsFor(v: Verdict, previous: Outcome | null, rolledBack: boolean): Notification[] {
  const base = {
    feature: v.feature, cohort: v.cohort, outcome: v.outcome, previousOutcome: previous, reason: v.reason,
    evaluatedAt: v.evaluatedAt, verdictId: v.verdictId, ruleVersion: v.ruleVersion, metrics: v.metrics,
  };
  const out: Notification[] = [];
  const changed = previous !== v.outcome;
  if (changed) out.push({ kind: 'outcome-changed', idempotencyKey: `outcome-changed:${v.verdictId}`, ...base });
  if (rolledBack) out.push({ kind: 'rollback', idempotencyKey: `rollback:${v.verdictId}`, ...base });
  // Inconclusive (undecided past maxDuration) and invalid (SRM freeze) both wait for a person.
  if (changed && (v.outcome === 'inconclusive' || (v.outcome === 'invalid' && !rolledBack))) {
    out.push({ kind: 'hold', idempotencyKey: `hold:${v.verdictId}`, ...base });
  }
  return out;
}
