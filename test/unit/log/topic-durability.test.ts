import { describe, expect, it } from 'vitest';
import { topicDurability } from '../../../src/log/kafka/topic-durability.js';

describe('topic durability sized to the cluster', () => {
  const wanted = { replicationFactor: 3, minInsyncReplicas: 2 };

  it('gives what is wanted when the cluster has the brokers, without a warning', () => {
    expect(topicDurability(wanted, 3)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 });
    expect(topicDurability(wanted, 5)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 });
    expect(topicDurability({ replicationFactor: 1, minInsyncReplicas: 1 }, 1)).toEqual({ replicationFactor: 1, minInsyncReplicas: 1 });
  });

  it('takes the largest values a smaller cluster can hold and keeps writes possible with a broker down', () => {
    const two = topicDurability(wanted, 2);
    expect([two.replicationFactor, two.minInsyncReplicas]).toEqual([2, 1]);
    expect(two.warning).toMatch(/the cluster has 2 broker\(s\): new topics get replication factor 2 and min\.insync\.replicas 1 instead of 3 and 2/);
    const one = topicDurability(wanted, 1);
    expect([one.replicationFactor, one.minInsyncReplicas]).toEqual([1, 1]);
    expect(one.warning).toMatch(/one copy: losing that broker or its disk loses acknowledged/);
    expect(one.warning).toMatch(/PMF_GUARD_KAFKA_REPLICATION_FACTOR/);
  });
});
