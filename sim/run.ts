// npm run sim [-- --seed N --null-runs N --effect-runs N --write-results]
// Prints the results as Markdown and, last, one JSON line with the figures.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resultsMarkdown, targetsOf } from './results-markdown.js';
import { runSuite } from './suite.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} needs a positive integer, got ${process.argv[i + 1]}`);
  return value;
}

const started = performance.now();
const result = runSuite({ seed: option('seed', 20_251_125), nullRuns: option('null-runs', 1000), effectRuns: option('effect-runs', 200) });
const seconds = (performance.now() - started) / 1000;
const markdown = resultsMarkdown(result, seconds);
console.log(markdown);
if (process.argv.includes('--write-results')) {
  writeFileSync(fileURLToPath(new URL('./RESULTS.md', import.meta.url)), markdown);
}
const curves = Object.fromEntries(
  Object.entries(result.curves).map(([key, byOnset]) => [
    key,
    Object.fromEntries(Object.entries(byOnset).map(([onset, c]) => [onset, {
      power: c.power, median: c.medianHours, p90: c.p90Hours, oracleMedian: c.oracle.medianHours, oracleP90: c.oracle.p90Hours,
      ...(c.previous ? { previousMedian: c.previous.medianHours, previousP90: c.previous.p90Hours } : {}),
      ...(c.maturedOnly ? { maturedOnlyMedian: c.maturedOnly.medianHours, maturedOnlyP90: c.maturedOnly.p90Hours } : {}),
    }])),
  ]),
);
console.log(JSON.stringify({
  targets: targetsOf(result),
  nulls: result.nulls,
  curves,
  naiveFamily: result.naiveFamily,
  delayedActivation: result.nulls.filter((n) => n.name.startsWith('treatment only activates later')),
  alphaByGuard: result.alphaByGuard,
  cpu: result.cpu,
  seed: result.seed,
  nullRuns: result.nullRuns,
  effectRuns: result.effectRuns,
  seconds: Math.round(seconds * 10) / 10,
}));
