// The receiver sink's linger against a real broker: publishes that come closer together than
// lingerMs share one Kafka send, in which each partition's event records are joined into one Kafka
// record, so the topic holds one record per partition for them, every user on the partition its key
// maps to and the events in publish order; a publish after a quiet spell goes at once, alone.
// The linger runs on a manual clock: the test moves time, Kafka answers for real.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import { decodeEventRecord } from '../../../src/events/event-record-codec.js';
import { encodeEventRecord } from '../../../src/events/event-record-writer.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { KafkaLog } from '../../../src/log/kafka/kafka-log.js';
import { partitionForKey } from '../../../src/log/key-partition.js';
import type { LogProducer, LogRecord } from '../../../src/log/partitioned-log.js';
import { LogEventSink } from '../../../src/receiver/event-sink.js';
import { testServices, uniqueName } from '../../helpers/services.js';

const PARTITIONS = 3;
const LINGER = 10;

let log: KafkaLog;
let producer: LogProducer;

beforeAll(async () => {
  log = new KafkaLog({ brokers: [...testServices.kafkaBrokers], clientId: 'event-sink-linger', logLevel: 'nothing', logger: silentLogger });
  producer = log.producer('event-sink-linger');
  await producer.start();
}, 60_000);

afterAll(async () => {
  await log?.close();
});

/** 32-hex pseudonyms, two per partition, so each request writes every partition. */
const users = Array.from({ length: 2 * PARTITIONS }, (_, i) => {
  for (let n = 0; ; n++) {
    const user = (i * 1_000_003 + n).toString(16).padStart(32, '0');
    if (partitionForKey(user, PARTITIONS) === i % PARTITIONS) return user;
  }
});

/** One request's records as the batcher writes them: one version 3 record per partition. */
function request(r: number): LogRecord[] {
  return Array.from({ length: PARTITIONS }, (_, p) => {
    const events: FeatureEvent[] = users
      .filter((u) => partitionForKey(u, PARTITIONS) === p)
      .map((user, i) => ({ user, time: 1_700_000_000_000 + r, id: `r${r}-p${p}-${i}`, name: 'GET /x', flags: [{ feature: 'f', variant: 'on' }], source: 'span' }));
    return { key: events[0].user, value: encodeEventRecord(events) };
  });
}

describe('LogEventSink linger on Kafka', () => {
  it('sends publishes that come close together as one record per partition, users on their partitions, events in order; a publish after a quiet spell alone', { timeout: 60_000 }, async () => {
    const topic = uniqueName('sink_linger');
    await log.ensureTopics([{ name: topic, partitions: PARTITIONS }]);
    let sends = 0;
    const counting: Pick<LogProducer, 'send'> = {
      send: (t, records, o) => {
        sends++;
        return producer.send(t, records, o);
      },
    };
    const clock = new ManualClock(1_000_000);
    const sink = new LogEventSink(log, counting, topic, PARTITIONS, undefined, { lingerMs: LINGER, clock });
    await sink.start();
    const settle = () => new Promise((r) => setImmediate(r));

    // The first publish comes after a quiet spell: at once, alone.
    await sink.publish(request(0));
    expect(sends).toBe(1);
    // Three more, 1 ms apart: they wait for the first of them to be LINGER old, then go as one send.
    const together: Promise<void>[] = [];
    for (let r = 1; r <= 3; r++) {
      clock.advance(1);
      together.push(sink.publish(request(r)));
      await settle();
    }
    expect(sends).toBe(1);
    clock.advance(LINGER);
    await Promise.all(together);
    expect(sends).toBe(2);
    // After a quiet spell, at once again.
    clock.advance(10 * LINGER);
    await sink.publish(request(4));
    expect(sends).toBe(3);
    await sink.stop();

    const perPartition = new Map<number, string[][]>();
    for await (const batch of log.readAll!(topic)) {
      for (const record of batch.records) {
        const events = decodeEventRecord(record.value);
        for (const e of events) expect(partitionForKey(e.user, PARTITIONS)).toBe(batch.partition);
        const list = perPartition.get(batch.partition) ?? [];
        list.push(events.map((e) => e.id));
        perPartition.set(batch.partition, list);
      }
    }
    for (let p = 0; p < PARTITIONS; p++) {
      const ids = (r: number) => decodeEventRecord(request(r)[p].value).map((e) => e.id);
      // Three Kafka records on each partition: request 0's, the joined 1-3, request 4's.
      expect(perPartition.get(p)).toEqual([ids(0), [...ids(1), ...ids(2), ...ids(3)], ids(4)]);
    }
  });
});
