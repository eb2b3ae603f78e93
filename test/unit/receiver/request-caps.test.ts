import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { decodeEventRecord } from '../../../src/events/event-record-codec.js';
import { silentLogger } from '../../../src/core/logger.js';
import { ExportHandler } from '../../../src/receiver/export-handler.js';
import { Pseudonymizer } from '../../../src/receiver/mapping/pseudonymizer.js';
import { ReceiverMetrics } from '../../../src/receiver/receiver-metrics.js';
import { InFlightBudget } from '../../../src/receiver/transport/inflight-budget.js';
import type { WireFormat } from '../../../src/receiver/transport/otlp-response.js';
import { NOW } from './otlp-fixtures.js';

function harness(budgetBytes = 1 << 30, log: string[] = []) {
  const published: FeatureEvent[] = [];
  const metrics = new ReceiverMetrics();
  const budget = new InFlightBudget(budgetBytes);
  const handler = new ExportHandler({
    logger: silentLogger,
    sink: { partitions: 3, publish: async (records) => { log.push('publish'); for (const r of records) published.push(...decodeEventRecord(r.value)); } },
    pseudonymizer: new Pseudonymizer('caps-test-key-0123456789'),
    metrics,
    clock: { now: () => NOW, setTimeout: () => ({ cancel() {} }) },
    requestLimits: { maxRecords: 1000, maxAttributes: 5000 },
    mapSliceRecords: 500,
  });
  const run = (format: WireFormat, body: Uint8Array) => handler.export('traces', format, body, budget.tryAcquire(body.length)!);
  return { published, metrics, budget, run };
}

const w = () => protobuf.Writer.create();
const nanos = (ms: number) => BigInt(ms) * 1_000_000n;

/** ExportTraceServiceRequest with these encoded spans in one scope. */
function request(spans: Uint8Array[]): Buffer {
  const scope = w();
  for (const s of spans) scope.uint32(18).bytes(s);
  const resource = w().uint32(18).bytes(scope.finish()).finish();
  return Buffer.from(w().uint32(10).bytes(resource).finish());
}

let serial = 0;
function span(o: { attrs?: number; startMs?: number; endMs?: number } = {}): Uint8Array {
  serial++;
  const id = (n: number) => {
    const b = Buffer.alloc(n, 0x22);
    b.writeUInt32BE(serial, n - 4);
    return b;
  };
  const kv = (k: string, v: string) => w().uint32(10).string(k).uint32(18).bytes(w().uint32(10).string(v).finish()).finish();
  const s = w().uint32(10).bytes(id(16)).uint32(18).bytes(id(8)).uint32(42).string('GET /')
    .uint32(57).fixed64(String(nanos(o.startMs ?? NOW - 60_000))).uint32(65).fixed64(String(nanos(o.endMs ?? NOW - 59_000)))
    .uint32(74).bytes(kv('user.id', `u${serial}`));
  for (let i = 0; i < (o.attrs ?? 0); i++) s.uint32(74).bytes(kv('k', 'v'));
  return s.finish();
}

const emptySpans = (n: number) => request(Array.from({ length: n }, () => new Uint8Array()));

describe('per-request caps', () => {
  it('refuses a request with more records than the cap (an empty-span flood) with a reason, counted', async () => {
    const h = harness();
    const outcome = await h.run('protobuf', emptySpans(1001));
    expect(outcome).toMatchObject({ kind: 'invalid', message: expect.stringContaining('more than 1000 spans') });
    expect(h.metrics.rejected.get('too_many_records')).toBe(1);
    expect(h.budget.inUse).toBe(0);
    // At the cap the request goes through (each empty span rejected on its own).
    expect(await harness().run('protobuf', emptySpans(1000))).toMatchObject({ kind: 'ok', partial: { rejected: 1000 } });
  });

  it('refuses an attribute flood, protobuf and JSON alike', async () => {
    const h = harness();
    expect(await h.run('protobuf', request([span({ attrs: 5000 })]))).toMatchObject({ kind: 'invalid' });
    const json = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ attributes: Array.from({ length: 5001 }, () => ({ key: 'k', value: { stringValue: 'v' } })) }] }] }] });
    expect(await h.run('json', Buffer.from(json))).toMatchObject({ kind: 'invalid' });
    const jsonFlood = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: Array.from({ length: 1001 }, () => ({})) }] }] });
    expect(await h.run('json', Buffer.from(jsonFlood))).toMatchObject({ kind: 'invalid' });
    expect(Object.fromEntries(h.metrics.rejected)).toEqual({ too_many_attributes: 2, too_many_records: 1 });
  });

  it('charges the in-flight budget on decoded size, not wire bytes', async () => {
    // 1000 empty spans are 2 KB on the wire but hundreds of KB decoded.
    const h = harness(64 * 1024);
    const outcome = await h.run('protobuf', emptySpans(1000));
    expect(outcome).toMatchObject({ kind: 'unavailable' });
    expect(h.budget.refused).toBe(1);
    expect(h.budget.inUse).toBe(0);
  });

  it('keeps a span longer than the duration cap as activity, without a latency, and counts it', async () => {
    const h = harness();
    const start = Date.UTC(2000, 0, 2);
    const outcome = await h.run('protobuf', request([span({ startMs: start, endMs: NOW - 1 }), span()]));
    expect(outcome).toEqual({ kind: 'ok' });
    expect(h.published).toHaveLength(2);
    expect(h.published.find((e) => e.time === start)).not.toHaveProperty('durationMs');
    expect(h.published.find((e) => e.time !== start)?.durationMs).toBe(1000);
    expect(h.metrics.skipped.get('duration_out_of_range')).toBe(1);
  });

  it('maps a large request in slices, letting other work run before it publishes', async () => {
    const order = async (spans: number) => {
      const log: string[] = [];
      const h = harness(1 << 30, log);
      const body = request(Array.from({ length: spans }, () => span()));
      setImmediate(() => log.push('other work'));
      await h.run('protobuf', body);
      await new Promise((resolve) => setImmediate(resolve));
      return log;
    };
    // One slice (500 records here) runs without a turn of the event loop; more yield between slices.
    expect(await order(500)).toEqual(['publish', 'other work']);
    expect(await order(1000)).toEqual(['other work', 'publish']);
  });
});
