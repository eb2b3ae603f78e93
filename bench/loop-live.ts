// The loop end to end in live time, as a user sees it: event time is the wall clock, background
// traffic arrives at the present at a fixed rate, and a decisive span is sent at the moment its
// feature's evidence becomes judgeable (the evaluation window's gate opens at the span's event
// time G). The flag can flip only once every partition's watermark has passed the first step end
// S ≥ G, that is once background data with event time ≥ S + allowed lateness has arrived on every
// partition. So the expected loop is (S − G) + allowedLateness + pipeline ≈ U(0, step) +
// allowedLateness + pipeline. Measured: the export() call of the decisive span → the Redis change
// notice; reported beside it, the event-time wait (S + lateness − G) and what is left over.
//
// Each feature's history (the seed story, treatment +450 ms, one minute short of the window) is
// sent before the run, from the background's own service and only up to the present (spans at or
// after the moment of sending are left out): a span ahead of the present would move the watermark
// ahead of the wall clock, and a history from a service of its own would hold the watermark at its
// newest span until that service goes idle (sourceIdleSeconds of event time, 5 min), as any
// sender that stops does.

import { setTimeout as delay } from 'node:timers/promises';
import { flagKey } from '../src/flags/redis-keys.js';
import { verdictSettings } from '../src/app/stage-settings.js';
import { mulberry32 } from '../test/helpers/prng.js';
import { waitFor } from '../test/helpers/services.js';
import { partitionWatermarks, startLoopApp } from './loop-app.js';
import { openLoopClients } from './loop-clients.js';
import { summarize, wallNow, type Summary } from './loop-measure.js';
import { DATA_SPAN_MS } from './loop-spans.js';

export interface LiveOptions {
  /** A name for the configuration in the results ("default", "low-latency"). */
  name: string;
  /** verdict.stepSeconds / aggregation.allowedLatenessSeconds; absent = the config's defaults. */
  stepSeconds?: number;
  allowedLatenessSeconds?: number;
  features: number;
  /** Wall time between two features' decisive spans. */
  spacingMs: number;
  backgroundSpansPerSecond: number;
  usersPerCohort: number;
  minCohortSize: number;
  partitions: number;
}

export interface LiveRun {
  name: string;
  stepSeconds: number;
  allowedLatenessSeconds: number;
  backgroundSpansPerSecond: number;
  backgroundSpansSent: number;
  samples: number;
  /** export() of the decisive span → Redis change notice. */
  endToEndMs: Summary;
  /** The part of it that is event-time waiting: S + allowed lateness − G. */
  eventTimeWaitMs: Summary;
  /** endToEnd − eventTimeWait: the pipeline plus the background's granularity (one export every 100 ms). */
  beyondWaitMs: Summary;
}

const WINDOW_SECONDS = 3600;
const TREATMENT_EXTRA_MS = 450;
const LEAD_MS = 30_000;

const hrMs = (t: [number, number]) => t[0] * 1000 + t[1] / 1e6;

export async function runLive(o: LiveOptions): Promise<LiveRun> {
  const features = Array.from({ length: o.features }, (_, i) => `feat_live_${i}`);
  const loop = await startLoopApp({
    features, minCohortSize: o.minCohortSize, evaluationWindowSeconds: WINDOW_SECONDS, checkpointIntervalMs: 1000, partitions: o.partitions,
    stepSeconds: o.stepSeconds, allowedLatenessSeconds: o.allowedLatenessSeconds,
  });
  const { app, config, keyPrefix } = loop;
  const stepMs = verdictSettings(config).stepMs;
  const lateMs = config.aggregation.allowedLatenessSeconds * 1000;
  const { traffic, background, redis, notices, close } = await openLoopClients(loop, o.backgroundSpansPerSecond, () => Date.now());
  console.log(`\n== live ${o.name}: stepSeconds ${config.verdict.stepSeconds}, allowedLatenessSeconds ${config.aggregation.allowedLatenessSeconds}, background ${o.backgroundSpansPerSecond} spans/s, ${o.features} features`);
  try {
    background.start();
    // Every partition has a watermark from the live background before anything is timed.
    await waitFor(async () => ((await partitionWatermarks(app.adminPort())).size === o.partitions ? true : undefined), {
      timeoutMs: 60_000, intervalMs: 200, message: 'live background did not reach every partition',
    });

    const jitter = mulberry32(11);
    const t0 = Date.now() + LEAD_MS;
    // Gate-opening times spread over the step phase, so S − G is a fair sample of U(0, step).
    const gates = features.map((_, i) => Math.floor(t0 + i * o.spacingMs + jitter() * Math.min(o.spacingMs, stepMs)));
    for (const [i, feature] of features.entries()) {
      // The gate opens a window after the treatment's first exposure (user 1, DATA_SPAN_MS / users after startMs).
      const startMs = gates[i] - WINDOW_SECONDS * 1000 - Math.floor(DATA_SPAN_MS / (2 * o.usersPerCohort));
      const upTo = Math.min(gates[i], Date.now() - 1000);
      const history = traffic
        .featureData({ feature, startMs, usersPerCohort: o.usersPerCohort, treatmentExtraMs: TREATMENT_EXTRA_MS, seed: 2000 + i })
        .filter((s) => hrMs(s.startTime) < upTo);
      await traffic.exportAll(history);
    }
    if (Date.now() > t0) throw new Error(`sending the histories took longer than the ${LEAD_MS} ms lead`);

    const timeoutMs = lateMs + 2 * stepMs + 60_000;
    const samples = await Promise.all(
      features.map(async (feature, i) => {
        const gate = gates[i];
        await delay(Math.max(0, gate - Date.now()));
        const before = await redis.hget(flagKey(feature, keyPrefix), 'treatment');
        if (before !== 'on') throw new Error(`${feature}: treatment flag is ${before} before its decisive span, expected on`);
        const notice = notices.next(feature, timeoutMs);
        const exportStart = wallNow();
        await traffic.export([traffic.dashboardSpan(feature, 1, gate, 600)]);
        const noticeAt = await notice.catch(async (err: Error) => {
          const [v] = app.latestVerdicts(feature, 'treatment');
          const e = await loop.engineView(feature, 'treatment');
          const w = await partitionWatermarks(app.adminPort());
          const iso = (ms: number) => new Date(ms).toISOString();
          if (process.env.PMF_BENCH_DEBUG) console.error((await (await fetch(`http://127.0.0.1:${app.adminPort()}/metrics`)).text()).split('\n').filter((l) => /^pmf_(aggregator|stage|consumer|receiver)/.test(l)).join('\n'));
          throw new Error(
            `${err.message}; gate ${iso(gate)}; engine: ${e.exposed} exposed, failed ${e.failed}, reported ${JSON.stringify([...e.reported].map(([p, x]) => [p, iso(x)]))}; ` +
              `partition watermarks ${JSON.stringify([...w].map(([p, x]) => [p, iso(x)]))}; last verdict: ${v ? `${v.outcome} at ${v.evaluatedAt}: ${v.reason}` : 'none'}`,
          );
        });
        const hash = await redis.hgetall(flagKey(feature, keyPrefix));
        if (hash.treatment !== 'off') throw new Error(`${feature}: change notice arrived but the hash is ${JSON.stringify(hash)}`);
        const stepEnd = Math.ceil(gate / stepMs) * stepMs;
        const endToEnd = noticeAt - exportStart;
        const wait = stepEnd + lateMs - gate;
        console.log(`${feature}: end to end ${endToEnd.toFixed(1)} ms, event-time wait ${wait} ms, beyond it ${(endToEnd - wait).toFixed(1)} ms`);
        return { endToEnd, wait, beyond: endToEnd - wait };
      }),
    );
    await background.stop();
    const run: LiveRun = {
      name: o.name,
      stepSeconds: config.verdict.stepSeconds,
      allowedLatenessSeconds: config.aggregation.allowedLatenessSeconds,
      backgroundSpansPerSecond: o.backgroundSpansPerSecond,
      backgroundSpansSent: background.sent,
      samples: samples.length,
      endToEndMs: summarize(samples.map((s) => s.endToEnd)),
      eventTimeWaitMs: summarize(samples.map((s) => s.wait)),
      beyondWaitMs: summarize(samples.map((s) => s.beyond)),
    };
    console.log(`live ${o.name}: end to end ${JSON.stringify(run.endToEndMs)}; event-time wait ${JSON.stringify(run.eventTimeWaitMs)}; beyond ${JSON.stringify(run.beyondWaitMs)}`);
    return run;
  } finally {
    await close();
  }
}
