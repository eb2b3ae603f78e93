// vitest strips types without checking them; this keeps the shipped code, the tests, the
// benchmarks and the simulation honest to the compiler.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('typescript', () => {
  it('type-checks src, test, bench and sim with no error', () => {
    const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.check.json'], { encoding: 'utf8', timeout: 180_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 200_000);
});
