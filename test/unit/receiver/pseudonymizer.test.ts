import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { partitionForKey } from '../../../src/log/key-partition.js';
import { parseKeyRing, PSEUDONYM_HEX_LENGTH, Pseudonymizer } from '../../../src/receiver/mapping/pseudonymizer.js';

const KEY = 'test-key-0123456789abcdef';

describe('Pseudonymizer', () => {
  it('is a keyed HMAC-SHA256, hex, truncated to 32 characters', () => {
    const p = new Pseudonymizer(KEY);
    const expected = createHmac('sha256', KEY).update('alice@example.com').digest('hex').slice(0, 32);
    expect(p.pseudonymize('alice@example.com')).toBe(expected);
    expect(p.pseudonymize('alice@example.com')).toMatch(new RegExp(`^[0-9a-f]{${PSEUDONYM_HEX_LENGTH}}$`));
  });

  it('is stable per key and differs across users and keys', () => {
    const a = new Pseudonymizer(KEY);
    const b = new Pseudonymizer(`${KEY}-rotated`);
    expect(a.pseudonymize('u1')).toBe(new Pseudonymizer(KEY).pseudonymize('u1'));
    expect(a.pseudonymize('u1')).not.toBe(a.pseudonymize('u2'));
    expect(a.pseudonymize('u1')).not.toBe(b.pseudonymize('u1'));
  });

  it('never returns the raw id', () => {
    const p = new Pseudonymizer(KEY);
    const raw = '0123456789abcdef0123456789abcdef';
    expect(p.pseudonymize(raw)).not.toContain(raw);
    expect(p.fn(raw)).toBe(p.pseudonymize(raw));
  });

  it('refuses a short key', () => {
    expect(() => new Pseudonymizer('short')).toThrowError(PmfError);
    expect(() => new Pseudonymizer(new Uint8Array(8))).toThrowError(/at least 16 bytes/);
  });
});

describe('Pseudonymizer key rotation', () => {
  it('pseudonymises with the newest key and finds a user under every key of the ring', () => {
    const ring = parseKeyRing(`\n${KEY}-new\n${KEY}\n\n`);
    expect(ring).toEqual([`${KEY}-new`, KEY]);
    const rotated = new Pseudonymizer(ring);
    expect(rotated.keyCount).toBe(2);
    expect(rotated.pseudonymize('u1')).toBe(new Pseudonymizer(`${KEY}-new`).pseudonymize('u1'));
    expect(rotated.pseudonymsOf('u1')).toEqual([new Pseudonymizer(`${KEY}-new`).pseudonymize('u1'), new Pseudonymizer(KEY).pseudonymize('u1')]);
  });

  it('gives the same answers from its bounded cache', () => {
    const p = new Pseudonymizer(KEY, 2);
    const direct = new Pseudonymizer(KEY, 1);
    for (const u of ['a', 'b', 'c', 'a', 'b', 'a']) expect(p.pseudonymize(u)).toBe(direct.pseudonymsOf(u)[0]);
  });

  it('gives the pseudonym with its 16 bytes and the key hash the partitioner uses', () => {
    const p = new Pseudonymizer(KEY);
    for (const u of ['a', 'bob', 'ü-1', 'a']) {
      const entry = p.pseudonym(u);
      expect(entry.text).toBe(p.pseudonymsOf(u)[0]);
      expect(Buffer.from(entry.bytes).toString('hex')).toBe(entry.text);
      for (const n of [1, 6, 7, 64]) expect((entry.keyHash & 0x7fffffff) % n).toBe(partitionForKey(entry.text, n));
    }
    expect(p.pseudonym('a')).toBe(p.pseudonym('a'));
  });

  it('refuses an empty ring or a short key in it', () => {
    expect(() => new Pseudonymizer([])).toThrowError(/empty/);
    expect(() => new Pseudonymizer([KEY, 'short'])).toThrowError(/at least 16 bytes/);
  });
});
