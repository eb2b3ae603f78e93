// What `npm run lint` (and so CI) checks: typescript-eslint's recommended set on every TypeScript
// file, and the boundaries the architecture relies on:
//   - the pure core (aggregation, verdict, events, rules) imports no I/O module, no client library
//     and no adapter folder, so it stays deterministic and its tests run in milliseconds;
//   - nothing under src/ writes to the console: components log through the injected Logger.
// test/unit/lint/lint-rules.test.ts runs this configuration on test/fixtures/lint/ to show that
// each rule bites; those fixtures break the rules on purpose and are ignored here.
import tseslint from 'typescript-eslint';

const PURE_CORE = ['src/aggregation/**/*.ts', 'src/verdict/**/*.ts', 'src/events/**/*.ts', 'src/rules/**/*.ts'];

const IO_MODULES = ['fs', 'net', 'http', 'http2', 'child_process'];
const CLIENT_LIBRARIES = ['kafkajs', 'pg', 'ioredis', '@grpc/grpc-js', '@electric-sql/pglite'];
const ADAPTER_FOLDERS = ['log', 'store', 'flags', 'admin', 'receiver', 'stream', 'app', 'cli', 'replay', 'config', 'notify'];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const pureCoreImports = {
  patterns: [
    {
      // `fs`, `node:fs`, `node:fs/promises` and the like.
      regex: `^(node:)?(${IO_MODULES.join('|')})(/.*)?$`,
      message: 'The pure core does no I/O: take the data as an argument and leave the reading to an adapter.',
    },
    {
      regex: `^(${CLIENT_LIBRARIES.map(escape).join('|')})(/.*)?$`,
      message: 'The pure core talks to no service: the adapters (log, store, flags, receiver) hold the clients.',
    },
    {
      // The config schema (zod only, itself held to these rules below) is the one place of every
      // default, which the core's components read when built without a config; the rest of
      // config/ loads files and the environment.
      regex: `^(\\.\\./)+(${ADAPTER_FOLDERS.join('|')})(/(?!schema\\.js$).*)?$`,
      message: 'The pure core depends on no adapter folder: adapters depend on the core, not the other way round.',
    },
  ],
};

export default tseslint.config(
  {
    ignores: ['dist/**', 'coverage/**', '.stack/**', '.data/**', 'node_modules/**', 'test/fixtures/lint/**'],
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended],
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A leading underscore marks a value left out on purpose (a destructured field, a callback argument).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests read the admin API's JSON replies field by field; typing each reply would only restate the contract.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // The type-aware variant, so `import type` from an adapter is refused too.
    files: [...PURE_CORE, 'src/config/schema.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', pureCoreImports] },
  },
);
