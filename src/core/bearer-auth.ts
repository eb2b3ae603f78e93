// Bearer-token authentication for both OTLP listeners and the admin API.
// Tokens come from config, env or a file, never from code; several may be valid at once so a
// token can be rotated without downtime. Comparison is constant-time over SHA-256 digests, which
// also hides the token's length, and every configured token is compared (no early exit).
// Neither tokens nor the presented header are ever logged or echoed.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PmfError } from './errors.js';

const MIN_TOKEN_LENGTH = 16;
const SCHEME = /^bearer[ \t]+(\S+)[ \t]*$/i;

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class BearerAuth {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    if (tokens.length === 0) throw new PmfError('ERR_CONFIG_INVALID', 'bearer auth needs at least one token');
    for (const t of tokens) {
      if (t.length < MIN_TOKEN_LENGTH) throw new PmfError('ERR_CONFIG_INVALID', `bearer tokens must be at least ${MIN_TOKEN_LENGTH} characters`);
    }
    this.digests = tokens.map(digest);
  }

  /** Whether an `authorization` header value carries a valid token. */
  accepts(authorization: string | undefined): boolean {
    const m = authorization === undefined ? null : SCHEME.exec(authorization);
    const presented = digest(m ? m[1] : '');
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(presented, d) || ok;
    return ok && m !== null;
  }
}

export interface BearerAuthConfig {
  /** Prefer bearerTokenFile (or the env override) over putting the token in a config file. */
  bearerToken?: string;
  /** One token per line; blank lines and lines starting with # are ignored. */
  bearerTokenFile?: string;
}

/** The configured tokens, or undefined when auth is off. */
export function loadBearerAuth(c: BearerAuthConfig | undefined): BearerAuth | undefined {
  if (!c) return undefined;
  const tokens: string[] = [];
  if (c.bearerToken) tokens.push(c.bearerToken.trim());
  if (c.bearerTokenFile) {
    let text: string;
    try {
      text = readFileSync(c.bearerTokenFile, 'utf8');
    } catch (err) {
      throw new PmfError('ERR_CONFIG_INVALID', `cannot read auth.bearerTokenFile ${c.bearerTokenFile}: ${(err as Error).message}`);
    }
    tokens.push(...text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')));
    if (tokens.length === 0) throw new PmfError('ERR_CONFIG_INVALID', `auth.bearerTokenFile ${c.bearerTokenFile} holds no token`);
  }
  return tokens.length > 0 ? new BearerAuth(tokens) : undefined;
}
