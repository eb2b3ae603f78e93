// How `status` and `report` reach a running instance: the admin API's base URL (from --url, or the
// config's admin host and port) and its bearer token (from the environment, as the server reads it).

import { readFileSync } from 'node:fs';
import { PmfError } from '../core/errors.js';
import type { Config } from '../config/schema.js';

export interface AdminTarget {
  baseUrl: string;
  token?: string;
}

export function adminTarget(config: Config, url: string | undefined, env: NodeJS.ProcessEnv = process.env): AdminTarget {
  // A wildcard bind is reached on loopback from the same machine.
  const host = ['0.0.0.0', '::', ''].includes(config.admin.host) ? '127.0.0.1' : config.admin.host;
  const baseUrl = (url ?? `${config.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${config.admin.port}`).replace(/\/+$/, '');
  let token = env.PMF_GUARD_BEARER_TOKEN ?? config.auth?.bearerToken;
  const file = env.PMF_GUARD_BEARER_TOKEN_FILE ?? config.auth?.bearerTokenFile;
  if (!token && file) token = readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#'));
  return { baseUrl, token };
}

export async function getJson<T>(target: AdminTarget, path: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${target.baseUrl}${path}`, { headers: target.token ? { authorization: `Bearer ${target.token}` } : {} });
  } catch (err) {
    throw new PmfError('ERR_STORE_UNAVAILABLE', `no pmf-guard answering at ${target.baseUrl} (${(err as Error).cause ?? (err as Error).message}); is it running? Give --url or --config`);
  }
  const text = await res.text();
  if (res.status === 401) throw new PmfError('ERR_UNAUTHENTICATED', `${target.baseUrl} needs a bearer token: set PMF_GUARD_BEARER_TOKEN or PMF_GUARD_BEARER_TOKEN_FILE`);
  if (!res.ok) throw new PmfError('ERR_INTERNAL', `${target.baseUrl}${path} answered ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}
