// The same suite on embedded PGlite: proves the migrations and every query run there unchanged.
import { describeFlagRepository } from './flag-repository-suite.js';
import { pgliteDriver } from './flag-store-fixture.js';

describeFlagRepository(pgliteDriver());
