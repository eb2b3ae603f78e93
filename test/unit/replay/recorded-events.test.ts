import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { readEventsFromFile } from '../../../src/replay/read-recorded-events.js';
import { replay } from '../../../src/replay/replay.js';
import { createEvaluator } from '../../../src/app/stage-settings.js';
import { Config } from '../../../src/config/schema.js';
import { ruleSet } from '../aggregation/rules-fixture.js';

const T = Date.UTC(2025, 0, 15, 12);
const ev = (user: string, n: number): FeatureEvent => ({ user, time: T + n, id: `${user}-${n}`, name: 'page', flags: [{ feature: 'f', variant: 'on' }], source: 'span' });

let dir: string | undefined;
afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

describe('replay of exported pmf.events.v2 records', () => {
  it('joins the lines of one record again and applies all of its events', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pmf-replay-'));
    const file = join(dir, 'events.jsonl');
    const line = (partition: number, offset: string, e: FeatureEvent) => JSON.stringify({ partition, offset, event: e });
    writeFileSync(file, [
      line(0, '0', ev('a', 1)), line(0, '0', ev('b', 2)), line(0, '1', ev('a', 3)), line(1, '0', ev('c', 4)),
    ].join('\n'));
    const read = await readEventsFromFile(file);
    expect(read.rejected).toBe(0);
    expect(read.partitions.get(0)!.map((r) => [r.offset, r.events.map((e) => e.id)])).toEqual([['0', ['a-1', 'b-2']], ['1', ['a-3']]]);
    const result = replay(read.partitions, { rules: ruleSet([{ featureId: 'f' }]), evaluator: createEvaluator(Config.parse({})) });
    expect(result.events).toBe(4);
  });

  it('reads a watermark marker line as a record of marks, and refuses a damaged one', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pmf-replay-'));
    const file = join(dir, 'events.jsonl');
    writeFileSync(file, [
      JSON.stringify({ partition: 0, offset: '0', event: ev('a', 1) }),
      JSON.stringify({ partition: 0, offset: '1', marks: [{ origin: 'web', time: T + 60_000 }, { origin: '', time: T + 30_000 }] }),
      JSON.stringify({ partition: 0, offset: '2', marks: [{ origin: 'web', time: 'soon' }] }),
    ].join('\n'));
    const read = await readEventsFromFile(file);
    expect(read.rejected).toBe(1);
    expect(read.partitions.get(0)!.map((r) => [r.offset, r.events.length, r.marks])).toEqual([
      ['0', 1, undefined],
      ['1', 0, [{ origin: 'web', time: T + 60_000 }, { origin: '', time: T + 30_000 }]],
    ]);
    const result = replay(read.partitions, { rules: ruleSet([{ featureId: 'f' }]), evaluator: createEvaluator(Config.parse({})) });
    expect(result.events).toBe(1);
  });
});
