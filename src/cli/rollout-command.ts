// `pmf-guard rollout`: steer a rollout and read its status through the admin API of a running
// pmf-guard, so a person at a terminal goes through the same authentication and audit log as
// anyone calling the HTTP routes.
//
//   pmf-guard rollout status  <feature>
//   pmf-guard rollout <start|pause|resume|advance|abort> <feature> <cohort> --actor WHO --reason WHY
// Options: --admin URL (default $PMF_GUARD_ADMIN_URL or http://127.0.0.1:8080), --token-file FILE
// (default $PMF_GUARD_ADMIN_TOKEN_FILE; or the token itself in $PMF_GUARD_ADMIN_TOKEN).

import { readFileSync } from 'node:fs';
import { PmfError } from '../core/errors.js';
import { STEER_ACTIONS, type SteerAction } from '../events/rollout-steer.js';

export const ROLLOUT_USAGE = `usage: pmf-guard rollout status <feature> [--admin URL] [--token-file FILE]
       pmf-guard rollout <${STEER_ACTIONS.join('|')}> <feature> <cohort> --actor WHO --reason WHY [--admin URL] [--token-file FILE]`;

export interface RolloutArgs {
  action: SteerAction | 'status';
  feature: string;
  cohort?: string;
  actor?: string;
  reason?: string;
  admin: string;
  tokenFile?: string;
}

const OPTIONS = ['--actor', '--reason', '--admin', '--token-file'];

export function parseRolloutArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): RolloutArgs {
  const positional: string[] = [];
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (!OPTIONS.includes(flag)) throw invalid(`unknown option "${arg}"`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value.startsWith('--')) throw invalid(`${flag} needs a value`);
    opts[flag] = value;
  }
  const [action, feature, cohort, ...extra] = positional;
  if (action !== 'status' && !STEER_ACTIONS.includes(action as SteerAction)) throw invalid(`unknown rollout action "${action ?? ''}"`);
  if (!feature) throw invalid(`rollout ${action} needs a feature`);
  const out: RolloutArgs = { action: action as RolloutArgs['action'], feature, admin: opts['--admin'] ?? env.PMF_GUARD_ADMIN_URL ?? 'http://127.0.0.1:8080' };
  const tokenFile = opts['--token-file'] ?? env.PMF_GUARD_ADMIN_TOKEN_FILE;
  if (tokenFile) out.tokenFile = tokenFile;
  if (action === 'status') {
    if (cohort !== undefined || opts['--actor'] || opts['--reason']) throw invalid('rollout status takes a feature only');
    return out;
  }
  if (!cohort || extra.length > 0) throw invalid(`rollout ${action} needs a feature and one cohort`);
  if (!opts['--actor'] || !opts['--reason']) throw invalid(`rollout ${action} needs --actor and --reason: both go into the audit log`);
  return { ...out, cohort, actor: opts['--actor'], reason: opts['--reason'] };
}

function invalid(message: string): PmfError {
  return new PmfError('ERR_CONFIG_INVALID', `${message}\n${ROLLOUT_USAGE}`);
}

/** Calls the admin API; returns the exit code (0 accepted or shown, 1 refused or unreachable). */
export async function runRolloutCommand(args: RolloutArgs, write: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let token = env.PMF_GUARD_ADMIN_TOKEN;
  if (args.tokenFile) {
    try {
      token = readFileSync(args.tokenFile, 'utf8').split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#'));
    } catch (err) {
      throw new PmfError('ERR_CONFIG_INVALID', `cannot read the token file ${args.tokenFile}: ${(err as Error).message}`);
    }
  }
  const base = args.admin.replace(/\/+$/, '');
  const feature = encodeURIComponent(args.feature);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response =
    args.action === 'status'
      ? await fetch(`${base}/v1/rollouts/${feature}`, { headers })
      : await fetch(`${base}/v1/rollouts/${feature}/cohorts/${encodeURIComponent(args.cohort!)}/${args.action}`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ actor: args.actor, reason: args.reason }),
        });
  const text = await response.text();
  write(text);
  return response.ok ? 0 : 1;
}
