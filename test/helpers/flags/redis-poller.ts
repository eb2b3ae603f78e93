// A reader that polls flag hashes in Redis as fast as it can while a test breaks things, and
// the invariants every reading must hold (docs/architecture.md): per feature the version never goes
// down, and the body read with a version is exactly the snapshot PostgreSQL committed for it.

import type { RedisFlagClient } from '../../../src/flags/redis-flag-cache.js';
import type { SqlClient } from '../../../src/store/sql-client.js';

export interface Reading {
  version: number;
  cohorts: Record<string, string>;
}

export class RedisPoller {
  /** Per feature, each reading that differed from the one before. */
  readonly readings = new Map<string, Reading[]>();
  polls = 0;
  /** Reads that failed (Redis down) or found no hash (Redis restarted empty): not observations. */
  failed = 0;
  missing = 0;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: RedisFlagClient,
    private readonly keys: () => { feature: string; key: string }[],
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        for (const { feature, key } of this.keys()) {
          this.polls++;
          let hash: Record<string, string>;
          try {
            hash = await this.client.hgetall(key);
          } catch {
            this.failed++;
            await new Promise((resolve) => setTimeout(resolve, 10)); // do not spin while Redis is down
            continue;
          }
          if (hash.version === undefined) {
            this.missing++;
            continue;
          }
          const { version, ...cohorts } = hash;
          const list = this.readings.get(feature) ?? [];
          const last = list[list.length - 1];
          const reading = { version: Number(version), cohorts };
          if (!last || last.version !== reading.version || JSON.stringify(last.cohorts) !== JSON.stringify(cohorts)) list.push(reading);
          this.readings.set(feature, list);
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Readings seen for a feature (after a change) so far. */
  count(): number {
    let n = 0;
    for (const list of this.readings.values()) n += list.length;
    return n;
  }

  /** Every violation of the invariants, as text (empty when all hold). */
  violations(committed: Map<string, Map<number, Record<string, string>>>): string[] {
    const out: string[] = [];
    for (const [feature, list] of this.readings) {
      list.forEach((r, i) => {
        if (i > 0 && r.version < list[i - 1].version) out.push(`${feature}: v${r.version} read after v${list[i - 1].version}`);
        const truth = committed.get(feature)?.get(r.version);
        if (!truth) out.push(`${feature}: v${r.version} read but PostgreSQL never committed it`);
        else if (JSON.stringify(sortKeys(truth)) !== JSON.stringify(sortKeys(r.cohorts))) {
          out.push(`${feature}: v${r.version} read as ${JSON.stringify(r.cohorts)}, committed as ${JSON.stringify(truth)}`);
        }
      });
    }
    return out;
  }
}

/** Every snapshot the outbox ever carried: feature → version → cohorts (published rows included). */
export async function committedSnapshots(sql: SqlClient, schema: string): Promise<Map<string, Map<number, Record<string, string>>>> {
  const { rows } = await sql.query<{ feature: string; version: unknown; payload: { cohorts: Record<string, string> } }>(
    `SELECT feature, version, payload FROM "${schema}".outbox ORDER BY id`,
  );
  const out = new Map<string, Map<number, Record<string, string>>>();
  for (const r of rows) {
    const byVersion = out.get(r.feature) ?? new Map<number, Record<string, string>>();
    byVersion.set(Number(r.version), r.payload.cohorts);
    out.set(r.feature, byVersion);
  }
  return out;
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
