import { describeConcurrentWriters } from './concurrent-writers-suite.js';
import { redisCluster } from './redis-target.js';

describeConcurrentWriters(redisCluster);
