import { KafkaLog } from '../../../src/log/kafka/kafka-log.js';
import { describeLogContract } from './log-contract.js';
import { silentLogger } from '../../../src/core/logger.js';

const brokers = (process.env.PMF_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

describeLogContract('kafka', {
  open: () =>
    new KafkaLog({
      brokers,
      clientId: 'pmf-log-contract',
      logLevel: 'nothing',
      maxBatchSize: 2,
      retryBackoff: { initialMs: 20, maxMs: 100 },
      logger: silentLogger,
    }),
});
