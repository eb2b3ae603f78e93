import { describe, expect, it } from 'vitest';
import { parseArgs, USAGE } from '../../../src/cli/args.js';
import { COMMAND_HELP } from '../../../src/cli/usage.js';

describe('command line', () => {
  it('parses start with role, config and rules in both spellings', () => {
    expect(parseArgs(['start', '--role', 'aggregator', '--config=c.yaml', '--rules', 'r.yaml'])).toEqual({
      command: 'start', role: 'aggregator', configFile: 'c.yaml', rulesFile: 'r.yaml',
    });
  });

  it('treats an empty command line as a usage error (exit 2) and asked-for help as success', () => {
    expect(parseArgs([])).toEqual({ command: 'help', text: USAGE, exitCode: 2 });
    expect(parseArgs(['--help'])).toEqual({ command: 'help', text: USAGE, exitCode: 0 });
    expect(parseArgs(['help', 'report'])).toEqual({ command: 'help', text: COMMAND_HELP.report, exitCode: 0 });
    for (const c of ['start', 'status', 'report', 'rules', 'replay', 'export']) {
      expect(parseArgs([c, '--help'])).toEqual({ command: 'help', text: COMMAND_HELP[c], exitCode: 0 });
      expect(USAGE).toContain(`  ${c}`);
    }
  });

  it('documents the ports and their variables in the overview', () => {
    for (const s of [':4317', ':4318', ':8080', 'PMF_GUARD_OTLP_GRPC_PORT', 'PMF_GUARD_OTLP_HTTP_PORT', 'PMF_GUARD_ADMIN_PORT']) expect(USAGE).toContain(s);
  });

  it('parses rules check, status and report', () => {
    expect(parseArgs(['rules', 'check', 'r.yaml'])).toEqual({ command: 'rules-check', file: 'r.yaml', json: false });
    expect(parseArgs(['rules', 'check', 'r.yaml', '--json'])).toEqual({ command: 'rules-check', file: 'r.yaml', json: true });
    expect(() => parseArgs(['rules', 'check'])).toThrow(/exactly one FILE/);
    expect(() => parseArgs(['rules', 'lint', 'r.yaml'])).toThrow(/unknown rules subcommand "lint"/);
    expect(parseArgs(['status', '--url', 'http://h:1', '--json'])).toEqual({ command: 'status', url: 'http://h:1', json: true, configFile: undefined, from: undefined, to: undefined });
    expect(parseArgs(['report', '--from', '2026-11-25T00:00:00Z'])).toMatchObject({ command: 'report', from: '2026-11-25T00:00:00Z', json: false });
    expect(() => parseArgs(['report', '--from', 'yesterday'])).toThrow(/--from must be an ISO 8601 time/);
    expect(() => parseArgs(['status', '--from', '2026-11-25T00:00:00Z'])).toThrow(/--from does not apply to status/);
  });

  it('refuses unknown roles, options and commands with the usage', () => {
    expect(() => parseArgs(['start', '--role', 'everything'])).toThrow(/--role must be one of receiver, aggregator, verdict, flag-writer, all/);
    expect(() => parseArgs(['start', '--rule', 'r.yaml'])).toThrow(/unknown option "--rule"[\s\S]*usage:/);
    expect(() => parseArgs(['serve'])).toThrow(/unknown command "serve"/);
    expect(() => parseArgs(['start', '--rules'])).toThrow(/--rules needs a value/);
  });
});
