import { describe, expect, it } from 'vitest';
import { evaluationAttributes } from '../../../src/client/evaluation-recorder.js';

describe('evaluationAttributes', () => {
  it('names the feature, the cohort as variant, and the user as context id (what pmf-guard reads)', () => {
    expect(evaluationAttributes({ feature: 'f', cohort: 'treatment', enabled: false, version: 3, reason: 'STALE' }, 'u1')).toEqual({
      'feature_flag.key': 'f',
      'feature_flag.result.variant': 'treatment',
      'feature_flag.result.value': false,
      'feature_flag.result.reason': 'stale',
      'feature_flag.provider.name': 'pmf-guard',
      'feature_flag.version': '3',
      'feature_flag.context.id': 'u1',
    });
  });

  it('leaves out what it does not know', () => {
    const attrs = evaluationAttributes({ feature: 'f', cohort: 'c', enabled: true, version: 0, reason: 'DEFAULT' }, '');
    expect(attrs).not.toHaveProperty('feature_flag.version');
    expect(attrs).not.toHaveProperty('feature_flag.context.id');
  });
});
