// LogEventSink's merging of concurrent publishes: what waits while sends are out goes as one send,
// in arrival order, capped in bytes, and each publish settles with the send that carried it; and
// its linger: publishes that come close together wait up to lingerMs to share a send, one after a
// quiet spell goes at once.

import { describe, expect, it } from 'vitest';
import { configDefaults } from '../../../src/config/schema.js';
import { ManualClock } from '../../../src/core/clock.js';
import { LogEventSink, MAX_MERGED_BYTES, MAX_SENDS_IN_FLIGHT } from '../../../src/receiver/event-sink.js';
import type { LogRecord } from '../../../src/log/partitioned-log.js';
import { decodeEventRecord } from '../../../src/events/event-record-codec.js';
import { encodeEventRecord } from '../../../src/events/event-record-writer.js';

interface Send {
  records: LogRecord[];
  resolve(): void;
  reject(err: Error): void;
}

/** A sink over a scripted producer, on a manual clock; lingerMs 0 (the merging tests) unless given, 'default' for none. */
function harness(lingerMs: number | 'default' = 0) {
  const sends: Send[] = [];
  const producer = {
    send: (_topic: string, records: LogRecord[]) => new Promise<void>((resolve, reject) => sends.push({ records, resolve, reject })),
  };
  const clock = new ManualClock(1_000_000);
  const sink = new LogEventSink({}, producer, 'events', 3, undefined, lingerMs === 'default' ? { clock } : { lingerMs, clock });
  return { sink, sends, clock };
}

const rec = (key: string, bytes = 10): LogRecord => ({ key, value: Buffer.alloc(bytes) });
const tick = () => new Promise((r) => setImmediate(r));

/** A lone publish of `key`, sent at once and acked: the publish right after it comes close enough to linger. */
async function sendAndAck(sink: LogEventSink, sends: Send[], key: string): Promise<void> {
  const published = sink.publish([rec(key)]);
  await tick();
  sends[sends.length - 1].resolve();
  await published;
}

describe('LogEventSink', () => {
  it('sends at once while fewer than the in-flight limit are out, then merges what waits, in order', async () => {
    const { sink, sends } = harness();
    const first = Array.from({ length: MAX_SENDS_IN_FLIGHT }, (_, i) => sink.publish([rec(`f${i}`)]));
    const waiting = [sink.publish([rec('a'), rec('b')]), sink.publish([rec('c')])];
    await tick();
    expect(sends).toHaveLength(MAX_SENDS_IN_FLIGHT);
    sends[0].resolve();
    await first[0];
    await tick();
    expect(sends).toHaveLength(MAX_SENDS_IN_FLIGHT + 1);
    expect(sends[MAX_SENDS_IN_FLIGHT].records.map((r) => r.key)).toEqual(['a', 'b', 'c']);
    sends[MAX_SENDS_IN_FLIGHT].resolve();
    await expect(Promise.all(waiting)).resolves.toBeDefined();
    for (let i = 1; i < MAX_SENDS_IN_FLIGHT; i++) sends[i].resolve();
    await Promise.all(first);
  });

  it('fails every publish merged into a failed send, and keeps sending later ones', async () => {
    const { sink, sends } = harness();
    const first = Array.from({ length: MAX_SENDS_IN_FLIGHT }, (_, i) => sink.publish([rec(`f${i}`)]));
    const merged = [sink.publish([rec('a')]), sink.publish([rec('b')])];
    await tick();
    sends[0].reject(new Error('broker gone'));
    await expect(first[0]).rejects.toThrow('broker gone');
    await tick();
    sends[MAX_SENDS_IN_FLIGHT].reject(new Error('still gone'));
    for (const p of merged) await expect(p).rejects.toThrow('still gone');
    const later = sink.publish([rec('z')]);
    await tick();
    expect(sends.at(-1)!.records.map((r) => r.key)).toEqual(['z']);
    sends.at(-1)!.resolve();
    await later;
    for (let i = 1; i < MAX_SENDS_IN_FLIGHT; i++) sends[i].resolve();
    await Promise.all(first.slice(1));
  });

  it('does not merge past the byte cap', async () => {
    const { sink, sends } = harness();
    const first = Array.from({ length: MAX_SENDS_IN_FLIGHT }, (_, i) => sink.publish([rec(`f${i}`)]));
    const big = Math.floor(MAX_MERGED_BYTES / 2) + 1;
    const waiting = [sink.publish([rec('a', big)]), sink.publish([rec('b', big)])];
    await tick();
    sends[0].resolve();
    await first[0];
    await tick();
    expect(sends.slice(MAX_SENDS_IN_FLIGHT).map((s) => s.records.map((r) => r.key))).toEqual([['a']]);
    sends[1].resolve();
    await first[1];
    await tick();
    expect(sends.slice(MAX_SENDS_IN_FLIGHT).map((s) => s.records.map((r) => r.key))).toEqual([['a'], ['b']]);
    for (const s of sends.slice(MAX_SENDS_IN_FLIGHT)) s.resolve();
    await Promise.all(waiting);
  });

  it('joins the waiting publishes\' event records for one partition into one record, events in order', async () => {
    const { sink, sends } = harness();
    const first = Array.from({ length: MAX_SENDS_IN_FLIGHT }, (_, i) => sink.publish([rec(`f${i}`)]));
    const event = (id: string) => ({ user: 'u1', time: 1, id, name: 'n', flags: [], source: 'span' as const });
    const waiting = [sink.publish([{ key: 'u1', value: encodeEventRecord([event('1'), event('2')]) }]), sink.publish([{ key: 'u1', value: encodeEventRecord([event('3')]) }])];
    await tick();
    sends[0].resolve();
    await first[0];
    await tick();
    const joined = sends[MAX_SENDS_IN_FLIGHT].records;
    expect(joined.map((r) => r.key)).toEqual(['u1']);
    expect(decodeEventRecord(joined[0].value).map((e) => e.id)).toEqual(['1', '2', '3']);
    sends[MAX_SENDS_IN_FLIGHT].resolve();
    await Promise.all(waiting);
    for (let i = 1; i < MAX_SENDS_IN_FLIGHT; i++) sends[i].resolve();
    await Promise.all(first);
  });

  it('resolves an empty publish without a send', async () => {
    const { sink, sends } = harness();
    await sink.publish([]);
    expect(sends).toHaveLength(0);
  });
});

describe('LogEventSink linger', () => {
  const LINGER = 5;
  const keysOf = (sends: Send[]) => sends.map((s) => s.records.map((r) => r.key));

  it('sends a publish after a quiet spell at once', async () => {
    const { sink, sends, clock } = harness(LINGER);
    const a = sink.publish([rec('a')]);
    await tick();
    expect(keysOf(sends)).toEqual([['a']]);
    sends[0].resolve();
    await a;
    clock.advance(LINGER);
    const b = sink.publish([rec('b')]);
    await tick();
    expect(keysOf(sends)).toEqual([['a'], ['b']]);
    sends[1].resolve();
    await b;
  });

  it('holds publishes that come closer than lingerMs until the first has waited lingerMs, then sends them as one', async () => {
    const { sink, sends, clock } = harness(LINGER);
    await sendAndAck(sink, sends, 'a');
    clock.advance(1);
    const b = sink.publish([rec('b')]);
    await tick();
    clock.advance(2);
    const c = sink.publish([rec('c')]);
    await tick();
    expect(keysOf(sends)).toEqual([['a']]);
    clock.advance(LINGER - 3);
    await tick();
    expect(keysOf(sends)).toEqual([['a']]);
    clock.advance(1);
    await tick();
    expect(keysOf(sends)).toEqual([['a'], ['b', 'c']]);
    sends[1].resolve();
    await Promise.all([b, c]);
  });

  it("lingers receiver.lingerMs's default when given no lingerMs, and not at all with 0", async () => {
    for (const [lingerMs, heldFor] of [['default', configDefaults.receiver.lingerMs], [0, 0]] as const) {
      const { sink, sends, clock } = harness(lingerMs);
      await sendAndAck(sink, sends, 'a');
      const b = sink.publish([rec('b')]);
      await tick();
      if (heldFor > 0) {
        clock.advance(heldFor - 1);
        await tick();
        expect(keysOf(sends)).toEqual([['a']]);
        clock.advance(1);
        await tick();
      }
      expect(keysOf(sends)).toEqual([['a'], ['b']]);
      sends[1].resolve();
      await b;
    }
    expect(configDefaults.receiver.lingerMs).toBeGreaterThan(0);
  });

  it('does not hold a queue that has reached the merged-bytes cap', async () => {
    const { sink, sends, clock } = harness(LINGER);
    const a = sink.publish([rec('a')]);
    const b = sink.publish([rec('b', MAX_MERGED_BYTES)]);
    await tick();
    expect(keysOf(sends)).toEqual([['a'], ['b']]);
    expect(clock.now()).toBe(1_000_000);
    for (const s of sends) s.resolve();
    await Promise.all([a, b]);
  });

  it('stops lingering once what waits reaches the merged-bytes cap', async () => {
    const { sink, sends, clock } = harness(LINGER);
    await sendAndAck(sink, sends, 'a');
    const b = sink.publish([rec('b')]);
    await tick();
    expect(keysOf(sends)).toEqual([['a']]);
    const c = sink.publish([rec('c', MAX_MERGED_BYTES)]);
    await tick();
    expect(keysOf(sends)).toEqual([['a'], ['b'], ['c']]);
    expect(clock.now()).toBe(1_000_000);
    for (const s of sends.slice(1)) s.resolve();
    await Promise.all([b, c]);
  });

  it('stop() sends what lingers and waits for its ack', async () => {
    const { sink, sends } = harness(LINGER);
    const a = sink.publish([rec('a')]);
    const b = sink.publish([rec('b')]);
    await tick();
    expect(keysOf(sends)).toEqual([['a']]);
    const stopped = sink.stop();
    await tick();
    expect(keysOf(sends)).toEqual([['a'], ['b']]);
    for (const s of sends) s.resolve();
    await Promise.all([a, b, stopped]);
  });
});
