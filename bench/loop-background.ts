// Steady background traffic for the loop benchmark. In production the stages are never idle:
// every partition has new records at every flush, so a decisive span waits for each stage's
// periodic flush instead of being flushed at once by an idle partition. This sends activity
// spans (no guarded feature) at a fixed rate, at an event time the caller chooses so they never
// move a watermark past a gate. Bounded: it runs only between start() and stop().

import { setTimeout as delay } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { LoopTraffic } from './loop-spans.js';

const TICK_MS = 100;

export class BackgroundLoad {
  sent = 0;
  failedExports = 0;
  private stopped = false;
  private running?: Promise<void>;

  constructor(
    private readonly traffic: LoopTraffic,
    private readonly spansPerSecond: number,
    /** Event time for the spans of the next tick. */
    private readonly eventTime: () => number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    if (this.spansPerSecond <= 0 || this.running) return;
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async run(): Promise<void> {
    const perTick = Math.max(1, Math.round((this.spansPerSecond * TICK_MS) / 1000));
    while (!this.stopped) {
      const started = performance.now();
      try {
        await this.traffic.export(this.traffic.activity(perTick, this.eventTime()));
        this.sent += perTick;
      } catch (err) {
        this.failedExports++;
        this.onError(err);
      }
      await delay(Math.max(0, TICK_MS - (performance.now() - started)));
    }
  }
}
