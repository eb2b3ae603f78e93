import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { EmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import { describeLogContract } from './log-contract.js';
import { silentLogger } from '../../../src/core/logger.js';

const options = { maxBatchSize: 2, retryBackoff: { initialMs: 20, maxMs: 100 }, logger: silentLogger };

describeLogContract('embedded (in memory)', { open: () => new EmbeddedLog(options) });

const dataDir = mkdtempSync(join(tmpdir(), 'pmf-embedded-contract-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
describeLogContract('embedded (data directory, fsync)', {
  open: () => new EmbeddedLog({ ...options, dataDir, fsync: 'always' }),
});
