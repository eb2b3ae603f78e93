// The receiver side of `npm run bench:receiver`: the real OtlpReceiver publishing to real Kafka
// (acks=all, reply after ack), run as its own process so bench/receiver.ts can pin it to one
// core. Talks to the parent over IPC: 'ready' with its ports, then 'stats' on request.

import { KafkaLog } from '../src/log/kafka/kafka-log.js';
import { OtlpReceiver } from '../src/receiver/otlp-receiver.js';
import { Pseudonymizer } from '../src/receiver/mapping/pseudonymizer.js';
import { silentLogger } from '../src/core/logger.js';
import { LogEventSink } from '../src/receiver/event-sink.js';

const [brokers, topic] = process.argv.slice(2);
if (!brokers || !topic || !process.send) throw new Error('usage: forked by bench/receiver.ts with <brokers> <topic>');

const log = new KafkaLog({ logger: silentLogger, brokers: brokers.split(','), clientId: 'bench-receiver', logLevel: 'error' });
const producer = log.producer('bench-receiver');
await producer.start();
const receiver = new OtlpReceiver({ logger: silentLogger,
  grpc: { host: '127.0.0.1', port: 0 },
  http: { host: '127.0.0.1', port: 0 },
  pseudonymizer: new Pseudonymizer('bench-pseudonym-key-0123456789'),
  sink: new LogEventSink(producer, topic),
  knownFeatures: ['new-dashboard'],
  publishTimeoutMs: 10_000,
});
await receiver.start();
const cpuAtStart = process.cpuUsage();
process.send({ type: 'ready', grpcPort: receiver.port, httpPort: receiver.httpPort });

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'cpu') {
    const cpu = process.cpuUsage();
    process.send!({ type: 'cpu', cpuMs: (cpu.user + cpu.system) / 1000 });
  } else if (msg.type === 'stats') {
    const cpu = process.cpuUsage(cpuAtStart);
    const m = receiver.metrics;
    process.send!({
      type: 'stats',
      cpuMs: (cpu.user + cpu.system) / 1000,
      eventsProduced: m.eventsProduced,
      requests: Object.fromEntries(m.requests),
      publishTimeouts: m.publishTimeouts,
      inFlightPeakBytes: receiver.budget.peak,
      rssBytes: process.memoryUsage().rss,
    });
  } else if (msg.type === 'stop') {
    void receiver.stop().then(() => log.close()).then(() => process.exit(0));
  }
});
