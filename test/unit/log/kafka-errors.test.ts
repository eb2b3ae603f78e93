import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { fromKafkaError } from '../../../src/log/kafka/kafka-errors.js';

// The real kafkajs classes; their .d.ts declares narrower constructors than the JavaScript has.
const { KafkaJSConnectionError, KafkaJSError } = kafkajs;
const KafkaJSNonRetriableError = kafkajs.KafkaJSNonRetriableError as unknown as new (
  e: Error,
  options: { cause: Error },
) => Error;
const KafkaJSNumberOfRetriesExceeded = kafkajs.KafkaJSNumberOfRetriesExceeded as unknown as new (
  e: Error,
  options: { retryCount: number; retryTime: number },
) => Error;
const KafkaJSProtocolError = kafkajs.KafkaJSProtocolError as unknown as new (e: {
  type: string;
  code: number;
  retriable: boolean;
  message: string;
}) => Error;

describe('fromKafkaError', () => {
  it('an unreachable broker is retryable ERR_LOG_UNAVAILABLE, even after kafkajs gave up retrying', () => {
    const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1');
    const exhausted = new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 3, retryTime: 800 });
    // What a send sees when its connect exhausted the cluster retrier (observed against a closed port).
    const wrapped = new KafkaJSNonRetriableError(exhausted, { cause: refused });
    for (const err of [refused, exhausted, wrapped]) {
      expect(fromKafkaError(err, 'send', 'ERR_LOG_PRODUCE')).toMatchObject({ code: 'ERR_LOG_UNAVAILABLE', retryable: true });
    }
  });

  it('broker errors keep their retriable flag under the caller code; unknown topics are ERR_NOT_FOUND', () => {
    const tooLarge = new KafkaJSProtocolError({ type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false, message: 'too large' });
    expect(fromKafkaError(tooLarge, 'send', 'ERR_LOG_PRODUCE')).toMatchObject({ code: 'ERR_LOG_PRODUCE', retryable: false });
    const corrupt = new KafkaJSProtocolError({ type: 'CORRUPT_MESSAGE', code: 2, retriable: true, message: 'corrupt' });
    expect(fromKafkaError(corrupt, 'send', 'ERR_LOG_PRODUCE')).toMatchObject({ code: 'ERR_LOG_PRODUCE', retryable: true });
    const leader = new KafkaJSProtocolError({ type: 'NOT_LEADER_FOR_PARTITION', code: 6, retriable: true, message: 'moving' });
    expect(fromKafkaError(leader, 'send', 'ERR_LOG_PRODUCE')).toMatchObject({ code: 'ERR_LOG_UNAVAILABLE', retryable: true });
    const unknown = new KafkaJSProtocolError({ type: 'UNKNOWN_TOPIC_OR_PARTITION', code: 3, retriable: true, message: 'no' });
    expect(fromKafkaError(unknown, 'send', 'ERR_LOG_PRODUCE')).toMatchObject({ code: 'ERR_NOT_FOUND', retryable: false });
  });

  it('keeps the original error as cause and passes PmfErrors through', () => {
    const original = new KafkaJSError('The producer is disconnected', { retriable: true });
    const mapped = fromKafkaError(original, 'send to t', 'ERR_LOG_PRODUCE');
    expect(mapped.cause).toBe(original);
    expect(mapped.message).toContain('send to t');
    const own = new PmfError('ERR_STOPPED', 'stopped');
    expect(fromKafkaError(own, 'x', 'ERR_LOG_PRODUCE')).toBe(own);
  });
});
