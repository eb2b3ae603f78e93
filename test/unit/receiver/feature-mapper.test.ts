import { describe, expect, it } from 'vitest';
import { mapLogs, mapTraces, type MapperOptions } from '../../../src/receiver/mapping/feature-mapper.js';
import { createProtobufDecoder } from '../../../src/receiver/decode/otlp-decoder.js';
import { Pseudonymizer } from '../../../src/receiver/mapping/pseudonymizer.js';
import { logBytes, NOW, recordLogs, recordSpans, tamper, traceBytes, withLogTimes } from './otlp-fixtures.js';

const decoder = createProtobufDecoder();
const pseudo = new Pseudonymizer('unit-test-key-0123456789');
const opts = (extra: Partial<MapperOptions> = {}): MapperOptions => ({
  attributeKeys: new Set(), now: NOW, pseudonymize: pseudo.fn, ...extra,
});
const mapSpans = (bytes: Uint8Array, extra?: Partial<MapperOptions>) => mapTraces(decoder.decodeTraces(bytes), opts(extra));
const mapLogBytes = (bytes: Uint8Array, extra?: Partial<MapperOptions>) => mapLogs(decoder.decodeLogs(bytes), opts(extra));

describe('mapTraces: span attributes', () => {
  it('maps the current attribute names to one event per span', async () => {
    const start = NOW - 7_200_000;
    const spans = await recordSpans([{
      name: 'GET /dashboard', startMs: start, endMs: start + 450,
      attributes: { 'feature_flag.key': 'new-dashboard', 'feature_flag.result.variant': 'treatment', 'feature_flag.context.id': 'user-1' },
    }]);
    const r = mapSpans(traceBytes(spans));
    const ctx = spans[0].spanContext();
    expect(r).toMatchObject({ received: 1, rejected: 0 });
    expect(r.events).toEqual([{
      user: pseudo.pseudonymize('user-1'), time: start, id: ctx.traceId + ctx.spanId, name: 'GET /dashboard',
      durationMs: 450, flags: [{ feature: 'new-dashboard', variant: 'treatment' }], source: 'span',
    }]);
  });

  it('accepts the deprecated feature_flag.variant, preferring the current name when both are set', async () => {
    const spans = await recordSpans([
      { name: 'a', attributes: { 'feature_flag.key': 'f', 'feature_flag.variant': 'old', 'user.id': 'u' } },
      { name: 'b', attributes: { 'feature_flag.key': 'f', 'feature_flag.variant': 'old', 'feature_flag.result.variant': 'new', 'user.id': 'u' } },
    ]);
    const r = mapSpans(traceBytes(spans));
    expect(r.events.map((e) => e.flags)).toEqual([[{ feature: 'f', variant: 'old' }], [{ feature: 'f', variant: 'new' }]]);
  });

  it('takes the user from context.id, then enduser.id, then user.id, then the resource', async () => {
    const spans = await recordSpans([
      { name: 'all', attributes: { 'user.id': 'c', 'enduser.id': 'b', 'feature_flag.context.id': 'a' } },
      { name: 'enduser', attributes: { 'user.id': 'c', 'enduser.id': 'b' } },
      { name: 'user', attributes: { 'user.id': 'c' } },
      { name: 'numeric', attributes: { 'user.id': 42 } },
      { name: 'resource' },
    ], { 'enduser.id': 'from-resource' });
    const r = mapSpans(traceBytes(spans));
    expect(r.events.map((e) => e.user)).toEqual(['a', 'b', 'c', '42', 'from-resource'].map(pseudo.fn));
  });

  it('names the sender of each event from the resource: service.name, with the instance when there is one', async () => {
    const withInstance = mapSpans(traceBytes(await recordSpans([{ name: 'a', attributes: { 'user.id': 'u' } }], { 'service.name': 'web', 'service.instance.id': 'pod-7' })));
    const serviceOnly = mapSpans(traceBytes(await recordSpans([{ name: 'a', attributes: { 'user.id': 'u' } }], { 'service.name': 'web' })));
    const none = mapSpans(traceBytes(await recordSpans([{ name: 'a', attributes: { 'user.id': 'u' } }])));
    expect(withInstance.events[0].origin).toBe('web/pod-7');
    expect(serviceOnly.events[0].origin).toBe('web');
    // Without a service on the resource the event has no origin (all such events share one).
    expect(none.events[0].origin).toBeUndefined();
  });

  it('records every span with a user, with or without flags (retention counts any activity)', async () => {
    const spans = await recordSpans([{ name: 'checkout', attributes: { 'enduser.id': 'u' } }]);
    const r = mapSpans(traceBytes(spans));
    expect(r.events).toHaveLength(1);
    expect(r.events[0].flags).toEqual([]);
  });

  it('skips spans without a user id and counts them, without rejecting', async () => {
    const spans = await recordSpans([{ name: 'health', attributes: { 'feature_flag.key': 'f', 'feature_flag.result.variant': 'on' } }]);
    const r = mapSpans(traceBytes(spans));
    expect(r).toMatchObject({ events: [], received: 1, rejected: 0, skipped: { no_user: 1 } });
  });
});

describe('mapTraces: feature_flag.evaluation span events', () => {
  it('turns each evaluation event into a flag exposure and reads the user from it', async () => {
    const spans = await recordSpans([{
      name: 'render', events: [
        { name: 'feature_flag.evaluation', attributes: { 'feature_flag.key': 'a', 'feature_flag.result.variant': 'on', 'feature_flag.context.id': 'u9' } },
        { name: 'feature_flag.evaluation', attributes: { 'feature_flag.key': 'b', 'feature_flag.variant': 'off' } },
        { name: 'exception', attributes: { 'feature_flag.key': 'ignored', 'feature_flag.result.variant': 'x' } },
      ],
    }]);
    const r = mapSpans(traceBytes(spans));
    expect(r.events).toHaveLength(1);
    expect(r.events[0].user).toBe(pseudo.fn('u9'));
    expect(r.events[0].flags).toEqual([{ feature: 'a', variant: 'on' }, { feature: 'b', variant: 'off' }]);
  });

  it('counts a flag without any variant as skipped and keeps the event', async () => {
    const spans = await recordSpans([{ name: 'x', attributes: { 'feature_flag.key': 'f', 'user.id': 'u' } }]);
    const r = mapSpans(traceBytes(spans));
    expect(r.events[0].flags).toEqual([]);
    expect(r.skipped).toEqual({ flag_without_variant: 1 });
  });
});

describe('mapTraces: rejects', () => {
  it('rejects broken ids, reversed and absurd times with a reason, and keeps the good spans', async () => {
    const good = { name: 'good', attributes: { 'user.id': 'u' } };
    const spans = await recordSpans([
      good, good, good, good,
      { ...good, startMs: Date.UTC(1999, 11, 31), endMs: Date.UTC(1999, 11, 31) + 1 },
      { ...good, startMs: NOW + 61 * 60_000, endMs: NOW + 61 * 60_000 + 1 },
      good,
      { ...good, startMs: NOW + 30 * 60_000, endMs: NOW + 30 * 60_000 + 1 },
    ]);
    const [s0, s1, s2, s3, ...rest] = spans;
    const tampered = [
      tamper(s0, { traceId: 'abcdef' }),
      tamper(s1, { spanId: '00000000000000' }),
      tamper(s2, { spanId: '0000000000000000' }),
      tamper(s3, { endTime: [s3.startTime[0] - 1, 0] }),
    ];
    const r = mapSpans(traceBytes([...tampered, ...rest]));
    expect(r.received).toBe(8);
    expect(r.rejected).toBe(6);
    expect(r.rejectReasons).toEqual({ invalid_trace_id: 1, invalid_span_id: 2, end_before_start: 1, timestamp_out_of_range: 2 });
    // A clock 30 min ahead passes (the watermark follows the slowest sender); over an hour: rejected.
    expect(r.events.map((e) => e.id)).toEqual([rest[2], rest[3]].map((s) => s.spanContext().traceId + s.spanContext().spanId));
  });

  it('rejects values longer than the limit', async () => {
    const long = 'x'.repeat(40);
    const spans = await recordSpans([
      { name: 'feature', attributes: { 'feature_flag.key': long, 'feature_flag.result.variant': 'on', 'user.id': 'u' } },
      { name: 'variant', attributes: { 'feature_flag.key': 'f', 'feature_flag.result.variant': long, 'user.id': 'u' } },
      { name: 'user', attributes: { 'user.id': long } },
      { name: 'wrong type', attributes: { 'feature_flag.key': 7, 'user.id': 'u' } },
      { name: 'ok', attributes: { 'feature_flag.key': 'f', 'feature_flag.result.variant': 'on', 'user.id': 'u' } },
    ]);
    const r = mapSpans(traceBytes(spans), { maxValueLength: 32 });
    expect(r.rejectReasons).toEqual({ value_too_long: 3, wrong_type: 1 });
    expect(r.events.map((e) => e.name)).toEqual(['ok']);
  });
});

describe('mapTraces: attrs projection', () => {
  it('keeps only string attributes whose keys a rule may match on', async () => {
    const spans = await recordSpans([
      { name: 'a', attributes: { 'user.id': 'u', 'http.route': '/checkout', 'app.step': 'pay', 'app.count': 3, 'secret': 's' } },
      { name: 'b', attributes: { 'user.id': 'u', 'secret': 's' } },
    ]);
    const r = mapSpans(traceBytes(spans), { attributeKeys: new Set(['http.route', 'app.step', 'app.count']) });
    expect(r.events[0].attrs).toEqual({ 'http.route': '/checkout', 'app.step': 'pay' });
    expect(r.events[1]).not.toHaveProperty('attrs');
  });
});

describe('mapLogs', () => {
  it('reads one exposure from a feature_flag.evaluation event record (event_name field)', async () => {
    const t = NOW - 30_000;
    const records = await recordLogs([{
      eventName: 'feature_flag.evaluation', timeMs: t,
      attributes: { 'feature_flag.key': 'f', 'feature_flag.result.variant': 'treatment', 'feature_flag.context.id': 'u1' },
    }]);
    const r = mapLogBytes(logBytes(records));
    expect(r.events).toHaveLength(1);
    expect(r.events[0]).toMatchObject({
      user: pseudo.fn('u1'), time: t, name: 'feature_flag.evaluation', source: 'log',
      flags: [{ feature: 'f', variant: 'treatment' }],
    });
    expect(r.events[0]).not.toHaveProperty('durationMs');
  });

  it('accepts the event.name attribute and the deprecated variant, with the user on the resource', async () => {
    const records = await recordLogs([{
      attributes: { 'event.name': 'feature_flag.evaluation', 'feature_flag.key': 'f', 'feature_flag.variant': 'b' },
    }], { 'user.id': 'r1' });
    const r = mapLogBytes(logBytes(records));
    expect(r.events[0]).toMatchObject({ user: pseudo.fn('r1'), flags: [{ feature: 'f', variant: 'b' }] });
  });

  it('turns other records with a user into activity events without flags', async () => {
    const records = await recordLogs([{ eventName: 'app.click', attributes: { 'user.id': 'u', 'feature_flag.key': 'f', 'feature_flag.result.variant': 'on' } }]);
    const r = mapLogBytes(logBytes(records));
    expect(r.events).toEqual([expect.objectContaining({ name: 'app.click', flags: [] })]);
  });

  it('uses the observed time when the record has none', async () => {
    const [rec] = await recordLogs([{ attributes: { 'user.id': 'u' } }]);
    const observed = NOW - 5_000;
    const r = mapLogBytes(logBytes([withLogTimes(rec, [0, 0], [Math.floor(observed / 1000), (observed % 1000) * 1e6])]));
    expect(r.events[0].time).toBe(observed);
  });

  it('gives two records of one span different ids, and a resent record the same id', async () => {
    const recs = await recordLogs([
      { body: 'first', attributes: { 'user.id': 'u' } },
      { body: 'second', attributes: { 'user.id': 'u' } },
    ]);
    const a = mapLogBytes(logBytes(recs));
    const again = mapLogBytes(logBytes(recs));
    expect(a.events[0].id).not.toBe(a.events[1].id);
    expect(again.events.map((e) => e.id)).toEqual(a.events.map((e) => e.id));
  });

  it('counts records without a user and rejects absurd times, keeping the good ones', async () => {
    const recs = await recordLogs([
      { attributes: { 'user.id': 'u' }, timeMs: Date.UTC(1990, 0, 1) },
      { attributes: { 'no.user': 'x' } },
      { attributes: { 'user.id': 'u' } },
    ]);
    const r = mapLogBytes(logBytes(recs));
    expect(r).toMatchObject({ received: 3, rejected: 1, rejectReasons: { timestamp_out_of_range: 1 }, skipped: { no_user: 1 } });
    expect(r.events).toHaveLength(1);
  });
});
