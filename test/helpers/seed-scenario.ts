// The seed article's failure story, sent by a real OpenTelemetry Node SDK through the OTLP gRPC
// exporter: feat_smart_recs_v1 with a control and a treatment cohort of more than 5,000 users
// each, over more than 4 hours of event time, the treatment's GET /dashboard 450 ms slower.

import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { Metadata } from '@grpc/grpc-js';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { mulberry32, normal } from './prng.js';

export interface SeedScenarioOptions {
  endpoint: string;
  usersPerCohort?: number;
  /** Event time of the first exposure (ms). */
  startMs: number;
  durationMs?: number;
  /** Added to the treatment's dashboard latency; 0 gives an A/A run. */
  treatmentExtraMs?: number;
  seed?: number;
  cohorts?: [string, string];
  /** Sent as the OTLP bearer token when set. */
  bearerToken?: string;
  /**
   * Retry a failed batch (1 s apart, up to 3 minutes) instead of dropping it, as the Collector's
   * sending queue does: for fault tests where the receiver or the broker goes away for a while.
   */
  retryUntilAcked?: boolean;
}

export interface ScenarioResult {
  spans: number;
  users: number;
  endMs: number;
  /** Batches sent again after a failure (retryUntilAcked only). */
  retries: number;
}

/** Wraps an exporter so a failed batch is tried again until it is acknowledged or time runs out. */
function retrying(inner: SpanExporter, counter: { retries: number }): SpanExporter {
  const attempt = (spans: ReadableSpan[], deadline: number, done: Parameters<SpanExporter['export']>[1]) =>
    inner.export(spans, (result) => {
      if (result.code === 0 || Date.now() > deadline) return done(result);
      counter.retries++;
      setTimeout(() => attempt(spans, deadline, done), 1000);
    });
  return {
    export: (spans, done) => attempt(spans, Date.now() + 180_000, done),
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

export async function sendSeedScenario(o: SeedScenarioOptions): Promise<ScenarioResult> {
  const usersPerCohort = o.usersPerCohort ?? 5200;
  const durationMs = o.durationMs ?? 4.5 * 3600_000;
  const extra = o.treatmentExtraMs ?? 450;
  const [control, treatment] = o.cohorts ?? ['control', 'treatment'];
  const rand = mulberry32(o.seed ?? 42);
  const counter = { retries: 0 };
  const metadata = new Metadata();
  if (o.bearerToken) metadata.set('authorization', `Bearer ${o.bearerToken}`);
  const otlp = new OTLPTraceExporter({ url: o.endpoint, timeoutMillis: 30_000, metadata });
  const exporter = o.retryUntilAcked ? retrying(otlp, counter) : otlp;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'dashboard-web' }),
    // A flush waits for re-sent batches too, not the default 30 s.
    ...(o.retryUntilAcked ? { forceFlushTimeoutMillis: 200_000 } : {}),
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        maxQueueSize: 200_000, maxExportBatchSize: 1000, scheduledDelayMillis: 100,
        ...(o.retryUntilAcked ? { exportTimeoutMillis: 200_000 } : {}),
      }),
    ],
  });
  const tracer = provider.getTracer('seed-scenario');
  let spans = 0;
  const users = usersPerCohort * 2;
  for (let i = 0; i < users; i++) {
    const cohort = i % 2 === 0 ? control : treatment;
    const userId = `user-${o.seed ?? 42}-${i}`;
    // Users arrive evenly over the run; each is exposed, loads the dashboard twice, sometimes clicks.
    const exposedAt = o.startMs + Math.floor((i / users) * durationMs);
    const exposure = tracer.startSpan('recs.render', {
      startTime: exposedAt,
      attributes: { 'feature_flag.key': 'feat_smart_recs_v1', 'feature_flag.result.variant': cohort, 'feature_flag.context.id': userId },
    });
    exposure.end(exposedAt + 5);
    spans++;
    for (let r = 0; r < 2; r++) {
      const at = exposedAt + 1000 + r * 60_000;
      const base = 110 * Math.exp(0.25 * normal(rand)); // control P95 ≈ 165 ms
      const ms = Math.round(base + (cohort === treatment ? extra : 0));
      // The dashboard request does not carry the flag: pmf-guard joins it to the user's cohort.
      const dash = tracer.startSpan('GET /dashboard', { startTime: at, attributes: { 'enduser.id': userId, 'http.route': '/dashboard' } });
      dash.end(at + ms);
      spans++;
    }
    if (rand() < 0.3) {
      const at = exposedAt + 120_000;
      const click = tracer.startSpan('recs.click', { startTime: at, attributes: { 'enduser.id': userId } });
      click.end(at + 3);
      spans++;
    }
    if (i % 2000 === 1999) await provider.forceFlush();
  }
  await provider.forceFlush();
  await provider.shutdown();
  return { spans, users, endMs: o.startMs + durationMs, retries: counter.retries };
}
