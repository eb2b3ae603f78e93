import { describeFlagWriter } from './flag-writer-suite.js';
import { singleRedis } from './redis-target.js';

describeFlagWriter(singleRedis);
