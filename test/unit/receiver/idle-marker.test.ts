// Watermark markers on the receiver side (receiver/idle-marker.ts through LogEventSink): a partition
// the receiver leaves quiet for markIdleMs gets one marker per markIdleMs at most, with its next
// send or on the timer once traffic stops; a partition that gets data gets none; a partition never
// written counts as written when the sink started; and a marker names only the sources whose latest
// time moved since the partition's last one.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import { decodeWatermarkMarker, isWatermarkMarker } from '../../../src/events/watermark-marker.js';
import { partitionForKey } from '../../../src/log/key-partition.js';
import type { LogRecord } from '../../../src/log/partitioned-log.js';
import { LogEventSink } from '../../../src/receiver/event-sink.js';

const PARTITIONS = 3;
const IDLE = 5000;
/** A key that the log puts on each partition. */
const keys = Array.from({ length: PARTITIONS }, (_, p) => {
  for (let i = 0; ; i++) if (partitionForKey(`u${i}`, PARTITIONS) === p) return `u${i}`;
});
const tick = () => new Promise((r) => setImmediate(r));

function harness(markIdleMs = IDLE, fail = () => false) {
  const clock = new ManualClock(1_000_000);
  const sends: LogRecord[][] = [];
  const metrics = { markersWritten: 0 };
  const producer = { send: async (_t: string, records: LogRecord[]) => {
    sends.push(records);
    if (fail()) throw new Error('broker gone');
  } };
  const sink = new LogEventSink({}, producer, 'events', PARTITIONS, { markIdleMs, clock, metrics, logger: silentLogger });
  /** Data for these partitions, with these latest times per source. */
  const publish = (partitions: number[], times: Record<string, number>) =>
    sink.publish(partitions.map((p) => ({ key: keys[p], value: Buffer.from('data') })), new Map(Object.entries(times)));
  /** The markers of every send so far, as [partition, marks] pairs; the list is then emptied. */
  const markers = () => sends.splice(0).flat().filter((r) => isWatermarkMarker(r.value)).map((r) => [r.partition, decodeWatermarkMarker(r.value)] as const);
  return { clock, sink, publish, markers, metrics, sends };
}

describe('watermark markers from the receiver', () => {
  it('marks a quiet partition at most once per markIdleMs and a busy one never, while traffic flows', async () => {
    const { clock, publish, markers, metrics } = harness();
    await publish([0, 1], { web: 100 });
    // Never written before: quiet only since the start, just now.
    expect(markers()).toEqual([]);
    const seen: (readonly [number | undefined, unknown])[] = [];
    for (let s = 1; s <= 20; s++) {
      clock.advance(1000);
      await publish([0, 1], { web: 100 + s, '': 50 + s });
      seen.push(...markers().map(([p, marks]) => [p, [clock.now() - 1_000_000, marks]] as const));
    }
    // Each falls due as the clock reaches it, so the timer sends it just before that second's publish.
    expect(seen).toEqual([5000, 10_000, 15_000, 20_000].map((at) => [2, [at, [{ origin: 'web', time: 99 + at / 1000 }, { origin: '', time: 49 + at / 1000 }]]]));
    expect(metrics.markersWritten).toBe(4);
  });

  it('once traffic stops, sends the markers still owed on the timer (the busy partitions too), then stops', async () => {
    const { clock, sink, publish, markers, sends } = harness();
    await publish([0, 1], { web: 100 });
    expect(markers()).toEqual([]);
    clock.advance(1000);
    await publish([0, 1], { web: 200 });
    expect(markers()).toEqual([]);
    clock.advance(IDLE - 1001);
    await tick();
    expect(sends).toEqual([]);
    clock.advance(1);
    await tick();
    // Partition 2, never written, is quiet since the start at 0 ms: owed since 5000 ms; 0 and 1 last got data at 1000 ms.
    expect(markers()).toEqual([[2, [{ origin: 'web', time: 200 }]]]);
    clock.advance(1000);
    await tick();
    expect(markers()).toEqual([[0, [{ origin: 'web', time: 200 }]], [1, [{ origin: 'web', time: 200 }]]]);
    for (let i = 0; i < 10; i++) {
      clock.advance(IDLE);
      await tick();
    }
    expect(sends).toEqual([]);
    await sink.stop();
  });

  it('marks a partition never written only markIdleMs after the sink started, not at the first send', async () => {
    const { clock, publish, markers, sends } = harness();
    clock.advance(IDLE - 2000);
    await publish([0], { web: 100 });
    expect(markers()).toEqual([]);
    clock.advance(1999);
    await tick();
    expect(sends).toEqual([]);
    clock.advance(1);
    await tick();
    expect(markers()).toEqual([[1, [{ origin: 'web', time: 100 }]], [2, [{ origin: 'web', time: 100 }]]]);
  });

  it('lets a source that starts sending soon after the first into the first markers', async () => {
    const { clock, publish, markers } = harness();
    await publish([0], { web: 100 });
    clock.advance(1000);
    // A second source whose clock runs 30 min ahead: marking at the first send would have named web
    // alone and left it looking idle next to this one on every partition.
    await publish([0], { web: 101, ahead: 1_800_101 });
    expect(markers()).toEqual([]);
    clock.advance(IDLE - 1000);
    await tick();
    const both = [{ origin: 'web', time: 101 }, { origin: 'ahead', time: 1_800_101 }];
    expect(markers()).toEqual([[1, both], [2, both]]);
  });

  it('writes nothing with markIdleMs 0', async () => {
    const { clock, publish, sends } = harness(0);
    for (let s = 0; s < 5; s++) {
      await publish([0], { web: s });
      clock.advance(IDLE);
      await tick();
    }
    expect(sends.flat().some((r) => isWatermarkMarker(r.value))).toBe(false);
    expect(sends).toHaveLength(5);
  });

  it('owes a marker again when the send carrying it failed, and counts only the acked ones', async () => {
    let failing = false;
    const { clock, publish, markers, metrics } = harness(IDLE, () => failing);
    await publish([0, 1], { web: 100 });
    expect(markers()).toEqual([]);
    failing = true;
    // Every partition quiet since 0 ms: the timer's round carries three markers, and fails.
    clock.advance(IDLE);
    await tick();
    expect(markers()).toHaveLength(3);
    expect(metrics.markersWritten).toBe(0);
    failing = false;
    clock.advance(IDLE);
    await tick();
    expect(markers()).toEqual([[0, [{ origin: 'web', time: 100 }]], [1, [{ origin: 'web', time: 100 }]], [2, [{ origin: 'web', time: 100 }]]]);
    expect(metrics.markersWritten).toBe(3);
  });

  it('stops its timer at stop', async () => {
    const { clock, sink, publish, sends } = harness();
    await publish([0], { web: 1 });
    await sink.stop();
    await sink.stop();
    sends.length = 0;
    clock.advance(10 * IDLE);
    await tick();
    expect(sends).toEqual([]);
  });
});
