import { describe, expect, it } from 'vitest';
import { canonicalCommand, commandKeyRing, signCommand, verifyCommand } from '../../../src/events/command-signature.js';
import type { FlagCommand } from '../../../src/events/flag-command.js';
import { decodeFlagCommand, encodeJson } from '../../../src/events/codec.js';

const cmd: FlagCommand = {
  commandId: 'c1', feature: 'checkout', cohort: 'treatment', action: 'rollback', state: 'off', source: 'verdict',
  reason: 'activation dropped', issuedAt: '2026-01-01T00:00:00.000Z',
  evidence: { verdictId: 'v1', feature: 'checkout', cohort: 'treatment', outcome: 'fail', reason: 'r', ruleVersion: 'x', stats: { b: 1.25, a: [1, 2] } } as unknown as FlagCommand['evidence'],
};
const oldKey = 'old-command-key-0123456789abcdef';
const newKey = 'new-command-key-0123456789abcdef';

describe('command signatures', () => {
  it('verifies a signed command after a trip through the wire format', () => {
    const ring = commandKeyRing([newKey]);
    const signed = signCommand(cmd, ring);
    expect(signed.signature).toMatch(/^v1\.[0-9a-f]{8}\.[0-9a-f]{64}$/);
    expect(verifyCommand(decodeFlagCommand(encodeJson(signed)), ring)).toBe('ok');
  });

  it('does not depend on key order, and covers nested evidence', () => {
    const reverse = (v: unknown): unknown =>
      typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverse(x)])) : v;
    const reordered = reverse(cmd) as FlagCommand;
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(cmd));
    expect(canonicalCommand(reordered)).toBe(canonicalCommand(cmd));
    const ring = commandKeyRing([newKey]);
    const signed = signCommand(cmd, ring);
    const tampered = { ...signed, evidence: { ...signed.evidence!, outcome: 'pass' } } as FlagCommand;
    expect(verifyCommand(tampered, ring)).toBe('bad_signature');
  });

  it('refuses unsigned, altered, malformed and foreign-key commands', () => {
    const ring = commandKeyRing([newKey]);
    const signed = signCommand(cmd, ring);
    expect(verifyCommand(cmd, ring)).toBe('unsigned');
    expect(verifyCommand({ ...signed, state: 'on' }, ring)).toBe('bad_signature');
    expect(verifyCommand({ ...signed, signature: 'v1.zz' }, ring)).toBe('bad_signature');
    expect(verifyCommand({ ...signed, signature: signed.signature!.replace(/.$/, (c) => (c === '0' ? '1' : '0')) }, ring)).toBe('bad_signature');
    expect(verifyCommand(signCommand(cmd, commandKeyRing(['some-other-key-0123456789abcdef'])), ring)).toBe('unknown_key');
  });

  it('rotates: the newest key signs, every key of the ring verifies', () => {
    const before = commandKeyRing([oldKey]);
    const during = commandKeyRing([newKey, oldKey]);
    const after = commandKeyRing([newKey]);
    expect(verifyCommand(signCommand(cmd, before), during)).toBe('ok');
    const signedDuring = signCommand(cmd, during);
    expect(verifyCommand(signedDuring, after)).toBe('ok');
    expect(verifyCommand(signedDuring, before)).toBe('unknown_key');
  });

  it('refuses short keys and an empty ring', () => {
    expect(() => commandKeyRing([])).toThrow(/empty/);
    expect(() => commandKeyRing(['short'])).toThrow(/at least 16 bytes/);
  });
});
