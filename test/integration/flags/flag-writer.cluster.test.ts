import { describeFlagWriter } from './flag-writer-suite.js';
import { redisCluster } from './redis-target.js';

describeFlagWriter(redisCluster);
