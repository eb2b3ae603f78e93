// 64-bit fingerprints for the compact dedupe window and the eviction markers: two murmur3-style
// 32-bit streams with different seeds and multipliers, finalised with murmur3's fmix32. Results go
// to a shared scratch pair instead of a fresh object, so the per-event path allocates nothing.
//
// Collision odds (assuming the 64 bits behave as uniform, which murmur3 mixing of random trace /
// span ids and HMAC pseudonyms gives in practice): a lookup against n remembered fingerprints
// falsely matches with probability n / 2^64 (n = 1e6: 5.4e-14 per event, i.e. about one false
// match in 1.8e13 events). docs/aggregation.md states what a false match does.

/** Output of hashString64 / hashKey64 (the caller copies the two words out before the next call). */
export const hash64 = { lo: 0, hi: 0 };

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const D1 = 0x85ebca6b;
const D2 = 0xc2b2ae35;

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fingerprint of a string's UTF-16 code units, into hash64. */
export function hashString64(s: string): void {
  const n = s.length;
  let h1 = 0x9747b28c ^ n;
  let h2 = 0x5bd1e995 ^ n;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    let k1 = Math.imul(k, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, C2);
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    let k2 = Math.imul(k, D1);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, D2);
    h2 = (h2 << 11) | (h2 >>> 21);
    h2 = (Math.imul(h2, 9) + 0x2f5a6c3b) | 0;
  }
  if (i < n) {
    const k = s.charCodeAt(i);
    h1 ^= Math.imul(((Math.imul(k, C1) << 15) | (Math.imul(k, C1) >>> 17)), C2);
    h2 ^= Math.imul(((Math.imul(k, D1) << 16) | (Math.imul(k, D1) >>> 16)), D2);
  }
  // Cross-feed the streams so the two words are not independent functions of the same input bits.
  const a = fmix32(h1 ^ n);
  const b = fmix32(h2 ^ a);
  hash64.lo = a;
  hash64.hi = b;
}

// hashString64 of bytes' lower-case hex text reads one byte's two digits as one 32-bit word, so
// each stream's per-word mixing is a function of the byte: tabled here.
const HEX_K1 = new Int32Array(256);
const HEX_K2 = new Int32Array(256);
for (let b = 0; b < 256; b++) {
  const digit = (v: number) => (v < 10 ? 48 + v : 87 + v);
  const k = digit(b >>> 4) | (digit(b & 15) << 16);
  const k1 = Math.imul(k, C1);
  HEX_K1[b] = Math.imul((k1 << 15) | (k1 >>> 17), C2);
  const k2 = Math.imul(k, D1);
  HEX_K2[b] = Math.imul((k2 << 16) | (k2 >>> 16), D2);
}

/**
 * hashString64 of buf[at, at + length) as lower-case hex text, without making the text: the same
 * fingerprint, so ids remembered from text (and checkpoints holding them) match ids read as bytes.
 */
export function hashHexBytes64(buf: Uint8Array, at: number, length: number): void {
  const n = 2 * length;
  let h1 = 0x9747b28c ^ n;
  let h2 = 0x5bd1e995 ^ n;
  for (let i = at; i < at + length; i++) {
    const b = buf[i];
    h1 ^= HEX_K1[b];
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    h2 ^= HEX_K2[b];
    h2 = (h2 << 11) | (h2 >>> 21);
    h2 = (Math.imul(h2, 9) + 0x2f5a6c3b) | 0;
  }
  const a = fmix32(h1 ^ n);
  hash64.lo = a;
  hash64.hi = fmix32(h2 ^ a);
}

/** Fingerprint of a 128-bit user key (four 32-bit words) and a feature index, into hash64. */
export function hashKey64(k0: number, k1: number, k2: number, k3: number, feature: number): void {
  const f = Math.imul(feature + 1, 0x9e3779b9);
  const a = fmix32(k0 ^ fmix32(k2 ^ f));
  const b = fmix32(k1 ^ fmix32(k3 + f + a));
  hash64.lo = a;
  hash64.hi = b;
}
