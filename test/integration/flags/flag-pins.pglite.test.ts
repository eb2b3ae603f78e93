import { describeFlagPins } from './flag-pins-suite.js';
import { pgliteDriver } from './flag-store-fixture.js';

describeFlagPins(pgliteDriver());
