// The receiver side of `npm run bench:receiver-flood`: the real OtlpReceiver (gRPC and HTTP, the
// configured in-flight budget) over a sink that acks at once, plus a /healthz endpoint on the
// same event loop, so the parent can see what hostile requests do to everything else the
// process serves. Reports the longest event-loop stall (perf_hooks histogram) and peak RSS.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { silentLogger } from '../src/core/logger.js';
import { OtlpReceiver } from '../src/receiver/otlp-receiver.js';
import { Pseudonymizer } from '../src/receiver/mapping/pseudonymizer.js';

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
process.send({ type: 'ready', grpcPort: receiver.port, httpPort: receiver.httpPort, healthPort: (health.address() as AddressInfo).port });

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'baseline') {
    global.gc?.();
    process.send!({ type: 'baseline', rssBytes: process.memoryUsage().rss });
    delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
  } else if (msg.type === 'stats') {
    delay.disable();
    const m = receiver.metrics;
    process.send!({
      type: 'stats',
      maxStallMs: delay.max / 1e6,
      p99StallMs: delay.percentile(99) / 1e6,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
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
