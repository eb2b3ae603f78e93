// What the gRPC and HTTP listeners share: the bound port, an idempotent stop that concurrent
// callers share (safe before start), and request counting by signal and transport status.

import { systemClock, type Clock } from '../../core/clock.js';
import { PmfError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import type { ExportHandler } from '../export-handler.js';
import { ReceiverMetrics, type OtlpSignal } from '../receiver-metrics.js';

export abstract class OtlpListener<S> implements Component {
  abstract readonly name: string;
  protected server: S | undefined;
  protected boundPort: number | undefined;
  protected readonly clock: Clock;
  private stopping: Promise<void> | undefined;

  constructor(protected readonly handler: ExportHandler, clock: Clock | undefined, private readonly transport: string) {
    this.clock = clock ?? systemClock;
  }

  get metrics(): ReceiverMetrics {
    return this.handler.metrics;
  }

  /** The bound port; throws before start(). */
  get port(): number {
    if (this.boundPort === undefined) throw new PmfError('ERR_STOPPED', `OTLP ${this.transport} listener is not started`);
    return this.boundPort;
  }

  abstract start(): Promise<void>;

  /** Idempotent and safe before start(); concurrent callers share one shutdown. */
  stop(): Promise<void> {
    const server = this.server;
    if (server) {
      this.server = undefined;
      this.stopping = this.shutdown(server).then(() => {
        this.boundPort = undefined;
      });
    }
    return this.stopping ?? Promise.resolve();
  }

  /** Lets in-flight requests finish within the grace period, then closes. */
  protected abstract shutdown(server: S): Promise<void>;

  /** Counts an answered request as `${signal}:${status}` (gRPC status name or HTTP code). */
  protected count(signal: OtlpSignal | undefined, status: string | number): void {
    ReceiverMetrics.add(this.metrics.requests, `${signal ?? 'unknown'}:${status}`);
  }
}
