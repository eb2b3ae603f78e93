import { describeRedisFlagCache } from './redis-flag-cache-suite.js';
import { singleRedis } from './redis-target.js';

describeRedisFlagCache(singleRedis);
