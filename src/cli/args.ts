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

export type CliArgs = StartArgs | HelpArgs;

const ROLES: readonly Role[] = ['receiver', 'aggregator', 'verdict', 'flag-writer', 'all'];

export const USAGE = `usage: pmf-guard start [--role receiver|aggregator|verdict|flag-writer|all] [--config FILE] [--rules FILE]

With none of KAFKA_BROKERS, DATABASE_URL and REDIS_URL set, every role runs in one process on an
embedded log and store under ./.data (OTLP gRPC on :4317, admin API on :8080).
Environment: PMF_GUARD_CONFIG, PMF_GUARD_RULES, KAFKA_BROKERS, DATABASE_URL, REDIS_URL,
PMF_GUARD_PSEUDONYM_KEY (or PMF_GUARD_PSEUDONYM_KEY_FILE); see the README for the rest.`;

export function parseArgs(argv: readonly string[]): CliArgs {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') return { command: 'help' };
  if (command !== 'start') throw new PmfError('ERR_CONFIG_INVALID', `unknown command "${command}"\n${USAGE}`);
  const out: StartArgs = { command: 'start' };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? rest[++i];
      if (v === undefined || v.startsWith('--')) throw new PmfError('ERR_CONFIG_INVALID', `${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--role': {
        const role = value();
        if (!ROLES.includes(role as Role)) throw new PmfError('ERR_CONFIG_INVALID', `--role must be one of ${ROLES.join(', ')}; got "${role}"`);
        out.role = role as Role;
        break;
      }
      case '--config': out.configFile = value(); break;
      case '--rules': out.rulesFile = value(); break;
      default: throw new PmfError('ERR_CONFIG_INVALID', `unknown option "${arg}"\n${USAGE}`);
    }
  }
  return out;
}
