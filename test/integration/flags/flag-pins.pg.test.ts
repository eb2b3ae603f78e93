import { describeFlagPins } from './flag-pins-suite.js';
import { pgDriver } from './flag-store-fixture.js';

describeFlagPins(pgDriver);
