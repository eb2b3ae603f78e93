import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../src/cli/args.js';

describe('command line', () => {
  it('parses start with role, config and rules in both spellings', () => {
    expect(parseArgs(['start', '--role', 'aggregator', '--config=c.yaml', '--rules', 'r.yaml'])).toEqual({
      command: 'start', role: 'aggregator', configFile: 'c.yaml', rulesFile: 'r.yaml',
    });
    expect(parseArgs([])).toEqual({ command: 'help' });
  });

  it('refuses unknown roles, options and commands with the usage', () => {
    expect(() => parseArgs(['start', '--role', 'everything'])).toThrow(/--role must be one of receiver, aggregator, verdict, flag-writer, all/);
    expect(() => parseArgs(['start', '--rule', 'r.yaml'])).toThrow(/unknown option "--rule"[\s\S]*usage:/);
    expect(() => parseArgs(['serve'])).toThrow(/unknown command "serve"/);
    expect(() => parseArgs(['start', '--rules'])).toThrow(/--rules needs a value/);
  });
});
