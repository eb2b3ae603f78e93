import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createOnce, resolvePseudonymKey } from '../../../src/app/pseudonym-key.js';
import { Config } from '../../../src/config/schema.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'pmf-key-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the embedded pseudonym key file', () => {
  it('is created once, private, and never overwritten by a later or concurrent creator', () => {
    const dir = tempDir();
    const file = join(dir, 'pseudonym.key');
    createOnce(file, 'a'.repeat(64));
    createOnce(file, 'b'.repeat(64));
    expect(readFileSync(file, 'utf8')).toBe('a'.repeat(64));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['pseudonym.key']); // no temporary file left behind
  });

  it('gives the same key on every start of one data dir', () => {
    const dataDir = tempDir();
    const config = Config.parse({ dataDir });
    const first = resolvePseudonymKey(config, true);
    const second = resolvePseudonymKey(config, true);
    expect(second.key).toBe(first.key);
    expect(first.key).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a key file that holds no usable key instead of using it', () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, 'pseudonym.key'), '');
    const config = Config.parse({ dataDir });
    expect(() => resolvePseudonymKey(config, true)).toThrow(/no usable key/);
  });
});
