// Kafka's topic naming rules, enforced by both logs so a name that works embedded works on Kafka.

import { PmfError } from '../core/errors.js';
import type { TopicSpec } from './partitioned-log.js';

const LEGAL_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

export function checkTopicSpec(spec: TopicSpec): void {
  if (!LEGAL_TOPIC.test(spec.name) || spec.name === '.' || spec.name === '..') {
    throw new PmfError('ERR_CONFIG_INVALID', `topic "${spec.name}": use 1-249 of [a-zA-Z0-9._-], not "." or ".."`);
  }
  if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
    throw new PmfError('ERR_CONFIG_INVALID', `topic "${spec.name}": partitions must be an integer >= 1`);
  }
}
