// The loop benchmark's traffic, made by the real OpenTelemetry SDK and sent through the real OTLP
// gRPC exporter. Spans are built first and exported later with explicit export() calls, so the
// measured call carries exactly one span and nothing of the span's construction.

import { BasicTracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Tracer } from '@opentelemetry/api';
import { mulberry32 } from '../test/helpers/prng.js';

export const DASHBOARD_SPAN = 'GET /dashboard';
const MINUTE = 60_000;
/** Data of one feature covers this much event time: one minute short of the evaluation window. */
export const DATA_SPAN_MS = 59 * MINUTE;

export interface FeatureTraffic {
  feature: string;
  /** Event time of the first exposure. */
  startMs: number;
  usersPerCohort: number;
  treatmentExtraMs: number;
  seed: number;
}

/** Keeps every ended span instead of exporting it, so the caller decides when and how it is sent. */
export class CollectingProcessor implements SpanProcessor {
  spans: ReadableSpan[] = [];
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    this.spans.push(span);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
  take(): ReadableSpan[] {
    const out = this.spans;
    this.spans = [];
    return out;
  }
}

function normal(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export class LoopTraffic {
  private readonly collector = new CollectingProcessor();
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly exporter: OTLPTraceExporter;
  private activitySeq = 0;

  constructor(endpoint: string) {
    this.provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'dashboard-web' }), spanProcessors: [this.collector] });
    this.tracer = this.provider.getTracer('bench-loop');
    this.exporter = new OTLPTraceExporter({ url: endpoint, timeoutMillis: 30_000 });
  }

  /**
   * The seed story compressed into DATA_SPAN_MS of event time: every user is exposed, loads the
   * dashboard twice (the treatment slower), and some click. Users arrive evenly, so the last
   * event lies about a minute past DATA_SPAN_MS and the watermark stays short of the window.
   */
  featureData(t: FeatureTraffic): ReadableSpan[] {
    const rand = mulberry32(t.seed);
    const users = t.usersPerCohort * 2;
    for (let i = 0; i < users; i++) {
      const cohort = i % 2 === 0 ? 'control' : 'treatment';
      const user = userId(t.feature, i);
      const exposedAt = exposureTime(t, i);
      this.tracer
        .startSpan('recs.render', {
          startTime: exposedAt,
          attributes: { 'feature_flag.key': t.feature, 'feature_flag.result.variant': cohort, 'feature_flag.context.id': user },
        })
        .end(exposedAt + 5);
      for (let r = 0; r < 2; r++) {
        const at = exposedAt + 1000 + r * MINUTE;
        const ms = Math.round(110 * Math.exp(0.25 * normal(rand)) + (cohort === 'treatment' ? t.treatmentExtraMs : 0));
        this.tracer.startSpan(DASHBOARD_SPAN, { startTime: at, attributes: { 'enduser.id': user, 'http.route': '/dashboard' } }).end(at + ms);
      }
      if (rand() < 0.3) {
        const at = exposedAt + 2 * MINUTE;
        this.tracer.startSpan('recs.click', { startTime: at, attributes: { 'enduser.id': user } }).end(at + 3);
      }
    }
    return this.collector.take();
  }

  /** One more dashboard load of user `i` of a feature, at event time `atMs`. */
  dashboardSpan(feature: string, i: number, atMs: number, durationMs: number): ReadableSpan {
    this.tracer.startSpan(DASHBOARD_SPAN, { startTime: atMs, attributes: { 'enduser.id': userId(feature, i), 'http.route': '/dashboard' } }).end(atMs + durationMs);
    const [span] = this.collector.take();
    return span;
  }

  /** `count` page loads of users who see no guarded feature: activity only, all at event time `atMs`. */
  activity(count: number, atMs: number): ReadableSpan[] {
    for (let i = 0; i < count; i++) {
      const user = `bg-user-${this.activitySeq++ % 5000}`;
      this.tracer.startSpan('GET /home', { startTime: atMs, attributes: { 'enduser.id': user, 'http.route': '/home' } }).end(atMs + 40);
    }
    return this.collector.take();
  }

  /** One export() call; resolves when the receiver answered OK (after its Kafka ack). */
  export(spans: ReadableSpan[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.exporter.export(spans, (result) => {
        // ExportResultCode.SUCCESS is 0.
        if (result.code === 0) resolve();
        else reject(result.error ?? new Error(`OTLP export failed with code ${result.code}`));
      });
    });
  }

  async exportAll(spans: ReadableSpan[], chunk = 1000): Promise<void> {
    for (let i = 0; i < spans.length; i += chunk) await this.export(spans.slice(i, i + chunk));
  }

  async shutdown(): Promise<void> {
    await this.exporter.shutdown();
    await this.provider.shutdown();
  }
}

/** Users arrive evenly over DATA_SPAN_MS; user 1 is the treatment's first exposure (the gate's start). */
export function exposureTime(t: Pick<FeatureTraffic, 'startMs' | 'usersPerCohort'>, i: number): number {
  return t.startMs + Math.floor((i / (t.usersPerCohort * 2)) * DATA_SPAN_MS);
}

/** User i of a feature; odd users are in the treatment. */
export function userId(feature: string, i: number): string {
  return `${feature}-user-${i}`;
}
