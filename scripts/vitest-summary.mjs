// Folds one or more vitest JSON reports into the single closing line CI reads:
// `N passed, M failed[, K skipped]`, always the last line printed. Exits 1 when anything failed.
//
// Usage: node scripts/vitest-summary.mjs <label>:<report.json>:<vitest exit code> [...] [<label>::<exit code> ...]
//
// `<label>::<exit code>` (no report) is a check that is not a vitest run, such as the lint: it adds
// one failure when its exit code is not 0, and nothing to the counts when it passed.
//
// A run counts as failed beyond its failed tests when a test file could not run at all (import or
// syntax error: no failed test, but a failed file), when its report is missing (vitest crashed), or
// when vitest exited non-zero with nothing failed (an unhandled error): each such run adds one failure,
// so the closing line never says "0 failed" for a run that did not pass.
import { existsSync, readFileSync } from 'node:fs';

const checks = [];
const runs = [];
for (const arg of process.argv.slice(2)) {
  const check = /^([^:]+)::(-?\d+)$/.exec(arg);
  if (check !== null) {
    checks.push({ label: check[1], exitCode: Number(check[2]) });
    continue;
  }
  const match = /^([^:]+):(.+):(-?\d+)$/.exec(arg);
  if (match === null) {
    console.error(`vitest-summary: bad argument '${arg}', expected <label>:<report.json>:<exit code>`);
    process.exit(2);
  }
  runs.push({ label: match[1], report: match[2], exitCode: Number(match[3]) });
}
if (runs.length === 0) {
  console.error('vitest-summary: no runs given');
  process.exit(2);
}

let passed = 0;
let failed = 0;
let skipped = 0;
const notes = [];

for (const run of runs) {
  if (!existsSync(run.report)) {
    failed += 1;
    notes.push(`${run.label}: no report at ${run.report} (vitest exit code ${run.exitCode}); counted as 1 failure`);
    continue;
  }
  const report = JSON.parse(readFileSync(run.report, 'utf8'));
  const runPassed = report.numPassedTests ?? 0;
  const runFailed = report.numFailedTests ?? 0;
  const runSkipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // Files that failed to load report status "failed" with no failed assertion inside them.
  const brokenFiles = (report.testResults ?? []).filter(
    (file) => file.status === 'failed' && !(file.assertionResults ?? []).some((a) => a.status === 'failed'),
  );
  for (const file of brokenFiles) {
    const why = String(file.message ?? '').split('\n')[0];
    notes.push(`${run.label}: ${file.name} did not run: ${why}`);
  }
  let runExtra = brokenFiles.length;
  if (run.exitCode !== 0 && runFailed + runExtra === 0) {
    runExtra = 1;
    notes.push(`${run.label}: vitest exited ${run.exitCode} with no failed test (unhandled error?); counted as 1 failure`);
  }
  if (runPassed + runFailed + runExtra === 0) {
    runExtra = 1;
    notes.push(`${run.label}: ran no test; counted as 1 failure`);
  }
  notes.push(
    `${run.label}: ${runPassed} passed, ${runFailed + runExtra} failed` + (runSkipped > 0 ? `, ${runSkipped} skipped` : ''),
  );
  passed += runPassed;
  failed += runFailed + runExtra;
  skipped += runSkipped;
}

for (const check of checks) {
  if (check.exitCode === 0) {
    notes.push(`${check.label}: passed`);
  } else {
    failed += 1;
    notes.push(`${check.label}: exit code ${check.exitCode}; counted as 1 failure`);
  }
}

for (const note of notes) console.log(note);
console.log(`${passed} passed, ${failed} failed` + (skipped > 0 ? `, ${skipped} skipped` : ''));
process.exit(failed > 0 ? 1 : 0);
