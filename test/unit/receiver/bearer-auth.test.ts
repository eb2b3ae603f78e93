import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BearerAuth, loadBearerAuth } from '../../../src/core/bearer-auth.js';

const A = 'token-a-0123456789abcdef';
const B = 'token-b-fedcba9876543210';

describe('BearerAuth', () => {
  it('accepts exactly "Bearer <token>" (scheme case-insensitive) for any token of the ring', () => {
    const auth = new BearerAuth([A, B]);
    for (const ok of [`Bearer ${A}`, `bearer ${B}`, `BEARER  ${A} `]) expect(auth.accepts(ok), ok).toBe(true);
    for (const bad of [undefined, '', A, `Basic ${A}`, `Bearer ${A}x`, `Bearer ${A.slice(1)}`, `Bearer ${A} ${B}`, 'Bearer ']) {
      expect(auth.accepts(bad), String(bad)).toBe(false);
    }
  });

  it('refuses short tokens and an empty ring', () => {
    expect(() => new BearerAuth([])).toThrow(/at least one token/);
    expect(() => new BearerAuth(['short'])).toThrow(/at least 16/);
  });

  it('loads tokens from config and from a file (one per line, comments ignored), or turns auth off', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmf-auth-'));
    try {
      const file = join(dir, 'tokens');
      writeFileSync(file, `# rotated 2025-01\n${A}\n\n${B}\n`);
      const fromFile = loadBearerAuth({ bearerTokenFile: file })!;
      expect(fromFile.accepts(`Bearer ${A}`) && fromFile.accepts(`Bearer ${B}`)).toBe(true);
      expect(loadBearerAuth({ bearerToken: A })!.accepts(`Bearer ${B}`)).toBe(false);
      expect(loadBearerAuth(undefined)).toBeUndefined();
      writeFileSync(file, '# nothing yet\n');
      expect(() => loadBearerAuth({ bearerTokenFile: file })).toThrow(/holds no token/);
      expect(() => loadBearerAuth({ bearerTokenFile: join(dir, 'missing') })).toThrow(/cannot read auth.bearerTokenFile/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
