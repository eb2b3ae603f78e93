import { describe, expect, it } from 'vitest';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../../../src/aggregation/partition-aggregator.js';
import { LatencyHistogram } from '../../../src/events/latency-histogram.js';
import type { CohortPartial } from '../../../src/events/cohort-stats.js';
import type { FeatureEvent, FlagExposure } from '../../../src/events/feature-event.js';
import { PmfError } from '../../../src/core/errors.js';
import { logicalStats, ruleSet } from './rules-fixture.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

let idCounter = 0;
function ev(user: string, time: number, opts: Partial<Omit<FeatureEvent, 'user' | 'time'>> & { flag?: [string, string] } = {}): FeatureEvent {
  const flags: FlagExposure[] = opts.flags ?? (opts.flag ? [{ feature: opts.flag[0], variant: opts.flag[1] }] : []);
  return {
    user,
    time,
    id: opts.id ?? `id-${++idCounter}`,
    name: opts.name ?? 'page',
    flags,
    source: 'span',
    ...(opts.durationMs !== undefined ? { durationMs: opts.durationMs } : {}),
    ...(opts.attrs !== undefined ? { attrs: opts.attrs } : {}),
  };
}

class Feeder {
  offset = 0;
  constructor(readonly agg: PartitionAggregator) {}
  feed(...events: FeatureEvent[]): this {
    for (const e of events) this.agg.apply(e, String(this.offset++));
    return this;
  }
  cohort(feature: string, cohort: string): CohortPartial {
    const p = this.agg.snapshot().find((c) => c.feature === feature && c.cohort === cohort);
    if (!p) throw new Error(`no partial for ${feature}/${cohort}`);
    return p;
  }
}

// One-hour activation window, retention from 1 h to 3 h, no lateness: easy to compute by hand.
const RULES = ruleSet([
  {
    featureId: 'checkout-v2',
    activation: { action: { spanName: 'purchase' }, windowSeconds: 3600 },
    retention: { returnAfterSeconds: 3600, windowSeconds: 3 * 3600 },
    cohorts: { map: { on: 'treatment', off: 'control' } },
  },
]);

function make(opts: Partial<PartitionAggregatorOptions> = {}): Feeder {
  return new Feeder(new PartitionAggregator({ partition: 3, rules: RULES, allowedLatenessMs: 0, ...opts }));
}

describe('exposure and cohorts', () => {
  it('maps variants to cohorts, counts distinct users once, ignores features without a rule', () => {
    const f = make().feed(
      ev('a', 1000, { flag: ['checkout-v2', 'on'] }),
      ev('a', 2000, { flag: ['checkout-v2', 'on'] }),
      ev('b', 1500, { flag: ['checkout-v2', 'off'] }),
      ev('c', 1200, { flag: ['checkout-v2', 'beta'] }),
      ev('d', 1300, { flag: ['other', 'on'] }),
    );
    const snap = f.agg.snapshot();
    expect(snap.map((p) => [p.cohort, p.exposed, p.firstExposureAt])).toEqual([
      ['beta', 1, 1200],
      ['control', 1, 1500],
      ['treatment', 1, 1000],
    ]);
    expect(snap.every((p) => p.partition === 3 && p.offset === '5' && p.watermark === 2000)).toBe(true);
    expect(f.agg.stats()).toMatchObject({ untracked: 1, trackedUsers: 3, events: 5 });
  });

  it('keeps a user in the first cohort and counts the switch once', () => {
    const f = make().feed(
      ev('a', 1000, { flag: ['checkout-v2', 'on'] }),
      ev('a', 2000, { flag: ['checkout-v2', 'off'] }),
      ev('a', 3000, { flag: ['checkout-v2', 'off'] }),
    );
    expect(f.cohort('checkout-v2', 'treatment')).toMatchObject({ exposed: 1, cohortSwitches: 1 });
    expect(f.agg.snapshot().map((p) => p.cohort)).toEqual(['treatment']);
  });

  it('caps cohorts per feature and counts the overflow', () => {
    const f = make({ maxCohortsPerFeature: 2 }).feed(
      ev('a', 1, { flag: ['checkout-v2', 'v1'] }),
      ev('b', 2, { flag: ['checkout-v2', 'v2'] }),
      ev('c', 3, { flag: ['checkout-v2', 'v3'] }),
      ev('d', 4, { flag: ['checkout-v2', 'v3'] }),
      ev('e', 5, { flag: ['checkout-v2', 'v1'] }),
    );
    expect(f.agg.snapshot().map((p) => [p.cohort, p.exposed])).toEqual([
      ['v1', 2],
      ['v2', 1],
    ]);
    expect(f.agg.stats().cohortOverflow).toBe(2);
  });
});

describe('activation and retention with maturity', () => {
  it('counts activation within the window, on spans without the flag, only once matured', () => {
    const f = make().feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'] }),
      ev('b', 0, { flag: ['checkout-v2', 'on'] }),
      ev('c', 10 * MIN, { flag: ['checkout-v2', 'on'] }),
      ev('a', 30 * MIN, { name: 'purchase' }), // in window, no flag on the span
      ev('c', 10 * MIN + HOUR, { name: 'purchase' }), // exactly at the window end: inclusive
    );
    // Watermark = 70 min: a and b matured (0 + 60 min); c's window (to 70 min) also just matured.
    expect(f.cohort('checkout-v2', 'treatment').activation).toMatchObject({ matured: 3, successes: 2 });

    const g = make().feed(ev('a', 0, { flag: ['checkout-v2', 'on'] }), ev('a', 5 * MIN, { name: 'purchase' }));
    // Activated but the window is open: neither a success nor a failure yet.
    expect(g.cohort('checkout-v2', 'treatment').activation).toMatchObject({ matured: 0, successes: 0 });
    g.feed(ev('b', 61 * MIN, { name: 'page' }));
    expect(g.cohort('checkout-v2', 'treatment').activation).toMatchObject({ matured: 1, successes: 1 });
  });

  it('does not count an action after the window or before the exposure', () => {
    const f = make().feed(
      ev('a', 0, { name: 'purchase' }), // before exposure: a is not exposed yet
      ev('a', 1, { flag: ['checkout-v2', 'on'] }),
      ev('a', HOUR + 2, { name: 'purchase' }),
    );
    expect(f.cohort('checkout-v2', 'treatment').activation).toMatchObject({ matured: 1, successes: 0 });
  });

  it('the exposing span can itself be the action', () => {
    const f = make().feed(ev('a', 0, { name: 'purchase', flag: ['checkout-v2', 'on'] }), ev('z', 2 * HOUR));
    expect(f.cohort('checkout-v2', 'treatment').activation).toMatchObject({ matured: 1, successes: 1 });
  });

  it('matches attribute actions, requiring both name and attribute when both are set', () => {
    const rules = ruleSet([
      { featureId: 'f', activation: { action: { attribute: { key: 'action', value: 'buy' } }, windowSeconds: 3600 } },
      { featureId: 'g', activation: { action: { spanName: 'click', attribute: { key: 'action', value: 'buy' } }, windowSeconds: 3600 } },
    ]);
    const f = new Feeder(new PartitionAggregator({ partition: 0, rules, allowedLatenessMs: 0 })).feed(
      ev('a', 0, { flags: [{ feature: 'f', variant: 'on' }, { feature: 'g', variant: 'on' }] }),
      ev('b', 0, { flags: [{ feature: 'f', variant: 'on' }, { feature: 'g', variant: 'on' }] }),
      ev('a', 10, { name: 'page', attrs: { action: 'buy' } }),
      ev('b', 10, { name: 'click', attrs: { action: 'buy' } }),
      ev('b', 20, { name: 'click', attrs: { action: 'constructor' } }),
      ev('z', HOUR),
    );
    expect(f.cohort('f', 'on').activation).toMatchObject({ matured: 2, successes: 2 });
    expect(f.cohort('g', 'on').activation).toMatchObject({ matured: 2, successes: 1 });
  });

  it('has no activation statistics without an action', () => {
    const rules = ruleSet([{ featureId: 'f' }]);
    const f = new Feeder(new PartitionAggregator({ partition: 0, rules, allowedLatenessMs: 0 })).feed(
      ev('a', 0, { flag: ['f', 'on'] }),
      ev('z', 10 * 86_400_000),
    );
    expect(f.cohort('f', 'on').activation).toMatchObject({ matured: 0, successes: 0 });
    expect(f.cohort('f', 'on').retention).toEqual({ matured: 1, successes: 0 });
  });

  it('retention counts returns in [returnAfter, window) and matures at the window end', () => {
    const f = make().feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'] }),
      ev('b', 0, { flag: ['checkout-v2', 'on'] }),
      ev('c', 0, { flag: ['checkout-v2', 'on'] }),
      ev('a', 30 * MIN), // too early
      ev('b', HOUR), // exactly returnAfter: counts
      ev('c', 3 * HOUR - 1), // last ms of the window: counts
    );
    expect(f.cohort('checkout-v2', 'treatment').retention).toEqual({ matured: 0, successes: 0 });
    f.feed(ev('a', 3 * HOUR)); // window end is exclusive for returns, and it matures everyone
    expect(f.cohort('checkout-v2', 'treatment').retention).toEqual({ matured: 3, successes: 2 });
  });
});

describe('latency', () => {
  it('records spans that carry the flag, with the user as the unit', () => {
    const f = make().feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'], durationMs: 100 }),
      ev('a', 1, { flag: ['checkout-v2', 'on'], durationMs: 500 }),
      ev('a', 2, { flag: ['checkout-v2', 'on'], durationMs: 900.2 }),
      ev('b', 3, { flag: ['checkout-v2', 'on'], durationMs: 450 }), // not slow: threshold is strict
      ev('b', 4, { durationMs: 3000 }), // no flag, no latency span name: not this feature's latency
    );
    const lat = f.cohort('checkout-v2', 'treatment').latency;
    expect(lat).toMatchObject({ count: 4, slow: 2, users: 2, sumN2: 9 + 1, sumSlow2: 4, sumNSlow: 3 * 2 });
    const h = LatencyHistogram.fromBase64(lat.histogram);
    expect(h.count).toBe(4);
    expect(h.max).toBe(901);
    expect(h.valueAtPercentile(50)).toBe(h.highestEquivalentValue(450));
  });

  it('joins named spans to the user cohort, with slack before the exposure, and counts the rest', () => {
    const rules = ruleSet([{ featureId: 'f', latency: { spanName: 'GET /dashboard' } }]);
    const f = new Feeder(new PartitionAggregator({ partition: 0, rules, allowedLatenessMs: 0, latencyJoinSlackMs: 1000 })).feed(
      ev('a', 5000, { name: 'GET /dashboard', durationMs: 10 }), // a not exposed yet
      ev('a', 6000, { name: 'eval', flag: ['f', 'on'] }),
      ev('a', 5500, { name: 'GET /dashboard', durationMs: 20 }), // parent span started 500 ms earlier
      ev('a', 4000, { name: 'GET /dashboard', durationMs: 30 }), // 2 s before: beyond the slack
      ev('a', 7000, { name: 'other', durationMs: 40 }),
      ev('b', 8000, { name: 'GET /dashboard', flag: ['f', 'off'], durationMs: 50 }), // same span exposes and measures
      ev('c', 8000, { name: 'GET /dashboard', durationMs: -5 }), // unjoined anyway
    );
    expect(f.cohort('f', 'on').latency).toMatchObject({ count: 1, users: 1 });
    expect(LatencyHistogram.fromBase64(f.cohort('f', 'on').latency.histogram).max).toBe(20);
    expect(f.cohort('f', 'off').latency).toMatchObject({ count: 1, users: 1 });
    expect(f.agg.stats().latencyUnjoined).toBe(3);
  });

  it('counts invalid durations instead of recording them', () => {
    const f = make().feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'], durationMs: -1 }),
      ev('a', 1, { flag: ['checkout-v2', 'on'], durationMs: Number.NaN }),
    );
    expect(f.cohort('checkout-v2', 'treatment').latency.count).toBe(0);
    expect(f.agg.stats().invalidDurations).toBe(2);
  });
});

describe('event time, late data, duplicates, replays', () => {
  it('counts late events and still applies them while the window is open', () => {
    const f = make({ allowedLatenessMs: 10 * MIN }).feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'] }),
      ev('z', 65 * MIN), // watermark 55 min
      ev('a', 50 * MIN, { name: 'purchase' }), // late, window open until 60 min
    );
    expect(f.agg.stats().lateEvents).toBe(1);
    f.feed(ev('z', 71 * MIN)); // watermark 61 min: a matures
    expect(f.cohort('checkout-v2', 'treatment').activation).toMatchObject({ matured: 1, successes: 1 });
  });

  it('applies a late success to a matured window within the grace, and counts it', () => {
    const f = make({ lateGraceMs: 2 * HOUR }).feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'] }),
      ev('z', 2 * HOUR), // matures a's activation (window 1 h) as not activated
    );
    expect(f.cohort('checkout-v2', 'treatment').activation).toMatchObject({ matured: 1, successes: 0 });
    f.feed(ev('a', 30 * MIN, { name: 'purchase' })); // 1.5 h late, the window closes at 1 h + 2 h
    expect(f.cohort('checkout-v2', 'treatment').activation).toMatchObject({ matured: 1, successes: 1 });
    expect(f.agg.stats()).toMatchObject({ lateEvents: 1, lateApplied: 1, lateIgnored: 0 });
  });

  it('ignores (and counts) effects that arrive after their window closed (end + grace)', () => {
    const f = make({ lateGraceMs: 30 * MIN }).feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'] }),
      ev('z', 2 * HOUR), // activation closed at 1 h 30; the state lives on for retention
      ev('a', 30 * MIN, { name: 'purchase' }),
    );
    expect(f.cohort('checkout-v2', 'treatment').activation).toMatchObject({ matured: 1, successes: 0 });
    expect(f.agg.stats()).toMatchObject({ lateEvents: 1, lateIgnored: 1, tooLate: 0 });
  });

  it('duplicates change no statistic', () => {
    const base = [
      ev('a', 0, { flag: ['checkout-v2', 'on'], durationMs: 700, id: 't1s1' }),
      ev('a', 10, { name: 'purchase', id: 't1s2' }),
      ev('z', 2 * HOUR, { id: 't9s9' }),
    ];
    const once = make().feed(...base);
    const twice = make().feed(base[0], base[0], base[1], base[0], base[1], base[2], base[2]);
    const strip = (ps: CohortPartial[]) => ps.map((p) => ({ ...p, offset: '' }));
    expect(strip(twice.agg.snapshot())).toEqual(strip(once.agg.snapshot()));
    // z has no state: its resend changes nothing and is not remembered, so it is not counted.
    expect(twice.agg.stats().duplicates).toBe(3);
    expect(twice.agg.snapshot()[0]).toMatchObject({ exposed: 1, activation: { matured: 1, successes: 1 }, latency: { count: 1 } });
  });

  it('refuses only events older than the lateness horizon, and catches resends whatever their time', () => {
    const f = make({ maxLatenessMs: HOUR }).feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'], id: 'x', durationMs: 10 }),
      ev('z', 2 * HOUR, { id: 'y' }), // horizon = 1 h
      ev('a', 0, { flag: ['checkout-v2', 'on'], id: 'x', durationMs: 10 }), // every window it could affect closed
      ev('b', HOUR, { flag: ['checkout-v2', 'on'] }), // at the horizon: refused too
      ev('c', HOUR + 1, { flag: ['checkout-v2', 'on'] }), // just inside: accepted, late
    );
    expect(f.cohort('checkout-v2', 'treatment').exposed).toBe(2);
    expect(f.agg.stats()).toMatchObject({ tooLate: 2, duplicates: 0, lateEvents: 1 });

    // With the default horizon (longest window 3 h + grace 6 h), a resend two hours later is caught.
    const g = make().feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'], id: 'x', durationMs: 10 }),
      ev('z', 2 * HOUR, { id: 'y' }),
      ev('a', 0, { flag: ['checkout-v2', 'on'], id: 'x', durationMs: 10 }),
    );
    expect(g.cohort('checkout-v2', 'treatment')).toMatchObject({ exposed: 1, latency: { count: 1 } });
    expect(g.agg.stats()).toMatchObject({ tooLate: 0, duplicates: 1 });
  });

  it('remembers only ids that reached a live state, and caps them without refusing anything', () => {
    const f = make({ maxDedupeEntries: 2, allowedLatenessMs: HOUR }).feed(
      ev('n', 50, { id: '0' }), // no state: nothing to protect, not remembered
      ev('a', 100, { id: '1', flag: ['checkout-v2', 'on'] }),
      ev('a', 200, { id: '2' }),
      ev('a', 300, { id: '3' }), // forgets id 1 (counted)
      ev('a', 100, { id: '1', flag: ['checkout-v2', 'on'] }), // no longer caught, but idempotent: exposed once
    );
    expect(f.agg.stats()).toMatchObject({ events: 5, tooLate: 0, duplicates: 0, dedupeEntries: 2, dedupeEvictedByCap: 2 });
    expect(f.cohort('checkout-v2', 'treatment').exposed).toBe(1);
  });

  it('skips re-delivered offsets', () => {
    const agg = new PartitionAggregator({ partition: 0, rules: RULES });
    agg.apply(ev('a', 0, { flag: ['checkout-v2', 'on'] }), '10');
    agg.apply(ev('b', 0, { flag: ['checkout-v2', 'on'] }), '10');
    agg.apply(ev('c', 0, { flag: ['checkout-v2', 'on'] }), '9');
    agg.apply(ev('d', 0, { flag: ['checkout-v2', 'on'] }), '100');
    expect(agg.snapshot()[0]).toMatchObject({ exposed: 2, offset: '101' });
    expect(agg.stats().replayedRecords).toBe(2);
    expect(() => agg.apply(ev('e', 0), 'x1')).toThrow(PmfError);
  });

  it('counts invalid events', () => {
    const noVariant = { ...ev('a', 5), flags: [{ feature: 'checkout-v2' }] } as unknown as FeatureEvent;
    const textDuration = { ...ev('a', 5), durationMs: '12' } as unknown as FeatureEvent;
    const f = make().feed(ev('a', Number.NaN), ev('', 5), noVariant, textDuration);
    expect(f.agg.stats()).toMatchObject({ invalidEvents: 4, events: 0 });
    expect(f.agg.snapshot()).toEqual([]);
  });
});

describe('eviction', () => {
  it('keeps a matured state for the grace, so late data still lands, then evicts it', () => {
    const f = make({ lateGraceMs: HOUR }).feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'] }),
      ev('z', 3 * HOUR + 30 * MIN), // both windows matured (3 h), grace until 4 h
    );
    expect(f.agg.stats()).toMatchObject({ trackedUsers: 1, evictedUsers: 0 });
    f.feed(ev('a', 2 * HOUR)); // a late return: applied
    expect(f.cohort('checkout-v2', 'treatment').retention).toEqual({ matured: 1, successes: 1 });
    f.feed(ev('z', 4 * HOUR));
    expect(f.agg.stats()).toMatchObject({ trackedUsers: 0, evictedUsers: 1, lateApplied: 1 });
  });

  it('evicts a user once both windows matured, and never re-exposes them', () => {
    const f = make({ lateGraceMs: 0 }).feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'], durationMs: 10 }),
      ev('a', 2 * HOUR), // returned
      ev('z', 3 * HOUR),
    );
    expect(f.agg.stats()).toMatchObject({ trackedUsers: 0, evictedUsers: 1, retiredUsers: 1 });
    expect(f.cohort('checkout-v2', 'treatment')).toMatchObject({ exposed: 1, retention: { matured: 1, successes: 1 } });
    f.feed(ev('a', 3 * HOUR + 1, { flag: ['checkout-v2', 'off'], durationMs: 20 }));
    expect(f.agg.snapshot().map((p) => [p.cohort, p.exposed, p.latency.count])).toEqual([['treatment', 1, 1]]);
    expect(f.agg.stats().afterClose).toBe(1);
  });

  it('forgets the oldest markers beyond maxRetiredUsers and says so', () => {
    const f = make({ maxRetiredUsers: 1, lateGraceMs: 0 }).feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'] }),
      ev('b', 1, { flag: ['checkout-v2', 'on'] }),
      ev('z', 4 * HOUR),
      ev('a', 4 * HOUR, { flag: ['checkout-v2', 'on'] }), // a's marker was forgotten: counted as new
      ev('b', 4 * HOUR, { flag: ['checkout-v2', 'on'] }),
    );
    expect(f.agg.stats()).toMatchObject({ forgottenUsers: 1, afterClose: 1 });
    expect(f.cohort('checkout-v2', 'treatment').exposed).toBe(3);
  });
});

describe('rules changes', () => {
  it('freezes features that lose their rule and resumes them', () => {
    const f = make().feed(ev('a', 0, { flag: ['checkout-v2', 'on'] }));
    f.agg.setRules(ruleSet([{ featureId: 'other' }]));
    f.feed(ev('b', 1, { flag: ['checkout-v2', 'on'] }), ev('z', 10 * HOUR));
    expect(f.agg.snapshot()).toEqual([]);
    expect(f.agg.stats().untracked).toBe(1);
    f.agg.setRules(RULES);
    expect(f.cohort('checkout-v2', 'treatment')).toMatchObject({ exposed: 1, activation: { matured: 1, successes: 0 } });
    expect(f.agg.ruleVersion).toBe('test');
  });

  it('a shorter window matures users immediately', () => {
    const f = make().feed(ev('a', 0, { flag: ['checkout-v2', 'on'] }), ev('z', 30 * MIN));
    expect(f.cohort('checkout-v2', 'treatment').activation.matured).toBe(0);
    f.agg.setRules(
      ruleSet([{ featureId: 'checkout-v2', activation: { action: { spanName: 'purchase' }, windowSeconds: 600 }, cohorts: { map: { on: 'treatment' } } }]),
    );
    expect(f.cohort('checkout-v2', 'treatment').activation.matured).toBe(1);
  });
});

describe('checkpoints', () => {
  function scenario(): Feeder {
    idCounter = 0; // same ids on every call
    return make({ allowedLatenessMs: 5 * MIN }).feed(
      ev('a', 0, { flag: ['checkout-v2', 'on'], durationMs: 120 }),
      ev('b', 1000, { flag: ['checkout-v2', 'off'], durationMs: 800 }),
      ev('a', 20 * MIN, { name: 'purchase' }),
      ev('c', 30 * MIN, { flag: ['checkout-v2', 'on'] }),
      ev('a', 2 * HOUR, { flag: ['checkout-v2', 'off'] }),
      ev('d', 3 * HOUR + 6 * MIN, { flag: ['unknown', 'x'] }),
    );
  }

  it('restore(serialize()) reproduces state and snapshots byte for byte', () => {
    const f = scenario();
    const bytes = f.agg.serialize();
    const back = PartitionAggregator.restore(bytes, { partition: 3, rules: RULES, allowedLatenessMs: 5 * MIN });
    expect(back.serialize().equals(bytes)).toBe(true);
    expect(back.snapshot()).toEqual(f.agg.snapshot());
    expect(logicalStats(back)).toEqual(logicalStats(f.agg));
    expect(JSON.stringify(back.snapshot())).toBe(JSON.stringify(f.agg.snapshot()));
  });

  it('is deterministic', () => {
    expect(scenario().agg.serialize().equals(scenario().agg.serialize())).toBe(true);
    expect(JSON.stringify(scenario().agg.snapshot())).toBe(JSON.stringify(scenario().agg.snapshot()));
  });

  it('refuses corrupt state and state of another partition', () => {
    const bytes = scenario().agg.serialize();
    const code = (b: Uint8Array, partition = 3) => {
      try {
        PartitionAggregator.restore(b, { partition, rules: RULES });
        return 'restored';
      } catch (err) {
        return (err as PmfError).code;
      }
    };
    expect(code(bytes.subarray(0, bytes.length - 3))).toBe('ERR_STATE_CORRUPT');
    expect(code(Buffer.concat([bytes, Buffer.from([1])]))).toBe('ERR_STATE_CORRUPT');
    expect(code(Buffer.from('hello'))).toBe('ERR_STATE_CORRUPT');
    expect(code(bytes, 4)).toBe('ERR_INTERNAL');
  });

  it('rejects invalid options', () => {
    expect(() => new PartitionAggregator({ partition: -1, rules: RULES })).toThrow(PmfError);
    expect(() => new PartitionAggregator({ partition: 0, rules: RULES, maxCohortsPerFeature: 0 })).toThrow(/maxCohortsPerFeature/);
    expect(() => new PartitionAggregator({ partition: 0, rules: RULES, allowedLatenessMs: Number.NaN })).toThrow(/allowedLatenessMs/);
  });
});
