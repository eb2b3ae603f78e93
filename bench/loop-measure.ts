// What the loop benchmarks measure with: percentile summaries and the wall-clock time of the
// Redis change notice for a feature (the flag writer publishes one after each applied change).

import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';

export interface Summary { p50: number; p90: number; p99: number; max: number; mean: number }

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summarize(values: number[]): Summary {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return { p50: r(percentile(s, 50)), p90: r(percentile(s, 90)), p99: r(percentile(s, 99)), max: r(s[s.length - 1]), mean: r(s.reduce((a, b) => a + b, 0) / s.length) };
}

export const wallNow = () => performance.timeOrigin + performance.now();

/** Resolves with the wall time of the next change notice naming `feature`. */
export class NoticeWaiter {
  private readonly waiting = new Map<string, (wallMs: number) => void>();
  constructor(private readonly sub: Redis, channel: string) {
    sub.on('message', (ch: string, feature: string) => {
      const at = wallNow();
      if (ch !== channel) return;
      const resolve = this.waiting.get(feature);
      if (resolve) {
        this.waiting.delete(feature);
        resolve(at);
      }
    });
  }
  next(feature: string, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(feature);
        reject(new Error(`no change notice for ${feature} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(feature, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }
}
