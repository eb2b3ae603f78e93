// Rollouts in the flag store on embedded PGlite: the same SQL runs there unchanged.
import { describeRolloutStore } from './rollout-store-suite.js';
import { pgliteDriver } from './flag-store-fixture.js';

describeRolloutStore(pgliteDriver());
