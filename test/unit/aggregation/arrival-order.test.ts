// Arrival order of real streams, at the aggregator: a collector's 3 h backlog flushed while live
// traffic continues, a client two days late, and a sender whose clock runs 30 minutes ahead. In
// each, every aggregate equals the oracle's recomputation from the records, nothing that can still
// affect an open window is refused, and once the windows have closed the aggregates equal those of
// the same events sent in event-time order.

import { describe, expect, it } from 'vitest';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../../../src/aggregation/partition-aggregator.js';
import type { CohortPartial } from '../../../src/events/cohort-stats.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { oracleAggregate, type OracleRecord } from '../../helpers/aggregation-oracle.js';
import { mulberry32 } from '../../helpers/prng.js';
import { ruleSet } from './rules-fixture.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 10, 1);

const RULES = ruleSet([
  {
    featureId: 'recs',
    latencyP95Threshold: 200,
    activation: { action: { spanName: 'click' }, windowSeconds: 3600 },
    retention: { returnAfterSeconds: 1800, windowSeconds: 3 * 3600 },
    latency: { spanName: 'GET /dashboard' },
    cohorts: { control: 'control' },
  },
]);

const OPTIONS = { partition: 0, rules: RULES, allowedLatenessMs: 5 * MIN } satisfies PartitionAggregatorOptions;

/** One user's spans: exposure, two dashboard requests, sometimes a click, sometimes a return. */
function userEvents(i: number, at: number, origin: string, rand: () => number): FeatureEvent[] {
  const user = `u${i}`;
  const cohort = i % 2 === 0 ? 'control' : 'treatment';
  const out: FeatureEvent[] = [
    { user, time: at, id: `${user}-x`, name: 'render', flags: [{ feature: 'recs', variant: cohort }], source: 'span', origin },
  ];
  for (let r = 0; r < 2; r++) {
    out.push({ user, time: at + 1000 + r * MIN, id: `${user}-d${r}`, name: 'GET /dashboard', durationMs: 100 + Math.round(rand() * 200), flags: [], source: 'span', origin });
  }
  if (rand() < 0.4) out.push({ user, time: at + 10 * MIN, id: `${user}-c`, name: 'click', flags: [], source: 'span', origin });
  if (rand() < 0.5) out.push({ user, time: at + 45 * MIN, id: `${user}-r`, name: 'page', flags: [], source: 'span', origin });
  return out;
}

/** Users arriving evenly over `hours` per origin, sent in real-time order (a skewed clock only shifts its timestamps). */
function traffic(origins: string[], hours: number, usersPerOrigin: number, skewMs: Record<string, number> = {}): FeatureEvent[] {
  const rand = mulberry32(11);
  const events: FeatureEvent[] = [];
  origins.forEach((origin, o) => {
    for (let k = 0; k < usersPerOrigin; k++) {
      const at = T0 + Math.floor((k / usersPerOrigin) * hours * HOUR) + (skewMs[origin] ?? 0);
      events.push(...userEvents(o * usersPerOrigin + k, at, origin, rand));
    }
  });
  const real = (e: FeatureEvent) => e.time - (skewMs[e.origin as string] ?? 0);
  return events.sort((a, b) => real(a) - real(b) || (a.id < b.id ? -1 : 1));
}

/** A closing tick far ahead, so every window has closed and the aggregates are final. */
const closing = (t: number): FeatureEvent => ({ user: 'tick', time: t, id: `tick-${t}`, name: 'tick', flags: [], source: 'span', origin: 'live' });

function run(events: FeatureEvent[], options: PartitionAggregatorOptions = OPTIONS) {
  const records: OracleRecord[] = events.map((event, i) => ({ event, offset: String(i) }));
  const agg = new PartitionAggregator(options);
  for (const r of records) agg.apply(r.event, r.offset);
  expect(agg.snapshot()).toEqual(oracleAggregate(records, options).partials);
  return agg;
}

const statsOnly = (ps: CohortPartial[]) => ps.map(({ offset: _o, ...rest }) => rest);

describe('arrival order at the aggregator', () => {
  it('a 3 h backlog from one source, flushed while live traffic continues: nothing refused, same aggregates as in order', () => {
    const all = traffic(['live', 'edge'], 6, 300);
    const end = closing(T0 + 20 * HOUR);
    const isBacklog = (e: FeatureEvent) => e.origin === 'edge' && e.time >= T0 + 2 * HOUR && e.time < T0 + 5 * HOUR;
    const flushAt = all.findIndex((e) => e.time >= T0 + 5 * HOUR);
    const outage = [...all.slice(0, flushAt).filter((e) => !isBacklog(e)), ...all.filter(isBacklog), ...all.slice(flushAt).filter((e) => !isBacklog(e)), end];

    const inOrder = run([...all, end]);
    const late = run(outage);
    const s = late.stats();
    expect(s.tooLate).toBe(0);
    expect(s.lateEvents).toBeGreaterThan(500);
    expect(s.lateIgnored).toBe(0);
    expect(s.events).toBe(outage.length);
    expect(statsOnly(late.snapshot())).toEqual(statsOnly(inOrder.snapshot()));
    // The live source kept the watermark moving during the outage: windows matured on time.
    expect(s.lateApplied).toBeGreaterThan(0);
     
    console.info(JSON.stringify({ outage: { events: outage.length, accepted: s.events, late: s.lateEvents, refused: s.tooLate, lateApplied: s.lateApplied, duplicates: s.duplicates } }));
  });

  it('a client two days late is applied where a window is still open, refused and counted where none is', () => {
    const week = ruleSet([{ featureId: 'recs', retention: { returnAfterSeconds: 86_400, windowSeconds: 7 * 86_400 }, activation: { action: { spanName: 'click' }, windowSeconds: 86_400 } }]);
    const day = ruleSet([{ featureId: 'recs', retention: { returnAfterSeconds: 1800, windowSeconds: 3 * 3600 }, activation: { action: { spanName: 'click' }, windowSeconds: 3600 } }]);
    const live = traffic(['live'], 60, 200);
    const rand = mulberry32(5);
    const phone = userEvents(9999, T0 + 3 * HOUR, 'phone', rand).map((e) => ({ ...e, id: `phone-${e.id}` }));
    const back = live.findIndex((e) => e.time >= T0 + 51 * HOUR); // the phone comes online two days later
    const stream = [...live.slice(0, back), ...phone, ...live.slice(back)];

    const withWeek = run(stream, { ...OPTIONS, rules: week });
    expect(withWeek.stats()).toMatchObject({ tooLate: 0 });
    const ws = withWeek.snapshot().find((p) => p.cohort === 'treatment')!;
    expect(ws.exposed).toBe(live.filter((e) => e.flags[0]?.variant === 'treatment').length + 1);

    // One-day rules: the horizon is 1 day + 6 h grace, so two days late is past every window.
    const withDay = run(stream, { ...OPTIONS, rules: day });
    expect(withDay.stats().tooLate).toBe(phone.length);
  });

  it('a source whose clock runs 30 minutes ahead cannot push the watermark past the others', () => {
    const events = traffic(['steady', 'fast'], 4, 300, { fast: 30 * MIN });
    const agg = run(events);
    const steadyMax = Math.max(...events.filter((e) => e.origin === 'steady').map((e) => e.time));
    const s = agg.stats();
    expect(s.watermark).toBe(steadyMax - 5 * MIN);
    expect(s).toMatchObject({ tooLate: 0, lateIgnored: 0, sources: 2, activeSources: 2 });
    // Without origins the fast clock would have set the pace: that is what the grouping prevents.
    const merged = run(events.map(({ origin: _o, ...e }) => e));
    expect(merged.stats().watermark).toBeGreaterThan(s.watermark! + 25 * MIN);
  });
});
