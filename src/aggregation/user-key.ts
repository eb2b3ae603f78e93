// A user id as four 32-bit words, the key of the compact user state store. The receiver's
// pseudonyms are 32 lower-case hex digits (HMAC-SHA256 truncated to 128 bits): they are parsed
// into their 16 bytes, exactly and reversibly. Any other string (tests, other producers) is
// keyed by its MD5 digest and flagged as an alias; the store keeps the original string for as
// long as the user has live state, so nothing about such users is lost, only their compactness.
// Two different strings share a key only if an MD5 digest collides with another digest or with a
// pseudonym: 2^-128-scale odds, never by accident.

import { createHash } from 'node:crypto';

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[97 + i] = 10 + i;

/** The parsed key of the last parseUserKey call (copied out by the caller). */
export const userKey = { k0: 0, k1: 0, k2: 0, k3: 0, alias: false };

/** The 8 hex digits at `at` as an unsigned word, or -1 if any is not [0-9a-f]. */
function hexWord(s: string, at: number): number {
  let w = 0;
  for (let i = at; i < at + 8; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? HEX[c] : -1;
    if (v < 0) return -1;
    w = (w << 4) | v;
  }
  return w >>> 0;
}

/** Parses `user` into userKey; alias = true when it is not a 32-digit lower-case hex pseudonym. */
export function parseUserKey(user: string): void {
  if (user.length === 32) {
    const k0 = hexWord(user, 0);
    const k1 = k0 < 0 ? -1 : hexWord(user, 8);
    const k2 = k1 < 0 ? -1 : hexWord(user, 16);
    const k3 = k2 < 0 ? -1 : hexWord(user, 24);
    if (k3 >= 0) {
      userKey.k0 = k0 | 0;
      userKey.k1 = k1 | 0;
      userKey.k2 = k2 | 0;
      userKey.k3 = k3 | 0;
      userKey.alias = false;
      return;
    }
  }
  const d = createHash('md5').update(user, 'utf8').digest();
  userKey.k0 = d.readInt32BE(0);
  userKey.k1 = d.readInt32BE(4);
  userKey.k2 = d.readInt32BE(8);
  userKey.k3 = d.readInt32BE(12);
  userKey.alias = true;
}

/** The 32-digit hex form of a key (the pseudonym itself when not an alias). */
export function keyToHex(k0: number, k1: number, k2: number, k3: number): string {
  return hex8(k0) + hex8(k1) + hex8(k2) + hex8(k3);
}

function hex8(w: number): string {
  return (w >>> 0).toString(16).padStart(8, '0');
}
