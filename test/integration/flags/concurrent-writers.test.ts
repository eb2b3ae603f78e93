import { describeConcurrentWriters } from './concurrent-writers-suite.js';
import { singleRedis } from './redis-target.js';

describeConcurrentWriters(singleRedis);
