// A throwaway topic on the bench broker with the project's KafkaLog producer on it, and a send
// counter: what the producer-side benches share.

import kafkajs from 'kafkajs';
import { silentLogger } from '../src/core/logger.js';
import { KafkaLog } from '../src/log/kafka/kafka-log.js';
import type { LogProducer } from '../src/log/partitioned-log.js';

export interface BenchProducer {
  topic: string;
  log: KafkaLog;
  producer: LogProducer;
  /** Stops the producer and deletes the topic. */
  close(): Promise<void>;
}

export async function openBenchProducer(brokers: string[], topicPrefix: string, partitions: number, clientId: string): Promise<BenchProducer> {
  const topic = `${topicPrefix}_${Date.now().toString(36)}`;
  const admin = new kafkajs.Kafka({ brokers, clientId: 'bench-admin', logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] });
  const log = new KafkaLog({ logger: silentLogger, brokers, clientId, logLevel: 'error' });
  const producer = log.producer(clientId);
  await producer.start();
  return {
    topic,
    log,
    producer,
    close: async () => {
      await producer.stop();
      await log.close();
      // A leftover bench topic costs nothing but disk; failing the bench over it would hide its figures.
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    },
  };
}

/** Counts the sends and records that reach `producer`: what the sink's merging buys. */
export function countingSends(producer: Pick<LogProducer, 'send'>): { producer: Pick<LogProducer, 'send'>; sends: number; records: number } {
  const counted = {
    sends: 0,
    records: 0,
    producer: {
      send: (t, r, o) => {
        counted.sends++;
        counted.records += r.length;
        return producer.send(t, r, o);
      },
    } as Pick<LogProducer, 'send'>,
  };
  return counted;
}
