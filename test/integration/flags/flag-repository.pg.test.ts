import { describeFlagRepository } from './flag-repository-suite.js';
import { pgDriver } from './flag-store-fixture.js';

describeFlagRepository(pgDriver);
