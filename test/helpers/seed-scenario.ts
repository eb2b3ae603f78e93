// The seed article's failure story, sent by a real OpenTelemetry Node SDK through the OTLP gRPC
// exporter: feat_smart_recs_v1 with a control and a treatment cohort of more than 5,000 users
// each, over more than 4 hours of event time, the treatment's GET /dashboard 450 ms slower.

import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { Metadata } from '@grpc/grpc-js';
import { diag, DiagLogLevel } from '@opentelemetry/api';
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

/** Spans the receiver acknowledged (OTLP success), per cohort; retryUntilAcked only. */
export interface AckedSpans {
  /** Exposure spans (one per user). */
  exposures: Record<string, number>;
  /** GET /dashboard spans of the cohort's users. */
  requests: Record<string, number>;
  /** Spans a partial-success reply rejected (the exporter reports those as a warning, not per span). */
  rejected: number;
}

export interface ScenarioResult {
  spans: number;
  users: number;
  endMs: number;
  /** Batches sent again after a failure (retryUntilAcked only). */
  retries: number;
  acked: AckedSpans;
}

/**
 * Wraps an exporter so a failed batch is tried again until it is acknowledged or time runs out.
 * One batch at a time, in order, as a Collector queue with one consumer sends: a user's exposure
 * never reaches the receiver after the requests it explains, so nothing the receiver acknowledged
 * can go unjoined. Acknowledged batches are counted once, however often they were sent.
 */
function retrying(inner: SpanExporter, counter: { retries: number }, onAcked: (spans: ReadableSpan[]) => void): SpanExporter {
  let queue: Promise<void> = Promise.resolve();
  const attempt = (spans: ReadableSpan[], deadline: number, done: Parameters<SpanExporter['export']>[1]) =>
    inner.export(spans, (result) => {
      if (result.code === 0) onAcked(spans);
      if (result.code === 0 || Date.now() > deadline) return done(result);
      counter.retries++;
      setTimeout(() => attempt(spans, deadline, done), 1000);
    });
  return {
    export: (spans, done) => {
      queue = queue.then(
        () =>
          new Promise<void>((sent) =>
            attempt(spans, Date.now() + 180_000, (result) => {
              sent();
              done(result);
            }),
          ),
      );
    },
    shutdown: () => queue.then(() => inner.shutdown()),
    forceFlush: () => queue.then(() => inner.forceFlush?.() ?? Promise.resolve()),
  };
}

// The OTLP exporters report a partial success only as a diag warning with its JSON body.
function countPartialSuccess(acked: AckedSpans): () => void {
  const onWarn = (message: string, ...args: unknown[]) => {
    if (!message.includes('Partial Success')) return;
    const body = JSON.parse(String(args[0] ?? '{}')) as { rejectedSpans?: number | string };
    acked.rejected += Number(body.rejectedSpans ?? 0);
  };
  const noop = () => {};
  diag.setLogger({ error: noop, warn: onWarn, info: noop, debug: noop, verbose: noop }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  return () => diag.disable();
}

export async function sendSeedScenario(o: SeedScenarioOptions): Promise<ScenarioResult> {
  const usersPerCohort = o.usersPerCohort ?? 5200;
  const durationMs = o.durationMs ?? 4.5 * 3600_000;
  const extra = o.treatmentExtraMs ?? 450;
  const [control, treatment] = o.cohorts ?? ['control', 'treatment'];
  const rand = mulberry32(o.seed ?? 42);
  const counter = { retries: 0 };
  const acked: AckedSpans = { exposures: { [control]: 0, [treatment]: 0 }, requests: { [control]: 0, [treatment]: 0 }, rejected: 0 };
  const cohortOf = new Map<string, string>();
  const onAcked = (batch: ReadableSpan[]) => {
    for (const span of batch) {
      if (span.name === 'recs.render') acked.exposures[String(span.attributes['feature_flag.result.variant'])]++;
      else if (span.name === 'GET /dashboard') acked.requests[cohortOf.get(String(span.attributes['enduser.id']))!]++;
    }
  };
  const stopCounting = o.retryUntilAcked ? countPartialSuccess(acked) : () => {};
  const metadata = new Metadata();
  if (o.bearerToken) metadata.set('authorization', `Bearer ${o.bearerToken}`);
  const otlp = new OTLPTraceExporter({ url: o.endpoint, timeoutMillis: 30_000, metadata });
  const exporter = o.retryUntilAcked ? retrying(otlp, counter, onAcked) : otlp;
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
    cohortOf.set(userId, cohort);
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
  stopCounting();
  return { spans, users, endMs: o.startMs + durationMs, retries: counter.retries, acked };
}
