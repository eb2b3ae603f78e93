import { describe, expect, it } from 'vitest';
import { parseRolloutArgs } from '../../../src/cli/rollout-command.js';

describe('pmf-guard rollout arguments', () => {
  it('reads status and steering commands, with the admin URL from the option or the environment', () => {
    expect(parseRolloutArgs(['status', 'feat'], {})).toEqual({ action: 'status', feature: 'feat', admin: 'http://127.0.0.1:8080' });
    expect(parseRolloutArgs(['pause', 'feat', 'treatment', '--actor', 'ana', '--reason=looks odd', '--admin', 'https://pmf:8080'], { PMF_GUARD_ADMIN_TOKEN_FILE: '/run/t' })).toEqual({
      action: 'pause', feature: 'feat', cohort: 'treatment', actor: 'ana', reason: 'looks odd', admin: 'https://pmf:8080', tokenFile: '/run/t',
    });
    expect(parseRolloutArgs(['status', 'feat'], { PMF_GUARD_ADMIN_URL: 'http://x:1' }).admin).toBe('http://x:1');
  });

  it('refuses what it cannot send, saying why', () => {
    expect(() => parseRolloutArgs(['jump', 'feat'], {})).toThrow(/unknown rollout action "jump"/);
    expect(() => parseRolloutArgs(['abort', 'feat', 'treatment', '--actor', 'ana'], {})).toThrow(/needs --actor and --reason/);
    expect(() => parseRolloutArgs(['advance', 'feat', '--actor', 'a', '--reason', 'r'], {})).toThrow(/needs a feature and one cohort/);
    expect(() => parseRolloutArgs(['status', 'feat', '--force', 'x'], {})).toThrow(/unknown option "--force"/);
    expect(() => parseRolloutArgs(['status'], {})).toThrow(/needs a feature/);
  });
});
