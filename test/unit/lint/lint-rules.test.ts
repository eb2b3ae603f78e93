// Shows that each rule of eslint.config.js bites: the fixtures under test/fixtures/lint/ break one
// rule each, and are linted through ESLint's Node API as if they stood where the rule applies.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const PURE_FOLDERS = ['aggregation', 'verdict', 'events', 'rules'];
const IMPORT_RULE = '@typescript-eslint/no-restricted-imports';

let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({ cwd: root });
});

/** The fixture's messages when it stands at `asPath` (relative to the repository). */
async function lintFixture(fixture: string, asPath: string): Promise<Linter.LintMessage[]> {
  const source = await readFile(`${root}test/fixtures/lint/${fixture}`, 'utf8');
  const [result] = await eslint.lintText(source, { filePath: `${root}${asPath}` });
  return result.messages;
}

function imported(messages: Linter.LintMessage[]): number[] {
  expect(messages.every((m) => m.ruleId === IMPORT_RULE), JSON.stringify(messages)).toBe(true);
  return messages.map((m) => m.line);
}

describe('lint: the pure core imports no I/O, no service client and no adapter', () => {
  for (const folder of PURE_FOLDERS) {
    it(`refuses node:fs, fs/promises, node:net, node:http, http2 and node:child_process in src/${folder}`, async () => {
      expect(imported(await lintFixture('io-modules.ts', `src/${folder}/io-modules.ts`))).toEqual([2, 3, 4, 5, 6, 7]);
    });

    it(`refuses kafkajs, pg, ioredis, @grpc/grpc-js (even as a type) and PGlite in src/${folder}`, async () => {
      expect(imported(await lintFixture('client-libraries.ts', `src/${folder}/client-libraries.ts`))).toEqual([2, 3, 4, 5, 6]);
    });

    it(`refuses every adapter folder in src/${folder}`, async () => {
      expect(imported(await lintFixture('adapter-folders.ts', `src/${folder}/adapter-folders.ts`))).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    });

    it(`lets src/${folder} import node:crypto, zod, the config schema, core and the other pure folders`, async () => {
      expect(await lintFixture('allowed-imports.ts', `src/${folder}/allowed-imports.ts`)).toEqual([]);
    });
  }

  it('holds in the pure folders\' subfolders too', async () => {
    expect(imported(await lintFixture('io-modules.ts', 'src/verdict/statistics/io-modules.ts'))).toHaveLength(6);
  });

  it('leaves the adapters free to import what they adapt', async () => {
    expect(await lintFixture('io-modules.ts', 'src/store/io-modules.ts')).toEqual([]);
    expect(await lintFixture('client-libraries.ts', 'src/log/client-libraries.ts')).toEqual([]);
  });
});

describe('lint: no console in src/', () => {
  it('refuses console.log and console.error in an adapter and in the core', async () => {
    for (const at of ['src/flags/console.ts', 'src/aggregation/console.ts', 'src/core/console.ts']) {
      const messages = await lintFixture('console.ts', at);
      expect(messages.map((m) => [m.ruleId, m.line])).toEqual([
        ['no-console', 3],
        ['no-console', 4],
      ]);
    }
  });

  it('lets tests and tools print', async () => {
    expect(await lintFixture('console.ts', 'test/unit/console.ts')).toEqual([]);
    expect(await lintFixture('console.ts', 'bench/console.ts')).toEqual([]);
  });
});

describe('lint: the fixtures stay out of the normal run', () => {
  it('ignores test/fixtures/lint/', async () => {
    expect(await eslint.isPathIgnored(`${root}test/fixtures/lint/console.ts`)).toBe(true);
    expect(await eslint.isPathIgnored(`${root}src/aggregation/partition-aggregator.ts`)).toBe(false);
  });
});
