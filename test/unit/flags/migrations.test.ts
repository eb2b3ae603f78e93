import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../../src/store/migrations.js';

describe('MIGRATIONS', () => {
  it('are numbered 1..n', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  // PGlite's query() runs one statement; a stray ";" would hide a second one. A function body
  // (between $fn$ quotes) is one statement however many ";" it holds.
  it('hold exactly one statement per entry, without schema names or extensions', () => {
    for (const m of MIGRATIONS) {
      for (const s of m.statements) {
        expect(s.replace(/\$fn\$[\s\S]*?\$fn\$/g, 'BODY').trim()).not.toMatch(/;/);
        expect(s).not.toMatch(/\bCREATE\s+EXTENSION\b/i);
        expect(s).not.toMatch(/\bpublic\./i);
      }
    }
  });

  it('create the tables the flag store relies on', () => {
    const sql = MIGRATIONS.flatMap((m) => m.statements).join('\n');
    for (const table of ['flags', 'feature_versions', 'audit_log', 'applied_commands', 'outbox']) {
      expect(sql).toMatch(new RegExp(`CREATE TABLE ${table} \\(`));
    }
  });
});
