// Reads the rules file from disk (the only file I/O for rules): rules/load.ts parses and
// validates the text, so the rules core stays pure and testable without a file system.

import { readFile } from 'node:fs/promises';
import { PmfError } from '../core/errors.js';
import { parseRules } from '../rules/load.js';
import type { RuleSet } from '../rules/schema.js';

export async function loadRulesFile(path: string): Promise<RuleSet> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PmfError('ERR_RULES_INVALID', `cannot read rules file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseRules(text, path);
}
