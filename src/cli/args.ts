// Command-line parsing for `pmf-guard <command> [options]`. Small on purpose: the config file and
// environment carry everything else. Help texts live in usage.ts.

import { PmfError } from '../core/errors.js';
import type { Role } from '../config/schema.js';
import { COMMAND_HELP, USAGE } from './usage.js';

export { USAGE } from './usage.js';

export interface StartArgs {
  command: 'start';
  role?: Role;
  configFile?: string;
  rulesFile?: string;
}

export interface HelpArgs {
  command: 'help';
  text: string;
  /** 0 when help was asked for, 2 when the command line was empty (a usage error). */
  exitCode: 0 | 2;
}

export interface ReplayArgs {
  command: 'replay';
  rulesFile: string;
  configFile?: string;
  /** A file written by `pmf-guard export`; otherwise the configured log's events topic. */
  input?: string;
  fromOffset?: bigint;
  fromTime?: number;
  stepSeconds?: number;
}

export interface ExportArgs {
  command: 'export';
  out: string;
  configFile?: string;
}

export interface RulesCheckArgs {
  command: 'rules-check';
  file: string;
  json: boolean;
}

interface QueryOptions {
  url?: string;
  configFile?: string;
  json: boolean;
  from?: string;
  to?: string;
}

export interface StatusArgs extends QueryOptions {
  command: 'status';
}

export interface ReportArgs extends QueryOptions {
  command: 'report';
}

export type CliArgs = StartArgs | HelpArgs | ReplayArgs | ExportArgs | RulesCheckArgs | StatusArgs | ReportArgs;

const ROLES: readonly Role[] = ['receiver', 'aggregator', 'verdict', 'flag-writer', 'all'];
const COMMANDS = ['start', 'replay', 'export', 'rules', 'status', 'report'] as const;
const FLAGS = ['--json'];
const KNOWN = ['--role', '--config', '--rules', '--input', '--from-offset', '--from-time', '--step-seconds', '--out', '--url', '--from', '--to', ...FLAGS];

const usageError = (message: string, help = USAGE) => new PmfError('ERR_CONFIG_INVALID', `${message}\n${help}`);

export function parseArgs(argv: readonly string[]): CliArgs {
  const [command, ...rest] = argv;
  if (command === undefined) return { command: 'help', text: USAGE, exitCode: 2 };
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0];
    return { command: 'help', text: topic && COMMAND_HELP[topic] ? COMMAND_HELP[topic] : USAGE, exitCode: 0 };
  }
  if (!(COMMANDS as readonly string[]).includes(command)) throw usageError(`unknown command "${command}"`);
  if (rest.includes('--help') || rest.includes('-h')) return { command: 'help', text: COMMAND_HELP[command], exitCode: 0 };
  const help = COMMAND_HELP[command];

  if (command === 'rules') {
    const [sub, ...more] = rest;
    if (sub !== 'check') throw usageError(sub === undefined ? 'rules needs a subcommand: rules check FILE' : `unknown rules subcommand "${sub}"`, help);
    const positional = more.filter((a) => !a.startsWith('--'));
    const opts = more.filter((a) => a.startsWith('--'));
    for (const o of opts) if (o !== '--json') throw usageError(`unknown option "${o}"`, help);
    if (positional.length !== 1) throw usageError('rules check needs exactly one FILE', help);
    return { command: 'rules-check', file: positional[0], json: opts.includes('--json') };
  }

  const opts = readOptions(rest, help);
  const allow = (names: string[]) => {
    for (const k of Object.keys(opts)) if (!names.includes(k)) throw usageError(`${k} does not apply to ${command}`, help);
  };
  if (command === 'status' || command === 'report') {
    allow(command === 'status' ? ['--url', '--config', '--json'] : ['--url', '--config', '--json', '--from', '--to']);
    for (const k of ['--from', '--to'] as const) {
      if (opts[k] !== undefined && Number.isNaN(Date.parse(opts[k]))) throw usageError(`${k} must be an ISO 8601 time such as 2026-11-25T08:00:00Z; got "${opts[k]}"`, help);
    }
    const query: QueryOptions = { url: opts['--url'], configFile: opts['--config'], json: opts['--json'] !== undefined, from: opts['--from'], to: opts['--to'] };
    return command === 'status' ? { command, ...query } : { command, ...query };
  }
  if (command === 'replay') {
    allow(['--rules', '--config', '--input', '--from-offset', '--from-time', '--step-seconds']);
    if (!opts['--rules']) throw usageError('replay needs --rules FILE', help);
    if (opts['--from-offset'] && opts['--from-time']) throw new PmfError('ERR_CONFIG_INVALID', 'give --from-offset or --from-time, not both');
    const out: ReplayArgs = { command: 'replay', rulesFile: opts['--rules'], configFile: opts['--config'], input: opts['--input'] };
    if (opts['--from-offset'] !== undefined) {
      if (!/^\d+$/.test(opts['--from-offset'])) throw new PmfError('ERR_CONFIG_INVALID', `--from-offset must be a whole number; got "${opts['--from-offset']}"`);
      out.fromOffset = BigInt(opts['--from-offset']);
    }
    if (opts['--from-time'] !== undefined) {
      const t = Date.parse(opts['--from-time']);
      if (Number.isNaN(t)) throw new PmfError('ERR_CONFIG_INVALID', `--from-time must be an ISO 8601 time such as 2026-11-25T08:00:00Z; got "${opts['--from-time']}"`);
      out.fromTime = t;
    }
    if (opts['--step-seconds'] !== undefined) {
      const n = Number(opts['--step-seconds']);
      if (!(n > 0) || Math.abs(n * 1000 - Math.round(n * 1000)) > 1e-6) {
        throw new PmfError('ERR_CONFIG_INVALID', `--step-seconds must be a positive number of seconds with at most 3 decimals (whole milliseconds); got "${opts['--step-seconds']}"`);
      }
      out.stepSeconds = n;
    }
    return out;
  }
  if (command === 'export') {
    allow(['--out', '--config']);
    if (!opts['--out']) throw usageError('export needs --out FILE', help);
    return { command: 'export', out: opts['--out'], configFile: opts['--config'] };
  }
  allow(['--role', '--config', '--rules']);
  const out: StartArgs = { command: 'start' };
  if (opts['--role'] !== undefined) {
    const role = opts['--role'];
    if (!ROLES.includes(role as Role)) throw new PmfError('ERR_CONFIG_INVALID', `--role must be one of ${ROLES.join(', ')}; got "${role}"`);
    out.role = role as Role;
  }
  if (opts['--config'] !== undefined) out.configFile = opts['--config'];
  if (opts['--rules'] !== undefined) out.rulesFile = opts['--rules'];
  return out;
}

function readOptions(rest: readonly string[], help: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (!KNOWN.includes(flag)) throw usageError(`unknown option "${arg}"`, help);
    if (FLAGS.includes(flag)) {
      out[flag] = 'true';
      continue;
    }
    const v = inline ?? rest[++i];
    if (v === undefined || v.startsWith('--')) throw usageError(`${flag} needs a value`, help);
    out[flag] = v;
  }
  return out;
}
