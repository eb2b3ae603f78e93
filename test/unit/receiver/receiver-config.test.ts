// The receiver's part of the config schema: listener, limits, auth and TLS blocks and their checks.

import { describe, expect, it } from 'vitest';
import { Config } from '../../../src/config/schema.js';

const issues = (input: unknown) => {
  const r = Config.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('receiver configuration', () => {
  it('defaults to OTLP/gRPC on 4317 and OTLP/HTTP on 4318 with the specification limits, no auth, no TLS', () => {
    const c = Config.parse({});
    expect(c.receiver).toMatchObject({
      grpc: { port: 4317 }, http: { port: 4318 }, httpEnabled: true,
      maxMessageBytes: 4 * 2 ** 20, maxHttpBodyBytes: 20 * 2 ** 20, maxInFlightBytes: 64 * 2 ** 20,
      publishTimeoutMs: 5000, retryAfterSeconds: 1, maxFeatures: 1000, maxCohortsPerFeature: 100,
    });
    expect(c.auth).toBeUndefined();
    expect(c.tls).toBeUndefined();
  });

  it('lingers 10 ms for company by default; 0 turns the linger off, and a negative one is refused', () => {
    expect(Config.parse({}).receiver.lingerMs).toBe(10);
    expect(Config.parse({ receiver: { lingerMs: 0 } }).receiver.lingerMs).toBe(0);
    expect(issues({ receiver: { lingerMs: -1 } })).toEqual([expect.stringMatching(/^receiver\.lingerMs: /)]);
  });

  it('accepts auth and TLS blocks', () => {
    const c = Config.parse({ auth: { bearerTokenFile: '/run/secrets/otlp-token' }, tls: { certFile: 'c.pem', keyFile: 'k.pem', clientCaFile: 'ca.pem' } });
    expect(c.auth?.bearerTokenFile).toBe('/run/secrets/otlp-token');
    expect(c.tls?.clientCaFile).toBe('ca.pem');
  });

  it('refuses clashing ports, a budget smaller than a request limit, empty auth and short tokens', () => {
    expect(issues({ receiver: { http: { port: 4317 } } })).toEqual([expect.stringMatching(/^receiver\.http\.port: .*receiver\.grpc\.port are both 4317/)]);
    expect(issues({ admin: { port: 4318 } })).toEqual([expect.stringMatching(/^receiver\.http\.port: .*admin\.port are both 4318/)]);
    expect(issues({ receiver: { http: { port: 4317 }, httpEnabled: false } })).toEqual([]);
    expect(issues({ receiver: { maxInFlightBytes: 1024 } })).toEqual([expect.stringMatching(/^receiver\.maxInFlightBytes: .*at least the largest request limit \(20971520\)/)]);
    // Without HTTP the bound is a gRPC call's admission reservation: twice the message limit.
    expect(issues({ receiver: { httpEnabled: false, maxMessageBytes: 1000, maxInFlightBytes: 1999 } })).toEqual([expect.stringMatching(/at least the largest request limit \(2000\)/)]);
    expect(issues({ receiver: { httpEnabled: false, maxMessageBytes: 1000, maxInFlightBytes: 2000 } })).toEqual([]);
    expect(issues({ auth: {} })).toEqual([expect.stringMatching(/^auth: auth needs bearerToken or bearerTokenFile/)]);
    expect(issues({ auth: { bearerToken: 'short' } })).toEqual([expect.stringMatching(/^auth\.bearerToken: .*at least 16/)]);
    expect(issues({ tls: { certFile: 'c.pem' } })).toEqual([expect.stringMatching(/^tls\.keyFile/)]);
  });
});
