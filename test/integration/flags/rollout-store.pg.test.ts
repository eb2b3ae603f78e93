// Rollouts in the flag store on PostgreSQL.
import { describeRolloutStore } from './rollout-store-suite.js';
import { pgDriver } from './flag-store-fixture.js';

describeRolloutStore(pgDriver);
