// Soak: the embedded default (`pmf-guard start`, one process, embedded log and PGlite) on a temp
// data directory under steady OTLP load, to show that memory, heap, disk and event-loop delay stay
// flat once warm. The load is real OTLP/gRPC bytes from the OpenTelemetry SDK exporter, on
// loopback only, bounded in rate and duration. The config shortens retention (and the lateness
// horizon, which also bounds how long dedupe ids are remembered) so that the bounds are reached
// well inside the run; everything else is the default, including fsync=always.
//
// Every SAMPLE_SECONDS the bench scrapes /metrics (RSS, heap, event-loop delay, log bytes) and
// walks the data directory (allocated bytes). After the warm-up (the first third), it fits a line
// to each series over the remaining two thirds: a series is flat when the fitted growth over that
// window is below max(FLAT_RELATIVE × its mean, its absolute floor). The in-run baseline is the
// value at the end of the warm-up; ratios are last-third mean / baseline.
//
// Run: npm run bench:soak [-- --write-results]
// Env: PMF_SOAK_MINUTES (30), PMF_SOAK_RATE spans/s (750), PMF_SOAK_SAMPLE_SECONDS (15),
//      PMF_SOAK_USERS (20000, the user pool: a fixed population revisits, as in production),
//      PMF_SOAK_FSYNC (always).
// The last line printed is one JSON object with every number.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BasicTracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { mulberry32 } from '../test/helpers/prng.js';
import { CollectingProcessor } from './loop-spans.js';

const env = (name: string, fallback: string) => process.env[name]?.trim() || fallback;
const MINUTES = Number(env('PMF_SOAK_MINUTES', '30'));
const RATE = Number(env('PMF_SOAK_RATE', '750'));
const SAMPLE_SECONDS = Number(env('PMF_SOAK_SAMPLE_SECONDS', '15'));
const USERS = Number(env('PMF_SOAK_USERS', '20000'));
/** The embedded log's fsync policy (the default, always, unless compared on purpose). */
const FSYNC = env('PMF_SOAK_FSYNC', 'always');
const WRITE_RESULTS = process.argv.includes('--write-results');
const TICK_MS = 100;
const FLAT_RELATIVE = 0.1;
const FEATURE = 'feat_smart_recs_v1';
const MIB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Sample {
  t: number;
  rssMiB: number;
  heapMiB: number;
  lagP99Ms: number;
  lagMaxMs: number;
  logMiB: number;
  diskMiB: number;
  eventsProduced: number;
}

type Series = Exclude<keyof Sample, 't' | 'eventsProduced'>;
/** Absolute floor of the allowed growth per series (MiB or ms), so tiny noise on tiny values passes. */
const FLOORS: Record<Series, number> = { rssMiB: 16, heapMiB: 8, lagP99Ms: 5, lagMaxMs: 20, logMiB: 8, diskMiB: 8 };

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Allocated bytes under dir (st_blocks, like du): what the disk really holds. */
function diskBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    try {
      if (e.isDirectory()) total += diskBytes(p);
      else total += statSync(p).blocks * 512;
    } catch {
      // A segment deleted by retention between readdir and stat: it no longer counts.
    }
  }
  return total;
}

function metric(text: string, name: string, labels?: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (labels && !rest.includes(labels)) continue;
    out.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** The seed story's spans for a fixed user pool at the current time: exposures, dashboard loads, clicks. */
class Load {
  sent = 0;
  failedExports = 0;
  private readonly collector = new CollectingProcessor();
  private readonly provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'dashboard-web' }), spanProcessors: [this.collector] });
  private readonly tracer = this.provider.getTracer('bench-soak');
  private readonly exporter: OTLPTraceExporter;
  private readonly rand = mulberry32(13);
  private stopped = false;
  private running?: Promise<void>;

  constructor(endpoint: string) {
    this.exporter = new OTLPTraceExporter({ url: endpoint, timeoutMillis: 30_000 });
  }

  private spans(count: number): ReadableSpan[] {
    const now = Date.now();
    for (let i = 0; i < count; i++) {
      const u = Math.floor(this.rand() * USERS);
      const user = `soak-user-${u}`;
      const kind = this.rand();
      if (kind < 0.2) {
        const attributes = { 'feature_flag.key': FEATURE, 'feature_flag.result.variant': u % 2 === 0 ? 'control' : 'treatment', 'feature_flag.context.id': user };
        this.tracer.startSpan('recs.render', { startTime: now, attributes }).end(now + 5);
      } else if (kind < 0.8) {
        const ms = Math.round(110 * Math.exp(0.25 * (this.rand() * 2 - 1)) + (u % 2 === 1 ? 30 : 0));
        this.tracer.startSpan('GET /dashboard', { startTime: now - ms, attributes: { 'enduser.id': user, 'http.route': '/dashboard' } }).end(now);
      } else {
        this.tracer.startSpan('recs.click', { startTime: now, attributes: { 'enduser.id': user } }).end(now + 3);
      }
    }
    return this.collector.take();
  }

  private export(spans: ReadableSpan[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.exporter.export(spans, (r) => (r.code === 0 ? resolve() : reject(r.error ?? new Error(`export failed: ${r.code}`))));
    });
  }

  start(until: number): void {
    const perTick = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
    this.running = (async () => {
      while (!this.stopped && performance.now() < until) {
        const started = performance.now();
        try {
          await this.export(this.spans(perTick));
          this.sent += perTick;
        } catch {
          this.failedExports++;
        }
        await delay(Math.max(0, TICK_MS - (performance.now() - started)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    await this.exporter.shutdown();
    await this.provider.shutdown();
  }
}

function fit(points: { t: number; v: number }[]): { slopePerMin: number; mean: number } {
  const n = points.length;
  const mt = sum(points.map((p) => p.t)) / n;
  const mv = sum(points.map((p) => p.v)) / n;
  const cov = sum(points.map((p) => (p.t - mt) * (p.v - mv)));
  const vt = sum(points.map((p) => (p.t - mt) ** 2));
  return { slopePerMin: vt === 0 ? 0 : (cov / vt) * 60_000, mean: mv };
}

interface Verdict {
  series: Series;
  baseline: number;
  mean: number;
  lastThirdMean: number;
  max: number;
  slopePerMin: number;
  growthOverWindow: number;
  allowed: number;
  flat: boolean;
}

function judge(samples: Sample[]): Verdict[] {
  const warm = Math.floor(samples.length / 3);
  const window = samples.slice(warm);
  const windowMin = (window[window.length - 1].t - window[0].t) / 60_000;
  const lastThird = samples.slice(Math.floor((samples.length * 2) / 3));
  return (Object.keys(FLOORS) as Series[]).map((series) => {
    const { slopePerMin, mean } = fit(window.map((s) => ({ t: s.t, v: s[series] })));
    const growth = slopePerMin * windowMin;
    const allowed = Math.max(FLAT_RELATIVE * mean, FLOORS[series]);
    const r = (x: number) => Math.round(x * 100) / 100;
    return {
      series,
      baseline: r(samples[warm][series]),
      mean: r(mean),
      lastThirdMean: r(sum(lastThird.map((s) => s[series])) / lastThird.length),
      max: r(Math.max(...window.map((s) => s[series]))),
      slopePerMin: r(slopePerMin),
      growthOverWindow: r(growth),
      allowed: r(allowed),
      flat: growth <= allowed,
    };
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pmf-soak-'));
  const dataDir = join(dir, 'data');
  const [grpc, http, admin] = [await freePort(), await freePort(), await freePort()];
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      `dataDir: ${JSON.stringify(dataDir)}`,
      'logLevel: warn',
      `receiver: { grpc: { host: 127.0.0.1, port: ${grpc} }, http: { host: 127.0.0.1, port: ${http} } }`,
      `admin: { host: 127.0.0.1, port: ${admin} }`,
      '# Shortened so the bounds are reached inside the run; production keeps the defaults.',
      'aggregation: { maxLatenessSeconds: 120 }',
      'embedded:',
      `  fsync: ${FSYNC}`,
      '  retentionCheckIntervalMs: 10000',
      '  topics:',
      '    events: { retentionMs: 240000, retentionBytes: 67108864, segmentBytes: 4194304, segmentMs: 60000 }',
      '    cohortStats: { retentionBytes: 33554432, segmentBytes: 1048576, segmentMs: 30000 }',
      '    verdicts: { retentionMs: 240000, segmentBytes: 1048576, segmentMs: 60000 }',
      '    commands: { retentionMs: 240000, segmentBytes: 1048576, segmentMs: 60000 }',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), 'start', '--config', config, '--rules', join(ROOT, 'test/fixtures/seed-rules.yaml')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-20_000);
  });
  const adminUrl = `http://127.0.0.1:${admin}`;
  const load = new Load(`http://127.0.0.1:${grpc}`);
  const samples: Sample[] = [];
  try {
    const startedBy = performance.now() + 120_000;
    for (;;) {
      if (performance.now() > startedBy || child.exitCode !== null) throw new Error(`pmf-guard did not start:\n${stderr}`);
      if (await fetch(`${adminUrl}/readyz`).then((r) => r.ok, () => false)) break;
      await delay(500);
    }
    const t0 = performance.now();
    const end = t0 + MINUTES * 60_000;
    load.start(end);
    process.stderr.write(`soak: ${MINUTES} min at ${RATE} spans/s, data dir ${dataDir}\n`);
    while (performance.now() < end) {
      await delay(SAMPLE_SECONDS * 1000);
      if (child.exitCode !== null) throw new Error(`pmf-guard exited (${child.exitCode}):\n${stderr}`);
      const text = await (await fetch(`${adminUrl}/metrics`)).text();
      const s: Sample = {
        t: performance.now() - t0,
        rssMiB: metric(text, 'pmf_process_resident_memory_bytes')[0] / MIB,
        heapMiB: metric(text, 'pmf_process_heap_used_bytes')[0] / MIB,
        lagP99Ms: metric(text, 'pmf_event_loop_delay_p99_seconds')[0] * 1000,
        lagMaxMs: metric(text, 'pmf_event_loop_delay_max_seconds')[0] * 1000,
        logMiB: sum(metric(text, 'pmf_embedded_log_bytes')) / MIB,
        diskMiB: diskBytes(dataDir) / MIB,
        eventsProduced: metric(text, 'pmf_receiver_events_produced_total')[0],
      };
      samples.push(s);
      const f = (x: number) => x.toFixed(1);
      process.stderr.write(`${f(s.t / 60_000)} min: rss ${f(s.rssMiB)} MiB, heap ${f(s.heapMiB)} MiB, lag p99 ${f(s.lagP99Ms)} ms (max ${f(s.lagMaxMs)}), log ${f(s.logMiB)} MiB, disk ${f(s.diskMiB)} MiB, events ${s.eventsProduced}\n`);
    }
    await load.stop();
    const finalMetrics = await (await fetch(`${adminUrl}/metrics`)).text();
    const verdicts = judge(samples);
    const minutes = (samples[samples.length - 1].t) / 60_000;
    const result = {
      bench: 'soak',
      minutes: Math.round(minutes * 10) / 10,
      targetSpansPerSecond: RATE,
      spansSent: load.sent,
      achievedSpansPerSecond: Math.round(load.sent / (minutes * 60)),
      failedExports: load.failedExports,
      eventsProduced: metric(finalMetrics, 'pmf_receiver_events_produced_total')[0],
      // Records of events.v2 carry batches of events, so events are counted as the aggregator accepted them.
      aggregatorEventsAccepted: sum(metric(finalMetrics, 'pmf_aggregator_events_accepted_total')),
      aggregatorRecordsApplied: metric(finalMetrics, 'pmf_stage_records_applied_total', 'stage="aggregator"')[0],
      aggregatorLagRecords: metric(finalMetrics, 'pmf_stage_consumer_lag_records', 'stage="aggregator"')[0],
      retentionSegmentsDeleted: metric(finalMetrics, 'pmf_embedded_log_retention_segments_deleted_total')[0],
      compactedRecords: metric(finalMetrics, 'pmf_embedded_log_compacted_records_total')[0],
      recordsSkippedByRetention: sum(metric(finalMetrics, 'pmf_log_records_lost_total')),
      samples: samples.length,
      flat: verdicts.every((v) => v.flat),
      series: Object.fromEntries(verdicts.map((v) => [v.series, { baseline: v.baseline, lastThirdMean: v.lastThirdMean, ratio: Math.round((v.lastThirdMean / (v.baseline || 1)) * 100) / 100, max: v.max, slopePerMin: v.slopePerMin, growthOverWindow: v.growthOverWindow, allowed: v.allowed, flat: v.flat }])),
    };
    if (WRITE_RESULTS) writeFileSync(join(ROOT, 'bench/RESULTS-soak.md'), markdown(result, verdicts, samples));
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await load.stop().catch(() => undefined);
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    rmSync(dir, { recursive: true, force: true });
  }
}

function markdown(r: Record<string, unknown>, verdicts: Verdict[], samples: Sample[]): string {
  const rows = verdicts.map((v) => `| ${v.series} | ${v.baseline} | ${v.lastThirdMean} | ${v.max} | ${v.slopePerMin} | ${v.growthOverWindow} | ${v.allowed} | ${v.flat ? 'yes' : '**no**'} |`);
  const every = Math.max(1, Math.floor(samples.length / 20));
  const trace = samples
    .filter((_, i) => i % every === 0 || i === samples.length - 1)
    .map((s) => `| ${(s.t / 60_000).toFixed(1)} | ${s.rssMiB.toFixed(1)} | ${s.heapMiB.toFixed(1)} | ${s.lagP99Ms.toFixed(1)} | ${s.lagMaxMs.toFixed(1)} | ${s.logMiB.toFixed(1)} | ${s.diskMiB.toFixed(1)} |`);
  return `# Soak: the embedded default under steady load

\`npm run bench:soak -- --write-results\` (bench/soak.ts). One \`pmf-guard start\` process with the
embedded log and PGlite on a temp data directory, the seed rule, default settings (fsync=always)
except shortened retention (events 4 min / 64 MiB, segments 4 MiB or 60 s; cohort stats compacted,
32 MiB cap; verdicts and commands 4 min) and a 120 s lateness horizon (\`maxLatenessSeconds\`, which
also bounds how long dedupe ids are kept), so that every bound is reached inside the run.
Load: ${r.targetSpansPerSecond} spans/s of real OTLP/gRPC from the OpenTelemetry SDK exporter on loopback (a pool of ${USERS} users: exposures, dashboard loads, clicks), on a shared 2-core machine.

Judgement: after the warm-up (first third), a line is fitted to each series over the remaining two
thirds; flat = fitted growth over that window ≤ max(${FLAT_RELATIVE * 100} % of the mean, a floor: 16 MiB RSS,
8 MiB heap and disk, 5 ms lag p99, 20 ms lag max). Baseline = the value at the end of the warm-up.

Run: ${r.minutes} min, ${r.spansSent} spans sent (${r.achievedSpansPerSecond}/s), ${r.failedExports} failed exports,
${r.eventsProduced} events produced, ${r.aggregatorEventsAccepted} accepted by the aggregator (in ${r.aggregatorRecordsApplied} log records,
${r.aggregatorLagRecords} records behind at the end),
${r.retentionSegmentsDeleted} segments deleted by retention, ${r.compactedRecords} cohort-stats records compacted,
${r.recordsSkippedByRetention} records skipped by retention before a group read them. **Flat: ${r.flat ? 'yes' : 'no'}.**

| series | baseline | last-third mean | max | slope /min | growth over window | allowed | flat |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}

RSS, heap: MiB of the pmf-guard process. Lag: event-loop delay p99 and max per ${SAMPLE_SECONDS} s sample, ms.
Log: bytes of the embedded log's segment files. Disk: allocated bytes of the whole data directory
(log, PGlite, offsets), MiB.

| minute | RSS | heap | lag p99 | lag max | log | disk |
|---|---|---|---|---|---|---|
${trace.join('\n')}

\`\`\`json
${JSON.stringify(r)}
\`\`\`
`;
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
