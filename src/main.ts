#!/usr/bin/env node
// Entry point only: parse arguments, load config and rules once, build the app, start it, and
// drain on SIGTERM/SIGINT. Exit codes: 0 clean stop, 2 bad configuration or rules, 1 anything else.

import { parseArgs } from './cli/args.js';
import { adminTarget, getJson } from './cli/admin-client.js';
import { renderReport, renderStatus, type StatusJson } from './cli/query-commands.js';
import { describeRules } from './cli/rules-check.js';
import type { Report } from './report/feature-report.js';
import { loadConfig } from './config/load.js';
import { PmfError, errorMessage } from './core/errors.js';
import { createLogger } from './core/logger.js';
import { emptyRuleSet } from './rules/load.js';
import { loadRulesFile } from './config/rules-file.js';
import { buildApp } from './app/build-app.js';
import { runExport, runReplay } from './replay/replay-command.js';

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.command === 'help') {
    // Asked-for help goes to stdout; help for an empty command line is a usage error on stderr.
    (args.exitCode === 0 ? process.stdout : process.stderr).write(`${args.text}\n`);
    return args.exitCode;
  }
  if (args.command === 'rules-check') {
    const rules = await loadRulesFile(args.file);
    process.stdout.write(args.json ? `${JSON.stringify({ file: args.file, version: rules.version, rules: rules.rules }, null, 2)}\n` : `${describeRules(rules, args.file)}\n`);
    return 0;
  }
  if (args.command === 'status' || args.command === 'report') {
    const config = loadConfig({ configFile: args.configFile });
    const target = adminTarget(config, args.url);
    if (args.command === 'status') {
      const body = await getJson<StatusJson>(target, '/v1/status');
      process.stdout.write(args.json ? `${JSON.stringify(body, null, 2)}\n` : `${renderStatus(body)}\n`);
    } else {
      const q = new URLSearchParams();
      if (args.from) q.set('from', args.from);
      if (args.to) q.set('to', args.to);
      const body = await getJson<Report>(target, `/v1/features/report${q.size > 0 ? `?${q}` : ''}`);
      process.stdout.write(args.json ? `${JSON.stringify(body, null, 2)}\n` : `${renderReport(body)}\n`);
    }
    return 0;
  }
  if (args.command === 'replay') {
    const config = loadConfig({ configFile: args.configFile });
    await runReplay({ ...args, config, logger: createLogger(config.logLevel), write: (line) => process.stdout.write(`${line}\n`), progress: process.stderr });
    return 0;
  }
  if (args.command === 'export') {
    const config = loadConfig({ configFile: args.configFile });
    const logger = createLogger(config.logLevel);
    const n = await runExport(config, logger, args.out);
    logger.info('exported', { records: n, out: args.out });
    return 0;
  }
  const config = loadConfig({ configFile: args.configFile, rulesFile: args.rulesFile, role: args.role });
  const logger = createLogger(config.logLevel);
  const rules = config.rulesFile ? await loadRulesFile(config.rulesFile) : emptyRuleSet();
  if (!config.rulesFile) logger.warn('no rules file (--rules or PMF_GUARD_RULES): events are received and stored, no feature is judged');
  const app = await buildApp(config, rules, { logger });

  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn('second signal: exiting without waiting for the drain', { signal });
      process.exit(1);
    }
    logger.info('signal received, draining', { signal });
    const deadline = setTimeout(() => {
      logger.error('drain did not finish within shutdownTimeoutMs; exiting', { shutdownTimeoutMs: config.shutdownTimeoutMs });
      process.exit(1);
    }, config.shutdownTimeoutMs + 5000);
    deadline.unref();
    stopping = app.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error('error while stopping', { err });
        process.exit(1);
      },
    );
  };
  // SIGHUP reloads the rules file; an invalid file is refused and the rules in force stay.
  process.on('SIGHUP', () => {
    if (!config.rulesFile) return logger.warn('SIGHUP: no rules file configured, nothing to reload');
    loadRulesFile(config.rulesFile)
      .then((next) => app.setRules(next))
      .catch((err) => logger.error('rules reload refused; the previous rules stay in force', { problems: errorMessage(err) }));
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  await app.start();
  return -1; // keep running until a signal
}

main(process.argv.slice(2)).then(
  (code) => {
    // Let piped stdout (replay output) drain before exiting.
    if (code >= 0) process.stdout.write('', () => process.exit(code));
  },
  (err) => {
    const config = err instanceof PmfError && (err.code === 'ERR_CONFIG_INVALID' || err.code === 'ERR_RULES_INVALID');
    process.stderr.write(`pmf-guard: ${errorMessage(err)}\n`);
    if (!config && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exit(config ? 2 : 1);
  },
);
