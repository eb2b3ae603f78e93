// The receiver side of `npm run bench:receiver-flood`: the real OtlpReceiver (gRPC and HTTP, the
// configured in-flight budget) over a sink that acks at once, plus a /healthz endpoint on the
// same event loop, so the parent can see what hostile requests do to everything else the
// process serves. Reports the longest event-loop stall (perf_hooks histogram) and peak RSS.
// On a machine shared with other work a stall is partly time the main thread was not running at
// all, so a 5 ms probe also reads the thread's scheduler counters (Linux schedstat: ns on CPU and
// ns runnable but waiting for a CPU) and splits the longest gap between two probe ticks into
// on-CPU, waiting for a CPU, and blocked (e.g. waiting for GC helper threads); the longest on-CPU
// gap is what the process itself did without yielding.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { silentLogger } from '../src/core/logger.js';
import { OtlpReceiver } from '../src/receiver/otlp-receiver.js';
import { Pseudonymizer } from '../src/receiver/mapping/pseudonymizer.js';
import { schedstat } from './thread-schedstat.js';

const budget = Number(process.argv[2] ?? 64 * 1024 * 1024);
if (!process.send) throw new Error('forked by bench/receiver-flood.ts');

const receiver = new OtlpReceiver({
  logger: silentLogger,
  grpc: { host: '127.0.0.1', port: 0 },
  http: { host: '127.0.0.1', port: 0 },
  pseudonymizer: new Pseudonymizer('flood-pseudonym-key-0123456789'),
  sink: { partitions: 6, publish: () => new Promise((resolve) => setImmediate(resolve)) },
  limits: { maxInFlightBytes: budget },
});
await receiver.start();
const health = createServer((_req, res) => res.end('ok'));
await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));

let delay = monitorEventLoopDelay({ resolution: 5 });

interface Gap { wallMs: number; onCpuMs: number; runQueueMs: number }
const probe = { longest: { wallMs: 0, onCpuMs: 0, runQueueMs: 0 } as Gap, longestOnCpuMs: 0, ticks: 0 };
let probeTimer: NodeJS.Timeout | undefined;
function startProbe(): void {
  let last = performance.now();
  let lastStat = schedstat();
  probeTimer = setInterval(() => {
    const now = performance.now();
    const stat = schedstat();
    const gap = { wallMs: now - last, onCpuMs: (stat.runNs - lastStat.runNs) / 1e6, runQueueMs: (stat.waitNs - lastStat.waitNs) / 1e6 };
    if (gap.wallMs > probe.longest.wallMs) probe.longest = gap;
    if (gap.onCpuMs > probe.longestOnCpuMs) probe.longestOnCpuMs = gap.onCpuMs;
    probe.ticks++;
    last = now;
    lastStat = stat;
  }, 5);
}
process.send({ type: 'ready', grpcPort: receiver.port, httpPort: receiver.httpPort, healthPort: (health.address() as AddressInfo).port });

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'baseline') {
    global.gc?.();
    process.send!({ type: 'baseline', rssBytes: process.memoryUsage().rss });
    delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    startProbe();
  } else if (msg.type === 'stats') {
    delay.disable();
    clearInterval(probeTimer);
    const m = receiver.metrics;
    process.send!({
      type: 'stats',
      maxStallMs: delay.max / 1e6,
      p99StallMs: delay.percentile(99) / 1e6,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      longestGap: probe.longest,
      longestOnCpuMs: probe.longestOnCpuMs,
      loadAverage: os.loadavg(),
      inFlightPeakBytes: receiver.budget.peak,
      budgetRefusals: receiver.budget.refused,
      requests: Object.fromEntries(m.requests),
      rejected: Object.fromEntries(m.rejected),
    });
  } else if (msg.type === 'stop') {
    health.close();
    void receiver.stop().then(() => process.exit(0));
  }
});
