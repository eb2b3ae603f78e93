// Process health as Prometheus samples: resident memory, V8 heap and event-loop delay. A guard left
// running for months must show memory that stays flat and a loop that never stalls; the soak
// benchmark (bench/soak.ts) reads exactly these.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { MetricsRegistry, Sample } from '../admin/metrics-registry.js';

export function processMetrics(registry: MetricsRegistry): { stop(): void } {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  registry.register((): Sample[] => {
    const mem = process.memoryUsage();
    // Delay since the previous scrape, so each scrape shows the recent worst, not a lifetime max.
    const p99 = delay.percentile(99) / 1e6;
    const max = delay.max / 1e6;
    delay.reset();
    return [
      { name: 'pmf_process_resident_memory_bytes', help: 'Resident set size', type: 'gauge', value: mem.rss },
      { name: 'pmf_process_heap_used_bytes', help: 'V8 heap in use', type: 'gauge', value: mem.heapUsed },
      { name: 'pmf_process_external_memory_bytes', help: 'Memory of Buffers and other objects outside the V8 heap', type: 'gauge', value: mem.external + mem.arrayBuffers },
      { name: 'pmf_event_loop_delay_p99_seconds', help: 'Event-loop delay p99 since the previous scrape', type: 'gauge', value: Number.isFinite(p99) ? p99 / 1000 : 0 },
      { name: 'pmf_event_loop_delay_max_seconds', help: 'Longest event-loop delay since the previous scrape', type: 'gauge', value: Number.isFinite(max) ? max / 1000 : 0 },
    ];
  });
  return { stop: () => delay.disable() };
}
