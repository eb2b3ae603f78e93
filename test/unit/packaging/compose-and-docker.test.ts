// Docker cannot run on the dev machines, so the compose file and Dockerfile are checked by
// reading them: every pmf-guard service must start with a valid config, every role must be there,
// and the image must run as non-root on Node 22.

import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../src/cli/args.js';
import { loadConfig } from '../../../src/config/load.js';
import { isDistributed } from '../../../src/config/schema.js';
import { securityWarnings } from '../../../src/config/security-warnings.js';
import { loadBearerAuth } from '../../../src/core/bearer-auth.js';
import { parseRules } from '../../../src/rules/load.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, unknown>;
  ports?: string[];
}

const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Service>; secrets: Record<string, { file: string }> };
const guards = Object.entries(compose.services).filter(([, s]) => s.image === 'pmf-guard:local');

describe('docker-compose.yml', () => {
  it('runs every role against Kafka, PostgreSQL and Redis', () => {
    expect(guards).toHaveLength(4);
    const roles = guards.map(([, s]) => parseArgs(s.command!)).map((a) => (a.command === 'start' ? a.role : undefined));
    expect(roles.sort()).toEqual(['aggregator', 'flag-writer', 'receiver', 'verdict']);
    for (const name of ['kafka', 'postgres', 'redis']) expect(compose.services[name]).toBeDefined();
  });

  it('gives every pmf-guard service a configuration the schema accepts, in distributed mode', () => {
    for (const [name, s] of guards) {
      const env = { ...s.environment };
      // Key and token files are Docker secrets; point at the examples the compose file mounts.
      for (const [variable, secret] of [['PMF_GUARD_PSEUDONYM_KEY_FILE', 'pseudonym_key'], ['PMF_GUARD_COMMAND_KEY_FILE', 'command_key'], ['PMF_GUARD_BEARER_TOKEN_FILE', 'bearer_token']] as const) {
        expect(env[variable], `${name}: ${variable}`).toBe(`/run/secrets/${secret}`);
        env[variable] = compose.secrets[secret].file;
        expect(existsSync(env[variable])).toBe(true);
      }
      const args = parseArgs(s.command!);
      const config = loadConfig({ env, role: args.command === 'start' ? args.role : undefined });
      expect(isDistributed(config), name).toEqual({ log: true, store: true, cache: true });
      // Reachable through the published ports, and not without the token.
      expect([config.receiver.grpc.host, config.receiver.http.host, config.admin.host], name).toEqual(['0.0.0.0', '0.0.0.0', '0.0.0.0']);
      expect(securityWarnings(config), name).toEqual([]);
      expect(() => loadBearerAuth(config.auth)).not.toThrow();
      for (const dep of ['kafka', 'postgres', 'redis']) expect(s.depends_on?.[dep], `${name} depends on ${dep}`).toBeDefined();
      const brokerHost = config.kafka.brokers![0].split(':')[0];
      expect(compose.services[brokerHost], `${name}: broker host is a service`).toBeDefined();
      expect(compose.services[new URL(config.database.url!).hostname]).toBeDefined();
      expect(compose.services[new URL(config.redis.url!).hostname]).toBeDefined();
    }
  });

  it('mounts a rules file that loads, and a pseudonymisation key file that exists', () => {
    for (const [, s] of guards) {
      const mount = s.volumes!.find((v) => v.endsWith(`:${s.environment!.PMF_GUARD_RULES}:ro`))!;
      expect(mount).toBeDefined();
      expect(parseRules(readFileSync(mount.split(':')[0], 'utf8')).rules.length).toBeGreaterThan(0);
    }
    expect(existsSync(compose.secrets.pseudonym_key.file)).toBe(true);
  });

  it('runs Prometheus scraping every role, and Grafana with the provisioned data source and dashboard', () => {
    const prom = compose.services.prometheus as Service & { volumes: string[] };
    const config = prom.volumes.find((v) => v.endsWith(':/etc/prometheus/prometheus.yml:ro'))!.split(':')[0];
    const scrape = parse(readFileSync(config, 'utf8')) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
    const targets = scrape.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    expect(targets.sort()).toEqual(guards.map(([name]) => `${name}:8080`).sort());
    const grafana = compose.services.grafana as Service & { volumes: string[] };
    expect(grafana.image).toMatch(/^grafana\/grafana:11\./);
    const mounts = Object.fromEntries(grafana.volumes.map((v) => v.split(':')).map(([from, to]) => [to, from]));
    const ds = parse(readFileSync(`${mounts['/etc/grafana/provisioning']}/datasources/prometheus.yaml`, 'utf8'));
    expect(ds.datasources[0].url).toBe('http://prometheus:9090');
    const provider = parse(readFileSync(`${mounts['/etc/grafana/provisioning']}/dashboards/pmf-guard.yaml`, 'utf8'));
    expect(mounts[provider.providers[0].options.path]).toBe('./deploy/grafana/dashboards');
    expect(existsSync('deploy/grafana/dashboards/pmf-guard.json')).toBe(true);
  });

  it('publishes OTLP gRPC on 4317 from the receiver', () => {
    expect(compose.services.receiver.ports).toContain('4317:4317');
  });
});

describe('Dockerfile', () => {
  const text = readFileSync('Dockerfile', 'utf8');
  it('is multi-stage, runs on Node 22 as a non-root user and ships the protos', () => {
    expect(text.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(2);
    const runtime = text.slice(text.lastIndexOf('FROM '));
    expect(runtime).toMatch(/^FROM node:22/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/COPY .*proto/);
    expect(runtime).toMatch(/ENTRYPOINT \["node", "dist\/src\/main\.js"\]/);
    // Loopback would be unreachable through published ports: the image opts in explicitly.
    expect(runtime).toMatch(/^ENV PMF_GUARD_HOST=0\.0\.0\.0$/m);
  });
});
