// A small Prometheus text-format registry. Components keep their own plain counters; they
// register a collector that turns them into samples when /metrics is scraped, so the hot paths
// never touch label maps. Histograms are rendered as real ones: cumulative `_bucket{le}` series
// ending in `le="+Inf"`, with `_sum` and `_count`.

export interface HistogramValue {
  /** Cumulative counts per finite upper bound, ascending; +Inf is added from `count`. */
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

export interface Sample {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels?: Record<string, string>;
  /** Counters and gauges; ignored for histograms. */
  value: number;
  histogram?: HistogramValue;
}

/** Sync for counters; async where a sample needs a round trip (consumer lag asks the log). */
export type Collector = () => Sample[] | Promise<Sample[]>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Record<string, string> | undefined, extra?: [string, string]): string {
  const entries = Object.entries(labels ?? {});
  if (extra) entries.push(extra);
  return entries.length > 0 ? `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export class MetricsRegistry {
  private readonly collectors: Collector[] = [];
  private collectorErrors = 0;

  private readonly declared = new Map<string, { help: string; type: Sample['type'] }>();

  register(collector: Collector): void {
    this.collectors.push(collector);
  }

  /**
   * Declares a family whose series are labelled by something not known at start-up (an input
   * partition): its HELP and TYPE are exposed from the first scrape, its series when they exist.
   */
  declare(name: string, help: string, type: Sample['type']): void {
    this.declared.set(name, { help, type });
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
    for (const name of this.declared.keys()) if (!byName.has(name)) byName.set(name, []);
    const lines: string[] = [];
    for (const [name, samples] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
      const meta = samples[0] ?? this.declared.get(name)!;
      lines.push(`# HELP ${name} ${meta.help}`, `# TYPE ${name} ${meta.type}`);
      for (const s of samples) {
        if (s.type === 'histogram') {
          const h = s.histogram ?? { buckets: [], sum: 0, count: 0 };
          for (const b of h.buckets) lines.push(`${name}_bucket${labelText(s.labels, ['le', num(b.le)])} ${b.count}`);
          lines.push(`${name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${h.count}`);
          lines.push(`${name}_sum${labelText(s.labels)} ${num(h.sum)}`, `${name}_count${labelText(s.labels)} ${h.count}`);
          continue;
        }
        // Unknown values (an estimate with no data yet) are NaN, as Prometheus clients render them.
        lines.push(`${name}${labelText(s.labels)} ${num(s.value)}`);
      }
    }
    return lines.join('\n') + '\n';
  }
}
