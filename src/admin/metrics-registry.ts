// A small Prometheus text-format registry. Components keep their own plain counters; they
// register a collector that turns them into samples when /metrics is scraped, so the hot paths
// never touch label maps.

export interface Sample {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labels?: Record<string, string>;
  value: number;
}

/** Sync for counters; async where a sample needs a round trip (consumer lag asks the log). */
export type Collector = () => Sample[] | Promise<Sample[]>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export class MetricsRegistry {
  private readonly collectors: Collector[] = [];
  private collectorErrors = 0;

  register(collector: Collector): void {
    this.collectors.push(collector);
  }

  async render(): Promise<string> {
    const byName = new Map<string, Sample[]>();
    const collected = await Promise.all(this.collectors.map(async (c) => {
      try {
        return await c();
      } catch {
        // One failing source (e.g. Kafka down while asking for end offsets) must not blank the
        // whole scrape: its samples are missing this time, and the failure is counted.
        this.collectorErrors++;
        return [];
      }
    }));
    collected.push([{ name: 'pmf_metrics_collector_errors_total', help: 'Metric sources that failed during a scrape', type: 'counter', value: this.collectorErrors }]);
    for (const samples of collected) {
      for (const s of samples) {
        const list = byName.get(s.name) ?? [];
        list.push(s);
        byName.set(s.name, list);
      }
    }
    const lines: string[] = [];
    for (const [name, samples] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`# HELP ${name} ${samples[0].help}`, `# TYPE ${name} ${samples[0].type}`);
      for (const s of samples) {
        const labels = s.labels && Object.keys(s.labels).length > 0
          ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`
          : '';
        lines.push(`${name}${labels} ${Number.isFinite(s.value) ? s.value : 0}`);
      }
    }
    return lines.join('\n') + '\n';
  }
}
