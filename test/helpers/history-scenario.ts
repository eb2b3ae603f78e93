// Several features' telemetry, sent by a real OpenTelemetry Node SDK through the OTLP gRPC
// exporter in a chosen arrival order: `live` (everything in event-time order), `backfill`
// (feature after feature, each user's spans together, as a replayed history or a flushed queue
// sends them), `outage` (in order, but feat_cart's service is cut off for 3 hours and its
// backlog arrives at once while the others keep sending) or `mobile` (feat_cart's service is a
// client offline for two days: the others and the live tail move two days on, then its spans
// arrive, then the tail continues). All end with the same live tail of pings, so every
// partition's watermark moves past the history and each feature is judged. The history comes
// from two services (feat_cart's is svc-edge), the tail from a third (separate origins).
// `skew` sets one service's clock ahead: its spans are sent in true-time order, stamped later.
//   feat_slow_recs: treatment's GET /dashboard 450 ms slower (fails on latency, rolled back);
//   feat_aa: an A/A feature (nothing fails);
//   feat_cart: healthy, a rule without explicit guarded cohorts (its flag rows come from the data).

import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { mulberry32, normal } from './prng.js';

/** Spans per export: each is flushed (and acknowledged) before the next is started. */
const FLUSH_EVERY = 500;

export const HISTORY_FEATURES = ['feat_slow_recs', 'feat_aa', 'feat_cart'] as const;
const EXTRA_MS: Record<string, number> = { feat_slow_recs: 450, feat_aa: 0, feat_cart: 0 };

interface PlannedSpan {
  service: string;
  name: string;
  start: number;
  durationMs: number;
  attributes: Record<string, string>;
}

export type ArrivalOrder = 'live' | 'backfill' | 'outage' | 'mobile';

/** The service whose users are feat_cart's: cut off in `outage`, offline in `mobile`. */
export const EDGE_SERVICE = 'svc-edge';
/** How long the `mobile` client stays offline. */
export const MOBILE_OFFLINE_MS = 2 * 24 * 3600_000;

export interface HistoryOptions {
  endpoint: string;
  order: ArrivalOrder;
  startMs: number;
  /** Event time covered by each feature's history (default 3 h). */
  durationMs?: number;
  usersPerCohort?: number;
  /** A service whose clock runs `ms` ahead: its spans' timestamps, not their arrival order, move. */
  skew?: { service: string; ms: number };
  /** Event time the closing tail of pings covers (default 30 min). */
  tailMs?: number;
  /** Runs once the first half of the history was sent and acknowledged, while every service still sends. */
  midway?: () => Promise<void>;
}

export interface HistoryResult {
  spans: number;
  /** Spans of EDGE_SERVICE (feat_cart's users). */
  edgeSpans: number;
  endMs: number;
}

function plan(o: HistoryOptions): PlannedSpan[][] {
  const duration = o.durationMs ?? 3 * 3600_000;
  const perCohort = o.usersPerCohort ?? 300;
  const users: PlannedSpan[][] = [];
  HISTORY_FEATURES.forEach((feature, f) => {
    const rand = mulberry32(100 + f);
    for (let i = 0; i < perCohort * 2; i++) {
      const cohort = i % 2 === 0 ? 'control' : 'treatment';
      const userId = `${feature}-user-${i}`;
      const at = o.startMs + Math.floor((i / (perCohort * 2)) * duration);
      const service = feature === 'feat_cart' ? EDGE_SERVICE : 'svc-history';
      const spans: PlannedSpan[] = [
        { service, name: 'render', start: at, durationMs: 5, attributes: { 'feature_flag.key': feature, 'feature_flag.result.variant': cohort, 'feature_flag.context.id': userId } },
      ];
      for (let r = 0; r < 2; r++) {
        const ms = Math.round(110 * Math.exp(0.25 * normal(rand)) + (cohort === 'treatment' ? EXTRA_MS[feature] : 0));
        spans.push({ service, name: 'GET /dashboard', start: at + 1000 + r * 60_000, durationMs: ms, attributes: { 'enduser.id': userId } });
      }
      if (rand() < 0.3) spans.push({ service, name: 'click', start: at + 120_000, durationMs: 3, attributes: { 'enduser.id': userId } });
      if (rand() < 0.5) spans.push({ service, name: 'home', start: at + 90 * 60_000, durationMs: 4, attributes: { 'enduser.id': userId } });
      users.push(spans);
    }
  });
  return users;
}

/** Pings from 60 users every `everyMs` (20 s) over `durationMs` (30 minutes) from startMs: every partition moves on. */
function tail(startMs: number, durationMs = 30 * 60_000, everyMs = 20_000): PlannedSpan[] {
  const out: PlannedSpan[] = [];
  for (let t = 0, k = 0; t < durationMs; t += everyMs, k++) {
    out.push({ service: 'svc-tail', name: 'ping', start: startMs + t, durationMs: 1, attributes: { 'enduser.id': `tail-user-${k % 60}` } });
  }
  return out;
}

export async function sendHistory(o: HistoryOptions): Promise<HistoryResult> {
  const users = plan(o);
  const endMs = Math.max(...users.flat().map((s) => s.start)) + 5 * 60_000;

  const ordered = o.order === 'backfill' ? users.flat() : users.flat().sort((a, b) => a.start - b.start);
  if (o.order === 'outage') {
    const from = o.startMs + 30 * 60_000;
    const to = from + 3 * 3600_000;
    const held = (s: PlannedSpan) => s.service === EDGE_SERVICE && s.start >= from && s.start < to;
    const backlog = ordered.filter(held);
    const rest = ordered.filter((s) => !held(s));
    const at = rest.findIndex((s) => s.start >= to);
    ordered.splice(0, ordered.length, ...rest.slice(0, at), ...backlog, ...rest.slice(at));
  }
  const tailMs = o.tailMs ?? 30 * 60_000;
  let closing = tail(endMs, tailMs);
  let tailEndMs = endMs + tailMs;
  if (o.order === 'mobile') {
    // The offline client's spans wait while the others and two days of pings (every 5 min) go on.
    const offline = ordered.filter((s) => s.service === EDGE_SERVICE);
    ordered.splice(0, ordered.length, ...ordered.filter((s) => s.service !== EDGE_SERVICE), ...tail(endMs, MOBILE_OFFLINE_MS, 5 * 60_000), ...offline);
    closing = tail(endMs + MOBILE_OFFLINE_MS, tailMs);
    tailEndMs = endMs + MOBILE_OFFLINE_MS + tailMs;
  }
  const stamp = (s: PlannedSpan) => (o.skew && s.service === o.skew.service ? { ...s, start: s.start + o.skew.ms } : s);
  const history = ordered.map(stamp);
  const edgeSpans = history.filter((s) => s.service === EDGE_SERVICE).length;
  const exporter = new OTLPTraceExporter({ url: o.endpoint, timeoutMillis: 30_000 });
  const providers = new Map<string, BasicTracerProvider>();
  const providerFor = (service: string) => {
    let p = providers.get(service);
    if (!p) {
      // One exporter for all services keeps the arrival order; each provider names its service.
      p = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service }),
        // The batch limit is above the flush size below: a processor that reaches its batch limit
        // exports on its own, concurrently with the next forceFlush, and the two requests can
        // arrive in either order (a whole batch of history behind the first two days of pings).
        spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 100_000, maxExportBatchSize: 2 * FLUSH_EVERY, scheduledDelayMillis: 60_000 })],
      });
      providers.set(service, p);
    }
    return p;
  };
  let previous: string | undefined;
  let pending = 0;
  const send = async (spans: PlannedSpan[]) => {
    for (const s of spans) {
      // One export at a time (a flush per batch, and at each change of service) keeps the arrival
      // order: the SDK would otherwise run exports concurrently and interleave them.
      if (previous !== undefined && (previous !== s.service || pending >= FLUSH_EVERY)) {
        await providers.get(previous)!.forceFlush();
        pending = 0;
      }
      previous = s.service;
      pending++;
      const span = providerFor(s.service).getTracer('history').startSpan(s.name, { startTime: s.start, attributes: s.attributes });
      span.end(s.start + s.durationMs);
    }
    for (const p of providers.values()) await p.forceFlush();
  };
  const half = Math.floor(history.length / 2);
  await send(history.slice(0, half));
  await o.midway?.();
  await send([...history.slice(half), ...closing]);
  for (const p of providers.values()) await p.shutdown();
  return { spans: history.length + closing.length, edgeSpans, endMs: tailEndMs };
}
