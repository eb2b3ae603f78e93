// What the loop bench's process was doing while a sample waited, when the stage times alone do not
// say why a sample was slow: every role runs in this one process, so a stage can only make progress
// when the event loop gets a turn. A 10 ms timer notices gaps in the loop (a stall: the tick came
// more than 20 ms late) and reads this process's CPU time (every thread) over the gap; GC pauses
// come from the runtime. A stall in which the process used far less CPU than the wall time it lasted
// was not spent in our code: the process was not scheduled (the machine is shared) or blocked in
// the kernel. Nothing here runs on the loop's measured path except the timer's tick.

import { PerformanceObserver, performance } from 'node:perf_hooks';

const TICK_MS = 10;
/** A tick this much later than due counts as a stall. */
const STALL_MS = 20;

interface Span { startWallMs: number; ms: number }
interface Stall extends Span { cpuMs: number }
interface Gc extends Span { major: boolean }

/** Per window (one sample's export → Redis notice): stalled wall time, our CPU during it, GC time. */
export interface StallFigures {
  stallMs: number;
  /** This process's CPU time (all threads) during those stalls. */
  stallCpuMs: number;
  gcMs: number;
  /** Of gcMs, full mark-sweep-compact pauses. */
  majorGcMs: number;
}

const cpuMsNow = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

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
    let lastCpu = cpuMsNow();
    this.timer = setInterval(() => {
      const now = performance.now();
      const cpu = cpuMsNow();
      const gap = now - last;
      const late = gap - TICK_MS;
      // The CPU over the whole gap, pro rata for the late part.
      if (late > STALL_MS) this.stalls.push({ startWallMs: performance.timeOrigin + last + TICK_MS, ms: late, cpuMs: ((cpu - lastCpu) * late) / gap });
      last = now;
      lastCpu = cpu;
    }, TICK_MS);
    this.timer.unref();
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    clearInterval(this.timer);
    this.observer.disconnect();
  }

  /** Stalls and GC pauses overlapping [fromWallMs, toWallMs], each counted for its overlap only (CPU pro rata). */
  window(fromWallMs: number, toWallMs: number): StallFigures {
    const overlap = (s: Span) => Math.max(0, Math.min(toWallMs, s.startWallMs + s.ms) - Math.max(fromWallMs, s.startWallMs));
    const f: StallFigures = { stallMs: 0, stallCpuMs: 0, gcMs: 0, majorGcMs: 0 };
    for (const s of this.stalls) {
      const o = overlap(s);
      if (o === 0) continue;
      f.stallMs += o;
      f.stallCpuMs += (s.cpuMs * o) / s.ms;
    }
    for (const g of this.gcs) {
      const o = overlap(g);
      f.gcMs += o;
      if (g.major) f.majorGcMs += o;
    }
    const r = (x: number) => Math.round(x * 10) / 10;
    return { stallMs: r(f.stallMs), stallCpuMs: r(f.stallCpuMs), gcMs: r(f.gcMs), majorGcMs: r(f.majorGcMs) };
  }

  /** The whole run: stalls, their wall time, and the share of it this process spent on a CPU. */
  total(): { stalls: number; stallMs: number; cpuShareDuringStalls: number } {
    const ms = this.stalls.reduce((n, s) => n + s.ms, 0);
    const cpu = this.stalls.reduce((n, s) => n + s.cpuMs, 0);
    return { stalls: this.stalls.length, stallMs: Math.round(ms), cpuShareDuringStalls: ms === 0 ? 0 : Math.round((cpu / ms) * 100) / 100 };
  }
}
