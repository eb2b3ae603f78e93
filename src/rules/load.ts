// Parses and validates rules text (YAML or JSON) into a RuleSet. An invalid file is refused with
// every problem listed; callers that reload keep the previous rules in force. Reading the file is
// config/rules-file.ts's job, so this stays pure.

import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { PmfError } from '../core/errors.js';
import { describeIssues } from '../core/describe-issues.js';
import { RulesFile, type RuleSet } from './schema.js';

export function parseRules(text: string, source = 'rules'): RuleSet {
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML is a superset of JSON
  } catch (err) {
    throw new PmfError('ERR_RULES_INVALID', `${source}: not valid YAML or JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = RulesFile.safeParse(raw);
  if (!parsed.success) {
    const problems = describeIssues(parsed.error);
    throw new PmfError(
      'ERR_RULES_INVALID',
      `${source}: ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  const version = parsed.data.version ?? `sha256:${createHash('sha256').update(JSON.stringify(parsed.data.rules)).digest('hex').slice(0, 12)}`;
  return {
    version,
    rules: parsed.data.rules,
    byFeature: new Map(parsed.data.rules.map((r) => [r.featureId, r])),
  };
}

export function emptyRuleSet(): RuleSet {
  return { version: 'none', rules: [], byFeature: new Map() };
}
