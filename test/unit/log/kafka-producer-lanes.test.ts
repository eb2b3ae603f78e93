// The Kafka producer's lanes: each topic sends through a kafkajs producer (a broker connection) of
// its own, so a small send is never queued behind another topic's large batch on one connection;
// sends to one topic share one producer, in order; the producer connected at start serves the
// first topic; stop disconnects every one. A scripted kafkajs producer stands in for the broker.

import type { Producer, ProducerRecord } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import { KafkaProducer } from '../../../src/log/kafka/kafka-producer.js';

class ScriptedProducer {
  connects = 0;
  disconnects = 0;
  readonly sent: string[] = [];
  async connect() {
    this.connects++;
  }
  async disconnect() {
    this.disconnects++;
  }
  async send(r: ProducerRecord) {
    for (const m of r.messages) this.sent.push(`${r.topic}:${String(m.value)}`);
    return [];
  }
}

/** A KafkaProducer whose kafkajs producers are scripted ones, each kept in `made` as it is made. */
function scriptedLanes(): { producer: KafkaProducer; made: ScriptedProducer[] } {
  const made: ScriptedProducer[] = [];
  const producer = new KafkaProducer('p', () => {
    const p = new ScriptedProducer();
    made.push(p);
    return p as unknown as Producer;
  }, { sendTimeoutMs: 5000, clock: systemClock, logger: silentLogger });
  return { producer, made };
}

describe('kafka producer lanes', () => {
  it('sends each topic through its own kafkajs producer, one topic in order through one', async () => {
    const { producer, made } = scriptedLanes();
    await producer.start();
    expect(made).toHaveLength(1);
    expect(made[0].connects).toBe(1);

    await Promise.all([
      producer.send('events', [{ key: 'u1', value: Buffer.from('e1') }]),
      producer.send('events', [{ key: 'u2', value: Buffer.from('e2') }]),
      producer.send('commands', [{ key: 'f', value: Buffer.from('c1') }]),
    ]);
    await producer.send('events', [{ key: 'u1', value: Buffer.from('e3') }]);
    await producer.send('commands', [{ key: 'f', value: Buffer.from('c2') }]);

    expect(made).toHaveLength(2);
    // The producer connected at start became the first topic's.
    expect(made[0].sent).toEqual(['events:e1', 'events:e2', 'events:e3']);
    expect(made[1].sent).toEqual(['commands:c1', 'commands:c2']);
    expect(made.map((p) => p.connects)).toEqual([1, 1]);

    await producer.stop();
    expect(made.map((p) => p.disconnects)).toEqual([1, 1]);
    await expect(producer.send('events', [{ key: 'u', value: Buffer.from('x') }])).rejects.toMatchObject({ code: 'ERR_STOPPED' });
  });

  it('sends a topic\'s urgent records through a producer of their own, in order among themselves', async () => {
    const { producer, made } = scriptedLanes();
    await producer.start();
    await producer.send('verdicts', [{ key: 'a', value: Buffer.from('heartbeat1') }]);
    await producer.send('verdicts', [{ key: 'f', value: Buffer.from('evidence1') }], { urgent: true });
    await producer.send('verdicts', [{ key: 'b', value: Buffer.from('heartbeat2') }], { urgent: false });
    await producer.send('verdicts', [{ key: 'f', value: Buffer.from('evidence2') }], { urgent: true });
    expect(made.map((p) => p.sent)).toEqual([
      ['verdicts:heartbeat1', 'verdicts:heartbeat2'],
      ['verdicts:evidence1', 'verdicts:evidence2'],
    ]);
    await producer.stop();
    expect(made.map((p) => p.disconnects)).toEqual([1, 1]);
  });
});
