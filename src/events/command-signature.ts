// Authenticates commands on pmf.commands.v1: whoever writes commands (the verdict stage) signs
// them with an HMAC-SHA256 over the command's canonical JSON, and the flag writer applies only
// commands whose signature one key of its ring verifies. Anyone who can merely produce to the
// topic therefore cannot switch a flag.
//
// Key ring, like the pseudonymisation key ring: one key per line, newest first. Signing uses the
// newest; verifying accepts any. Rotate by adding the new key first on every flag writer, then on
// every verdict process, and drop the old one once no command signed with it awaits delivery
// (the commands topic's consumer lag is zero). A key's id (the first 8 hex digits of its SHA-256)
// travels with the signature so a verifier picks the key without trying them all; the id reveals
// nothing usable about the key.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { PmfError } from '../core/errors.js';
import type { FlagCommand } from './flag-command.js';

const MIN_KEY_BYTES = 16;
const VERSION = 'v1';

export interface CommandKeyRing {
  /** Newest first. */
  readonly keys: readonly { id: string; secret: Buffer }[];
}

export type SignatureCheck = 'ok' | 'unsigned' | 'unknown_key' | 'bad_signature';

export function commandKeyRing(keys: readonly string[]): CommandKeyRing {
  if (keys.length === 0) throw new PmfError('ERR_CONFIG_INVALID', 'the command signing key ring is empty');
  return {
    keys: keys.map((k) => {
      const secret = Buffer.from(k, 'utf8');
      if (secret.length < MIN_KEY_BYTES) throw new PmfError('ERR_CONFIG_INVALID', `a command signing key must be at least ${MIN_KEY_BYTES} bytes`);
      return { id: createHash('sha256').update(secret).digest('hex').slice(0, 8), secret };
    }),
  };
}

/** JSON with object keys sorted at every level and the signature left out: what the HMAC covers. */
export function canonicalCommand(cmd: FlagCommand): string {
  const { signature: _signature, ...rest } = cmd;
  return canonicalJson(rest);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const entries = Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function mac(secret: Buffer, cmd: FlagCommand): Buffer {
  return createHmac('sha256', secret).update(canonicalCommand(cmd), 'utf8').digest();
}

export function signCommand(cmd: FlagCommand, ring: CommandKeyRing): FlagCommand {
  const { id, secret } = ring.keys[0];
  return { ...cmd, signature: `${VERSION}.${id}.${mac(secret, cmd).toString('hex')}` };
}

export function verifyCommand(cmd: FlagCommand, ring: CommandKeyRing): SignatureCheck {
  if (typeof cmd.signature !== 'string' || cmd.signature === '') return 'unsigned';
  const [version, id, hex, ...extra] = cmd.signature.split('.');
  if (version !== VERSION || extra.length > 0 || !/^[0-9a-f]{64}$/.test(hex ?? '')) return 'bad_signature';
  const key = ring.keys.find((k) => k.id === id);
  if (!key) return 'unknown_key';
  return timingSafeEqual(mac(key.secret, cmd), Buffer.from(hex, 'hex')) ? 'ok' : 'bad_signature';
}
