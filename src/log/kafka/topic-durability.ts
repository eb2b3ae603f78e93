// How many copies the topics pmf-guard creates get, given how many brokers the cluster has. The
// wanted replication factor and min.insync.replicas come from the config; a smaller cluster gets
// the largest values it can hold while acks=all writes keep working with one broker down
// (min.insync.replicas below the replication factor), and a warning that says what is at risk.

export interface Durability {
  replicationFactor: number;
  minInsyncReplicas: number;
}

export function topicDurability(wanted: Durability, brokers: number): Durability & { warning?: string } {
  const replicationFactor = Math.max(1, Math.min(wanted.replicationFactor, brokers));
  const minInsyncReplicas =
    replicationFactor === wanted.replicationFactor ? wanted.minInsyncReplicas : Math.max(1, Math.min(wanted.minInsyncReplicas, replicationFactor - 1));
  if (replicationFactor === wanted.replicationFactor && minInsyncReplicas === wanted.minInsyncReplicas) return { replicationFactor, minInsyncReplicas };
  const risk =
    replicationFactor === 1
      ? 'every partition has one copy: losing that broker or its disk loses acknowledged spans, state inputs and commands'
      : `an acknowledged write may exist on only ${minInsyncReplicas} broker(s)`;
  return {
    replicationFactor,
    minInsyncReplicas,
    warning:
      `the cluster has ${brokers} broker(s): new topics get replication factor ${replicationFactor} and min.insync.replicas ${minInsyncReplicas} ` +
      `instead of ${wanted.replicationFactor} and ${wanted.minInsyncReplicas}; ${risk}. Add brokers, or set kafka.replicationFactor / ` +
      'kafka.minInsyncReplicas (PMF_GUARD_KAFKA_REPLICATION_FACTOR / PMF_GUARD_KAFKA_MIN_INSYNC_REPLICAS) to what this cluster is meant to have.',
  };
}
