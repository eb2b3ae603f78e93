// Secure by default: listeners bind loopback unless auth is configured or a host is asked for,
// and an open listener without auth is named in a start-up warning with the fix.

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { isLoopbackHost, securityWarnings } from '../../../src/config/security-warnings.js';

const hosts = (env: Record<string, string>) => {
  const c = loadConfig({ env });
  return [c.receiver.grpc.host, c.receiver.http.host, c.admin.host];
};

describe('listener binding', () => {
  it('binds every listener to loopback by default, with nothing to warn about', () => {
    expect(hosts({})).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
    expect(securityWarnings(loadConfig({ env: {} }))).toEqual([]);
  });

  it('binds every interface when auth is configured', () => {
    const env = { PMF_GUARD_BEARER_TOKEN: 'a-token-of-sixteen-chars-or-more' };
    expect(hosts(env)).toEqual(['0.0.0.0', '0.0.0.0', '0.0.0.0']);
    expect(securityWarnings(loadConfig({ env }))).toEqual([]);
  });

  it('keeps an explicit host and warns, naming the listener and the fix, when it is open without auth', () => {
    const env = { PMF_GUARD_HOST: '0.0.0.0', PMF_GUARD_ADMIN_HOST: '127.0.0.1' };
    expect(hosts(env)).toEqual(['0.0.0.0', '0.0.0.0', '127.0.0.1']);
    const warnings = securityWarnings(loadConfig({ env }));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^receiver\.grpc listens on 0\.0\.0\.0:4317 without auth.*PMF_GUARD_BEARER_TOKEN_FILE/);
    expect(warnings[1]).toMatch(/^receiver\.http listens on 0\.0\.0\.0:4318/);
  });

  it('warns about the admin API on a non-loopback host in any role', () => {
    const warnings = securityWarnings(loadConfig({ env: { PMF_GUARD_ADMIN_HOST: '::' }, role: 'aggregator' }));
    expect(warnings).toEqual([expect.stringMatching(/^admin listens on :::8080 without auth: anyone who can reach it can read metrics, verdicts, flags and the audit log/)]);
  });

  it('tells loopback addresses from the rest', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1']) expect(isLoopbackHost(h), h).toBe(false);
  });
});
