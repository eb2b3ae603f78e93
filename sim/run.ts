// npm run sim [-- --seed N --null-runs N --effect-runs N --write-results]
// Prints one line per figure and, last, one JSON object with all of them.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resultsMarkdown } from './results-markdown.js';
import { runSuite } from './suite.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} needs a positive integer, got ${process.argv[i + 1]}`);
  return value;
}

const started = performance.now();
const result = runSuite({ seed: option('seed', 20_251_125), nullRuns: option('null-runs', 1000), effectRuns: option('effect-runs', 300) });
const seconds = (performance.now() - started) / 1000;
const markdown = resultsMarkdown(result, seconds);
console.log(markdown);
if (process.argv.includes('--write-results')) {
  writeFileSync(fileURLToPath(new URL('./RESULTS.md', import.meta.url)), markdown);
}
console.log(JSON.stringify({ ...result, seconds: Math.round(seconds * 10) / 10 }));
