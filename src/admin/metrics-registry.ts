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

export type Collector = () => Sample[];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export class MetricsRegistry {
  private readonly collectors: Collector[] = [];

  register(collector: Collector): void {
    this.collectors.push(collector);
  }

  render(): string {
    const byName = new Map<string, Sample[]>();
    for (const c of this.collectors) {
      for (const s of c()) {
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
