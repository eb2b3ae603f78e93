// Command-line parsing for `pmf-guard <command> [options]`. Small on purpose: the config file and
// environment carry everything else.

import { PmfError } from '../core/errors.js';
import type { Role } from '../config/schema.js';

export interface StartArgs {
  command: 'start';
  role?: Role;
  configFile?: string;
  rulesFile?: string;
}

export interface HelpArgs {
  command: 'help';
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

export type CliArgs = StartArgs | HelpArgs | ReplayArgs | ExportArgs;

const ROLES: readonly Role[] = ['receiver', 'aggregator', 'verdict', 'flag-writer', 'all'];

export const USAGE = `usage: pmf-guard start [--role receiver|aggregator|verdict|flag-writer|all] [--config FILE] [--rules FILE]
       pmf-guard replay --rules FILE [--input EXPORT.jsonl] [--from-offset N | --from-time ISO] [--step-seconds N] [--config FILE]
       pmf-guard export --out EXPORT.jsonl [--config FILE]
       pmf-guard rollout status|start|pause|resume|advance|abort <feature> [<cohort> --actor WHO --reason WHY] [--admin URL]

With none of KAFKA_BROKERS, DATABASE_URL and REDIS_URL set, every role runs in one process on an
embedded log and store under ./.data (OTLP gRPC on :4317, admin API on :8080).
Environment: PMF_GUARD_CONFIG, PMF_GUARD_RULES, KAFKA_BROKERS, DATABASE_URL, REDIS_URL,
PMF_GUARD_PSEUDONYM_KEY (or PMF_GUARD_PSEUDONYM_KEY_FILE); see the README for the rest.`;

export function parseArgs(argv: readonly string[]): CliArgs {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') return { command: 'help' };
  if (command !== 'start' && command !== 'replay' && command !== 'export') throw new PmfError('ERR_CONFIG_INVALID', `unknown command "${command}"\n${USAGE}`);
  const opts = readOptions(rest);
  const allow = (names: string[]) => {
    for (const k of Object.keys(opts)) if (!names.includes(k)) throw new PmfError('ERR_CONFIG_INVALID', `${k} does not apply to ${command}\n${USAGE}`);
  };
  if (command === 'replay') {
    allow(['--rules', '--config', '--input', '--from-offset', '--from-time', '--step-seconds']);
    if (!opts['--rules']) throw new PmfError('ERR_CONFIG_INVALID', `replay needs --rules FILE\n${USAGE}`);
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
      if (!Number.isInteger(n) || n <= 0) throw new PmfError('ERR_CONFIG_INVALID', `--step-seconds must be a positive whole number; got "${opts['--step-seconds']}"`);
      out.stepSeconds = n;
    }
    return out;
  }
  if (command === 'export') {
    allow(['--out', '--config']);
    if (!opts['--out']) throw new PmfError('ERR_CONFIG_INVALID', `export needs --out FILE\n${USAGE}`);
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

const KNOWN = ['--role', '--config', '--rules', '--input', '--from-offset', '--from-time', '--step-seconds', '--out'];

function readOptions(rest: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (!KNOWN.includes(flag)) throw new PmfError('ERR_CONFIG_INVALID', `unknown option "${arg}"\n${USAGE}`);
    const v = inline ?? rest[++i];
    if (v === undefined || v.startsWith('--')) throw new PmfError('ERR_CONFIG_INVALID', `${flag} needs a value\n${USAGE}`);
    out[flag] = v;
  }
  return out;
}
