// Drives a rollout end to end the way an application would: each step of event time, new users
// arrive, the application assigns each to a cohort, asks its flag reader (the real FlagClient on
// Redis, or GET /v1/flags in embedded mode) what to serve, records the evaluation on the active
// span, and sends spans through a real OpenTelemetry SDK exporter (OTLP gRPC). The served variant
// decides the latency, so a regression reaches pmf-guard only through the users a stage exposes.

import { Metadata } from '@grpc/grpc-js';
import { context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { FlagEvaluation } from '../../../src/client/flag-client.js';
import { mulberry32, normal } from '../prng.js';

export interface RampDriverOptions {
  /** OTLP gRPC endpoint of pmf-guard's receiver. */
  endpoint: string;
  /** Bearer token, when pmf-guard's listeners require one. */
  token?: string;
  feature: string;
  /** Event time of the first step (ms); steps follow each other without gaps. */
  startMs: number;
  stepMs: number;
  usersPerStep: number;
  /** Share of users the application assigns to the treatment (the rest to the control). */
  treatmentShare: number;
  seed: number;
  /** What to serve one user; must record the evaluation on the active span. */
  evaluate: (userId: string, cohort: string) => Promise<FlagEvaluation>;
  /** Extra dashboard latency for a user served this evaluation. */
  extraLatencyMs?: (e: FlagEvaluation) => number;
}

export interface StepResult {
  fromMs: number;
  toMs: number;
  served: Record<string, number>;
}

export class RampDriver {
  private readonly rand: () => number;
  private readonly provider: NodeTracerProvider;
  private next = 0;
  private user = 0;

  constructor(private readonly o: RampDriverOptions) {
    this.rand = mulberry32(o.seed);
    const metadata = new Metadata();
    if (o.token) metadata.set('authorization', `Bearer ${o.token}`);
    const exporter = new OTLPTraceExporter({ url: o.endpoint, timeoutMillis: 30_000, metadata });
    this.provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'dashboard-web' }),
      spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 100_000, maxExportBatchSize: 1000, scheduledDelayMillis: 50 })],
    });
    // The flag client records on the active span: registering installs the context manager for that.
    this.provider.register();
  }

  get nowMs(): number {
    return this.o.startMs + this.next * this.o.stepMs;
  }

  /** Sends one step of users and flushes the exporter. */
  async step(): Promise<StepResult> {
    const fromMs = this.nowMs;
    const tracer = this.provider.getTracer('ramp-driver');
    const served: Record<string, number> = {};
    for (let i = 0; i < this.o.usersPerStep; i++) {
      const userId = `ramp-${this.o.seed}-${this.user++}`;
      const assigned = this.rand() < this.o.treatmentShare ? 'treatment' : 'control';
      const exposedAt = fromMs + Math.floor((i / this.o.usersPerStep) * this.o.stepMs);
      const exposure = tracer.startSpan('recs.render', { startTime: exposedAt });
      const e = await context.with(trace.setSpan(context.active(), exposure), () => this.o.evaluate(userId, assigned));
      exposure.end(exposedAt + 5);
      served[e.cohort] = (served[e.cohort] ?? 0) + 1;
      const extra = this.o.extraLatencyMs?.(e) ?? 0;
      // Two dashboard loads a minute apart: the second is the return that retention counts.
      for (let r = 0; r < 2; r++) {
        const at = exposedAt + 1000 + r * 61_000;
        const ms = Math.round(110 * Math.exp(0.25 * normal(this.rand)) + extra);
        const dash = tracer.startSpan('GET /dashboard', { startTime: at, attributes: { 'enduser.id': userId } });
        dash.end(at + ms);
      }
    }
    await this.provider.forceFlush();
    this.next++;
    return { fromMs, toMs: this.nowMs, served };
  }

  async close(): Promise<void> {
    await this.provider.shutdown();
    trace.disable();
    context.disable();
  }
}
