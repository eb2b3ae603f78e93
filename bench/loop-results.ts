// bench/RESULTS-loop.md from one run of the loop benchmark: the pipeline part (decisive record →
// Redis, per background load, with the export round trip as the in-run baseline) and the live
// end-to-end part (decisive span → Redis, per configuration, against the event-time wait).

import { execFileSync } from 'node:child_process';
import type { LiveRun } from './loop-live.js';
import type { Summary } from './loop-measure.js';
import type { PipelineRun } from './loop.js';

export interface LoopSetup {
  features: number;
  usersPerCohort: number;
  minCohortSize: number;
  windowSeconds: number;
  treatmentExtraMs: number;
  partitions: number;
  phase: string;
  targetP99Ms: number;
}

/** The commit measured, and whether src/ had uncommitted changes (other work in the same tree). */
export function codeVersion(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} with uncommitted changes in src/` : head;
  } catch {
    return 'unknown (no git)';
  }
}

const row = (s: Summary) => `${s.p50} | ${s.p90} | ${s.p99} | ${s.max}`;

export function resultsMarkdown(runs: PipelineRun[], live: LiveRun[], o: LoopSetup): string {
  const lines = [
    '# Loop benchmark: decisive record → flag off in Redis',
    '',
    `Written by \`npm run bench:loop -- --write-results\` on ${new Date().toISOString().slice(0, 10)}. Code: ${codeVersion()}. Every role in one process on Kafka + PostgreSQL + Redis (loopback), 2-core machine shared with other work; the load generator runs in the same process.`,
    '',
    '## (a) Pipeline: the record that makes a step judgeable → Redis',
    '',
    `Target: p99 ≤ ${o.targetP99Ms} ms with 5 k spans/s of background load.`,
    '',
    `- ${o.features} features, ${o.usersPerCohort} users per cohort (minCohortSize ${o.minCohortSize}, evaluationWindowSeconds ${o.windowSeconds}, treatment +${o.treatmentExtraMs} ms), ${o.partitions} partitions, default config (verdict.stepSeconds 60, allowedLatenessSeconds 300).`,
    '- The decisive record: the one span that carries the last partition\'s watermark across the first step end past the gate (the other partitions are already past it). Measured from just before its OTLP export() to the Redis change notice (the hash then shows treatment=off).',
    "- In-run baseline: the same export() call to the receiver's OK (sent after Kafka acked the event).",
    `- Trigger phase: ${o.phase} (random = a random moment within two checkpoint intervals).`,
    `- With ${o.features} samples, p99 is the maximum. Stage increments come from the Kafka CreateTime of the record each stage produced.`,
    '',
    '| background spans/s | what | p50 ms | p90 ms | p99 ms | max ms |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of runs) {
    const head = `| ${r.backgroundSpansPerSecond} |`;
    lines.push(`${head} **pipeline** | ${row(r.loopMs)} |`);
    lines.push(`${head} export baseline | ${row(r.exportBaselineMs)} |`);
    for (const [name, s] of Object.entries(r.stagesMs)) if (name.startsWith('Δ')) lines.push(`${head} ${name} | ${row(s)} |`);
  }
  lines.push('', '| background spans/s | spans sent | pipeline/export p50 | pipeline/export p99 | p99 ≤ target | process CPU % |', '|---|---|---|---|---|---|');
  for (const r of runs) {
    lines.push(`| ${r.backgroundSpansPerSecond} | ${r.backgroundSpansSent} | ${r.ratioLoopToExport.p50}× | ${r.ratioLoopToExport.p99}× | ${r.targetMet ? 'yes' : 'no'} | ${r.cost.processCpuPercent} |`);
  }
  lines.push(
    '',
    '## (b) End to end in live time: decisive span → Redis',
    '',
    'Event time = wall clock; background load at the present; each feature\'s decisive span is sent at the moment its gate opens (G). The flag can flip only once every partition\'s watermark has passed the first step end S ≥ G, i.e. once data with event time ≥ S + allowed lateness has arrived everywhere. "Event-time wait" is S + allowedLateness − G for each sample; "beyond the wait" is the rest: the pipeline plus the background\'s granularity (one export every 100 ms).',
    '',
    '| config | stepSeconds | allowedLatenessSeconds | background spans/s | samples | what | p50 ms | p90 ms | p99 ms | max ms |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of live) {
    const head = `| ${r.name} | ${r.stepSeconds} | ${r.allowedLatenessSeconds} | ${r.backgroundSpansPerSecond} | ${r.samples} |`;
    lines.push(`${head} **end to end** | ${row(r.endToEndMs)} |`);
    lines.push(`${head} event-time wait | ${row(r.eventTimeWaitMs)} |`);
    lines.push(`${head} beyond the wait | ${row(r.beyondWaitMs)} |`);
  }
  lines.push('');
  return lines.join('\n');
}
