// Migration safety on a real PostgreSQL: several processes migrating one schema at once.

import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../../src/store/migrations.js';
import { PgSqlClient } from '../../../src/store/pg-sql-client.js';
import { testServices, uniqueName } from '../../helpers/services.js';

describe('migrate on PostgreSQL', () => {
  const pools: pg.Pool[] = [];
  const schemas: string[] = [];
  const pool = () => {
    const p = new pg.Pool({ connectionString: testServices.databaseUrl, max: 2 });
    pools.push(p);
    return p;
  };

  afterAll(async () => {
    const admin = new PgSqlClient(pools[0]);
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await Promise.all(pools.map((p) => p.end()));
  });

  it('lets concurrent migrators of one new schema apply each migration exactly once', async () => {
    const schema = uniqueName('pmf_test_migrate');
    schemas.push(schema);
    const clients = Array.from({ length: 4 }, () => new PgSqlClient(pool()));
    const results = await Promise.all(clients.map((c) => migrate(c, schema)));

    const latest = MIGRATIONS.length;
    expect(results.filter((r) => r.applied.length > 0)).toEqual([{ applied: MIGRATIONS.map((m) => m.version), current: latest }]);
    expect(results.filter((r) => r.applied.length === 0)).toHaveLength(3);
    const { rows } = await clients[0].query<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
    expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('keeps schemas apart and leaves the connection search_path untouched', async () => {
    const a = uniqueName('pmf_test_migrate');
    const b = uniqueName('pmf_test_migrate');
    schemas.push(a, b);
    const p = pool();
    const sql = new PgSqlClient(p);
    await Promise.all([migrate(sql, a), migrate(sql, b)]);
    await sql.query(`INSERT INTO "${a}".feature_versions (feature, version) VALUES ('x', 1)`);
    const { rows } = await sql.query<{ n: unknown }>(`SELECT count(*) AS n FROM "${b}".feature_versions`);
    expect(Number(rows[0].n)).toBe(0);
    const path = await sql.query<{ search_path: string }>('SHOW search_path');
    expect(path.rows[0].search_path).not.toContain(a);
  });

  it('refuses migrations that are not numbered 1..n', async () => {
    const sql = new PgSqlClient(pool());
    await expect(migrate(sql, uniqueName('pmf_test_migrate'), [{ ...MIGRATIONS[0], version: 2 }])).rejects.toThrow(/numbered 1\.\.n/);
  });
});
