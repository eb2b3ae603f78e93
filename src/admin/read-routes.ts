// The admin API's read views beyond single flags and verdicts: the feature list (GET /v1/flags),
// the status page (GET / and /status, HTML) and its JSON twin for the CLI (GET /v1/status), and
// the zombie-feature report (GET /v1/features/report?from=&to=). Mounted on the admin server like
// flag-routes.ts, behind the same auth as every other read.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.js';
import type { AuditEntry, FeatureFlags } from '../flags/flag-repository.js';
import type { Report } from '../report/feature-report.js';
import { pmfScore } from '../report/pmf-score.js';
import type { RuleSet } from '../rules/schema.js';
import type { VerdictHistory } from '../verdict/verdict-history.js';
import { renderStatusPage, type StatusFeature, type StatusPageData } from './status-page.js';

export interface FlagReader {
  listFeatures(): Promise<string[]>;
  getFlag(feature: string): Promise<FeatureFlags | null>;
  auditLog(feature: string, query: { limit?: number }): Promise<AuditEntry[]>;
}

export interface ReadRoutesOptions {
  rules(): RuleSet;
  clock: Clock;
  /** Present where the verdict stage runs. */
  history?: VerdictHistory;
  /** Present where the flag store is (flag-writer role). */
  flags?: FlagReader;
  /** The zombie-feature report over an event-time period. */
  report(period: { from?: number; to?: number }): Promise<Report>;
  /** Audit entries per feature on the page. */
  auditLimit?: number;
}

class BadRequest extends Error {}

function period(url: URL): { from?: number; to?: number } {
  const out: { from?: number; to?: number } = {};
  for (const k of ['from', 'to'] as const) {
    const raw = url.searchParams.get(k);
    if (raw === null) continue;
    const t = Date.parse(raw);
    if (Number.isNaN(t)) throw new BadRequest(`${k} must be an ISO 8601 time such as 2026-11-25T08:00:00Z; got "${raw}"`);
    out[k] = t;
  }
  if (out.from !== undefined && out.to !== undefined && out.from >= out.to) throw new BadRequest('from must be before to');
  return out;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function readRoutes(o: ReadRoutesOptions) {
  const featureNames = async (): Promise<string[]> => {
    const names = new Set(o.rules().rules.map((r) => r.featureId));
    for (const f of o.history?.features() ?? []) names.add(f);
    for (const f of (await o.flags?.listFeatures()) ?? []) names.add(f);
    return [...names].sort();
  };

  const statusData = async (withReport: boolean): Promise<StatusPageData> => {
    const rules = o.rules();
    const features: StatusFeature[] = await Promise.all(
      (await featureNames()).map(async (feature) => ({
        feature,
        ruled: rules.byFeature.has(feature),
        cohorts: o.history?.list(feature) ?? [],
        flags: (await o.flags?.getFlag(feature)) ?? null,
        audit: (await o.flags?.auditLog(feature, { limit: o.auditLimit ?? 20 })) ?? [],
      })),
    );
    const notes: string[] = [];
    if (!o.history) notes.push('This process runs no verdict stage: outcomes and charts are on the verdict role\'s admin port.');
    if (!o.flags) notes.push('This process has no flag store: flag states and the audit trail are on the flag-writer role\'s admin port.');
    return { generatedAt: new Date(o.clock.now()).toISOString(), ruleVersion: rules.version, features, notes, report: withReport ? await o.report({}) : undefined };
  };

  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const path = url.pathname;
    if (!['/', '/status', '/v1/status', '/v1/flags', '/v1/features/report'].includes(path)) return false;
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'ERR_METHOD', message: `use GET on ${path}` });
      return true;
    }
    try {
      if (path === '/v1/flags') {
        const rules = o.rules();
        const features = await Promise.all((await featureNames()).map(async (feature) => {
          const flags = await o.flags?.getFlag(feature);
          const rule = rules.byFeature.get(feature);
          return {
            feature,
            ruled: rule !== undefined,
            mode: rule?.mode ?? null,
            cohorts: flags ? Object.fromEntries(Object.entries(flags.cohorts).map(([c, f]) => [c, f.state])) : null,
            outcomes: o.history ? Object.fromEntries(o.history.list(feature).map((h) => [h.cohort, h.latest.outcome])) : null,
          };
        }));
        sendJson(res, 200, { features });
      } else if (path === '/v1/features/report') {
        sendJson(res, 200, await o.report(period(url)));
      } else if (path === '/v1/status') {
        const d = await statusData(false);
        sendJson(res, 200, {
          generatedAt: d.generatedAt,
          ruleVersion: d.ruleVersion,
          notes: d.notes,
          features: d.features.map((f) => ({
            feature: f.feature,
            ruled: f.ruled,
            cohorts: [...new Set([...f.cohorts.map((c) => c.cohort), ...Object.keys(f.flags?.cohorts ?? {})])].sort().map((cohort) => {
              const h = f.cohorts.find((c) => c.cohort === cohort);
              const flag = f.flags?.cohorts[cohort];
              return {
                cohort,
                outcome: h?.latest.outcome ?? null,
                pmfScore: h ? pmfScore(h.latest) : null,
                flag: flag?.state ?? null,
                evaluatedAt: h?.latest.evaluatedAt ?? null,
                lastChange: h ? { at: h.lastChange.evaluatedAt, reason: h.lastChange.reason } : flag ? { at: flag.updatedAt, reason: flag.reason } : null,
                metrics: h?.latest.metrics ?? null,
              };
            }),
            audit: f.audit.slice(0, 5).map((a) => ({ at: a.createdAt, cohort: a.cohort, action: a.action, toState: a.toState, source: a.source, reason: a.reason })),
          })),
        });
      } else {
        const html = renderStatusPage(await statusData(true));
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:" });
        res.end(html);
      }
    } catch (err) {
      if (!(err instanceof BadRequest)) throw err;
      sendJson(res, 400, { error: 'ERR_BAD_REQUEST', message: err.message });
    }
    return true;
  };
}
