import fc from 'fast-check';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey } from '../../../src/log/key-partition.js';

describe('murmur2', () => {
  it("matches the Java client's test vectors (org.apache.kafka.common.utils.UtilsTest#testMurmur2)", () => {
    const cases: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [input, expected] of cases) expect(murmur2(Buffer.from(input))).toBe(expected);
  });
});

describe('partitionForKey', () => {
  // kafkajs' DefaultPartitioner is what KafkaLog's producer uses: the embedded log must agree.
  const kafkajsPartition = (key: string, partitions: number): number =>
    kafkajs.Partitioners.DefaultPartitioner()({
      topic: 't',
      partitionMetadata: Array.from({ length: partitions }, (_, partitionId) => ({
        partitionId,
        leader: 1,
        partitionErrorCode: 0,
        replicas: [1],
        isr: [1],
      })),
      message: { key, value: null },
    });

  it("agrees with kafkajs' DefaultPartitioner for any key and partition count", () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 64 }), fc.integer({ min: 1, max: 64 }), (key, partitions) => {
        const p = partitionForKey(key, partitions);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(partitions);
        expect(p).toBe(kafkajsPartition(key, partitions));
      }),
      { numRuns: 2000 },
    );
  });
});
