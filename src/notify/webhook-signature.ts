// HMAC-SHA256 signature of a webhook body with a timestamp, in the Stripe/Slack style: the
// receiver recomputes HMAC(key, "<timestamp>.<body>"), compares in constant time, and refuses
// timestamps outside its tolerance (replay protection). Keys come from config files or env only.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { PmfError } from '../core/errors.js';

export const SIGNATURE_HEADER = 'x-pmf-guard-signature';
export const TIMESTAMP_HEADER = 'x-pmf-guard-timestamp';

export function signBody(key: string, timestampSeconds: number, body: string): string {
  return `sha256=${createHmac('sha256', key).update(`${timestampSeconds}.${body}`).digest('hex')}`;
}

/** For receivers (and tests): whether a signature is valid and its timestamp within tolerance. */
export function verifySignature(
  key: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const ts = Number(headers.timestamp);
  if (!headers.signature || !Number.isInteger(ts) || Math.abs(nowSeconds - ts) > toleranceSeconds) return false;
  const expected = Buffer.from(signBody(key, ts, body));
  const given = Buffer.from(headers.signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The signing key from config or its file (the file's first non-empty line), or undefined. */
export function loadSigningKey(c: { signingKey?: string; signingKeyFile?: string }, read: (path: string) => string): string | undefined {
  if (c.signingKey) return c.signingKey;
  if (!c.signingKeyFile) return undefined;
  let text: string;
  try {
    text = read(c.signingKeyFile);
  } catch (err) {
    throw new PmfError('ERR_CONFIG_INVALID', `cannot read notify.signingKeyFile ${c.signingKeyFile}: ${(err as Error).message}`);
  }
  const key = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '');
  if (!key || key.length < 16) throw new PmfError('ERR_CONFIG_INVALID', `notify.signingKeyFile ${c.signingKeyFile} must hold a key of at least 16 characters`);
  return key;
}
