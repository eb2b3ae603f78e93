// What the loop bench's process was doing while a sample waited, when the stage times alone do not
// say why a sample was slow: every role runs in this one process, so a stage only makes progress
// when the event loop gets a turn. A 10 ms timer notices gaps in the loop (a stall: the tick came
// more than 20 ms late) and splits each with the main thread's scheduler counters
// (bench/thread-schedstat.ts) into on a CPU (our own work, GC included), waiting for a CPU (the
// machine is shared) and the rest (blocked); GC pauses come from the runtime. Nothing here runs on
// the loop's measured path except the timer's tick.

import { PerformanceObserver, performance } from 'node:perf_hooks';
import { schedstat } from './thread-schedstat.js';

const TICK_MS = 10;
/** A tick this much later than due counts as a stall. */
const STALL_MS = 20;

interface Span { startWallMs: number; ms: number }
interface Stall extends Span { onCpuMs: number; runQueueMs: number }
interface Gc extends Span { major: boolean }

/** Per window (one sample's export → Redis notice): stalled wall time, split, and GC pauses. */
export interface StallFigures {
  stallMs: number;
  /** Of stallMs: the main thread on a CPU, and runnable but waiting for one. */
  onCpuMs: number;
  runQueueMs: number;
  gcMs: number;
  /** Of gcMs, full mark-sweep-compact pauses. */
  majorGcMs: number;
}

export class StallWatch {
  private readonly stalls: Stall[] = [];
  private readonly gcs: Gc[] = [];
  private timer?: NodeJS.Timeout;
  private readonly observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      // kind 4 = NODE_PERFORMANCE_GC_MAJOR (mark-sweep-compact).
      this.gcs.push({ startWallMs: performance.timeOrigin + e.startTime, ms: e.duration, major: (e as { detail?: { kind?: number } }).detail?.kind === 4 });
    }
  });

  start(): void {
    let last = performance.now();
    let lastStat = schedstat();
    this.timer = setInterval(() => {
      const now = performance.now();
      const stat = schedstat();
      const gap = now - last;
      const late = gap - TICK_MS;
      if (late > STALL_MS) {
        // The split is measured over the whole gap; the late part gets its share.
        const share = late / gap;
        this.stalls.push({
          startWallMs: performance.timeOrigin + last + TICK_MS,
          ms: late,
          onCpuMs: ((stat.runNs - lastStat.runNs) / 1e6) * share,
          runQueueMs: ((stat.waitNs - lastStat.waitNs) / 1e6) * share,
        });
      }
      last = now;
      lastStat = stat;
    }, TICK_MS);
    this.timer.unref();
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    clearInterval(this.timer);
    this.observer.disconnect();
  }

  /** Stalls and GC pauses overlapping [fromWallMs, toWallMs], each counted for its overlap (the split pro rata). */
  window(fromWallMs: number, toWallMs: number): StallFigures {
    const overlap = (s: Span) => Math.max(0, Math.min(toWallMs, s.startWallMs + s.ms) - Math.max(fromWallMs, s.startWallMs));
    const f: StallFigures = { stallMs: 0, onCpuMs: 0, runQueueMs: 0, gcMs: 0, majorGcMs: 0 };
    for (const s of this.stalls) {
      const o = overlap(s);
      if (o === 0) continue;
      f.stallMs += o;
      f.onCpuMs += (s.onCpuMs * o) / s.ms;
      f.runQueueMs += (s.runQueueMs * o) / s.ms;
    }
    for (const g of this.gcs) {
      const o = overlap(g);
      f.gcMs += o;
      if (g.major) f.majorGcMs += o;
    }
    const r = (x: number) => Math.round(x * 10) / 10;
    return { stallMs: r(f.stallMs), onCpuMs: r(f.onCpuMs), runQueueMs: r(f.runQueueMs), gcMs: r(f.gcMs), majorGcMs: r(f.majorGcMs) };
  }

  /** The whole run: stalls, their wall time, and the shares of it on a CPU and waiting for one. */
  total(): { stalls: number; stallMs: number; onCpuShare: number; runQueueShare: number } {
    const sum = (f: (s: Stall) => number) => this.stalls.reduce((n, s) => n + f(s), 0);
    const ms = sum((s) => s.ms);
    const share = (x: number) => (ms === 0 ? 0 : Math.round((x / ms) * 100) / 100);
    return { stalls: this.stalls.length, stallMs: Math.round(ms), onCpuShare: share(sum((s) => s.onCpuMs)), runQueueShare: share(sum((s) => s.runQueueMs)) };
  }
}
