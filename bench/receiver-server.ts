// The receiver side of `npm run bench:receiver`: the real OtlpReceiver publishing to real Kafka
// (acks=all, reply after ack), run as its own process so bench/receiver.ts can pin it to one
// core. Talks to the parent over IPC: 'ready' with its ports, then 'cpu' and 'stats' on request.
// Mode `forward` is the in-run baseline: a bare grpc-js server that writes each request's bytes
// to Kafka as one record and replies after the ack (what an OTLP forwarder without batching
// does: the Collector's otlpreceiver -> kafkaexporter), so the ratio prices pmf-guard's own work.

import * as grpc from '@grpc/grpc-js';
import { KafkaLog } from '../src/log/kafka/kafka-log.js';
import { LogEventSink } from '../src/receiver/event-sink.js';
import { OtlpReceiver } from '../src/receiver/otlp-receiver.js';
import { Pseudonymizer } from '../src/receiver/mapping/pseudonymizer.js';
import { TRACE_EXPORT_PATH } from '../src/receiver/transport/otlp-grpc-server.js';
import { silentLogger } from '../src/core/logger.js';
import { countingSends } from './bench-producer.js';

const [brokers, topic, mode = 'pmf'] = process.argv.slice(2);
if (!brokers || !topic || !process.send) throw new Error('usage: forked by bench/receiver.ts with <brokers> <topic> [pmf|forward]');

const log = new KafkaLog({ logger: silentLogger, brokers: brokers.split(','), clientId: 'bench-receiver', logLevel: 'error' });
const kafkaProducer = log.producer('bench-receiver');
await kafkaProducer.start();
const counted = countingSends(kafkaProducer);
const producer = counted.producer;

interface Server {
  grpcPort: number;
  stats(): { eventsProduced: number; requests: Record<string, number>; publishTimeouts: number; inFlightPeakBytes: number };
  stop(): Promise<void>;
}

async function pmf(): Promise<Server> {
  const receiver = new OtlpReceiver({
    logger: silentLogger,
    grpc: { host: '127.0.0.1', port: 0 },
    pseudonymizer: new Pseudonymizer('bench-pseudonym-key-0123456789'),
    sink: new LogEventSink(log, producer, topic, 6),
    knownFeatures: ['new-dashboard'],
    publishTimeoutMs: 10_000,
  });
  await receiver.start();
  const m = receiver.metrics;
  return {
    grpcPort: receiver.port,
    stats: () => ({ eventsProduced: m.eventsProduced, requests: Object.fromEntries(m.requests), publishTimeouts: m.publishTimeouts, inFlightPeakBytes: receiver.budget.peak }),
    stop: () => receiver.stop(),
  };
}

async function forward(): Promise<Server> {
  const identity = (b: Buffer) => b;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  let requests = 0;
  server.addService(
    { Export: { path: TRACE_EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
    {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        producer.send(topic, [{ key: `r${requests++ % 6}`, value: call.request }]).then(
          () => callback(null, Buffer.alloc(0)),
          (err: Error) => callback({ code: grpc.status.UNAVAILABLE, details: err.message }),
        );
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    grpcPort: port,
    stats: () => ({ eventsProduced: 0, requests: { forwarded: requests }, publishTimeouts: 0, inFlightPeakBytes: 0 }),
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}

const server = mode === 'forward' ? await forward() : await pmf();
process.send({ type: 'ready', grpcPort: server.grpcPort });

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'cpu') {
    const cpu = process.cpuUsage();
    process.send!({ type: 'cpu', cpuMs: (cpu.user + cpu.system) / 1000 });
  } else if (msg.type === 'stats') {
    process.send!({ type: 'stats', ...server.stats(), producerSends: counted.sends, producerRecords: counted.records, rssBytes: process.memoryUsage().rss });
  } else if (msg.type === 'stop') {
    void server.stop().then(() => log.close()).then(() => process.exit(0));
  }
});
