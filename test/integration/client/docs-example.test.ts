// The flag client examples in docs/flag-client.md and the README must work as written: each
// TypeScript block runs as its own program against a Redis this test owns, with only the
// package import ('pmf-guard/client') pointed at the source tree.

import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { OwnRedis } from '../../helpers/flags/own-redis.js';
import { uniqueName, waitFor } from '../../helpers/services.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
// Inside the repository, so the examples resolve ioredis and friends from its node_modules.
const scratch = join(root, 'node_modules/.cache/pmf-guard-doc-examples', uniqueName('run'));

async function examples(): Promise<string[]> {
  const blocks: string[] = [];
  for (const doc of ['docs/flag-client.md', 'README.md']) {
    const text = await readFile(join(root, doc), 'utf8');
    blocks.push(...[...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => code.includes("'pmf-guard/client'")));
  }
  return blocks;
}

describe('flag client examples in docs/flag-client.md and the README', () => {
  let own: OwnRedis;

  beforeAll(async () => {
    own = await OwnRedis.start();
    const writer = own.client();
    await waitFor(() => writer.status === 'ready', { message: 'writer connected' });
    await new RedisFlagCache(writer).writeFeature('feat_smart_recs_v1', 2, { treatment: 'off', control: 'on' });
    writer.disconnect();
    await mkdir(scratch, { recursive: true });
  });
  afterAll(async () => {
    await own.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  it("has the guide's client and OpenFeature examples and the README's", async () => {
    const blocks = await examples();
    expect(blocks).toHaveLength(3);
    for (const b of blocks) expect(b).toMatch(/from 'pmf-guard\/client'/);
  });

  it('runs each example as written and prints the rolled-back cohort as off', async () => {
    const blocks = await examples();
    for (const [i, code] of blocks.entries()) {
      const file = join(scratch, `example-${i}.mts`);
      const entry = relative(scratch, join(root, 'src/client/index.ts')).replace(/\\/g, '/');
      await writeFile(file, code.replaceAll("'pmf-guard/client'", `'${entry}'`));
      const { stdout } = await run(process.execPath, ['--import', 'tsx', file], {
        cwd: root,
        env: { ...process.env, REDIS_URL: own.url },
        timeout: 30_000,
      });
      expect(stdout.trim(), `example ${i + 1}`).toBe('smart recs for treatment: off');
    }
  }, 60_000);
});
