// Reads values out of the admin API's /metrics text (Prometheus exposition format), for tests
// that wait on what a stage has applied: the per-partition watermark gauges, the consumer lag.

/** Sum of a metric over its labels (every partition, every stage). */
export function sumMetric(metrics: string, name: string): number {
  let total = 0;
  for (const line of metrics.split('\n')) if (line.startsWith(`${name}{`)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

/** A metric's value per partition label. */
export function perPartition(metrics: string, name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of metrics.matchAll(new RegExp(`^${name}\\{partition="(\\d+)"\\} (\\S+)$`, 'gm'))) out.set(Number(m[1]), Number(m[2]));
  return out;
}

/** A stage's consumer lag in records (undefined when the process runs no such stage). */
export function stageLag(metrics: string, stage: string): number | undefined {
  const m = new RegExp(`^pmf_stage_consumer_lag_records\\{stage="${stage}"\\} (\\S+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : undefined;
}
