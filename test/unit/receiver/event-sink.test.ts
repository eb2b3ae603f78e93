// LogEventSink's merging of concurrent publishes: what waits while sends are out goes as one send,
// in arrival order, capped in bytes, and each publish settles with the send that carried it.

import { describe, expect, it } from 'vitest';
import { LogEventSink, MAX_MERGED_BYTES, MAX_SENDS_IN_FLIGHT } from '../../../src/receiver/event-sink.js';
import type { LogRecord } from '../../../src/log/partitioned-log.js';
import { decodeEventRecord } from '../../../src/events/event-record-codec.js';
import { encodeEventRecord } from '../../../src/events/event-record-writer.js';

interface Send {
  records: LogRecord[];
  resolve(): void;
  reject(err: Error): void;
}

function harness() {
  const sends: Send[] = [];
  const producer = {
    send: (_topic: string, records: LogRecord[]) => new Promise<void>((resolve, reject) => sends.push({ records, resolve, reject })),
  };
  const sink = new LogEventSink({}, producer, 'events', 3);
  return { sink, sends };
}

const rec = (key: string, bytes = 10): LogRecord => ({ key, value: Buffer.alloc(bytes) });
const tick = () => new Promise((r) => setImmediate(r));

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
