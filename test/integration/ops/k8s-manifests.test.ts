// The Kubernetes manifests, rendered by kustomize and validated offline by kubeconform against the
// Kubernetes 1.30 schemas (strict: unknown fields fail), then read for what the schema cannot say:
// probes on /healthz and /readyz, non-root, secrets mounted, roles and PDBs, and a config the
// pmf-guard schema accepts.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../src/cli/args.js';
import { loadConfig } from '../../../src/config/load.js';
import { parseRules } from '../../../src/rules/load.js';
import { kubeconformSchemas, tool } from '../../helpers/tools.js';

type Doc = { kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string> };

const render = (layout: string) => execFileSync(tool('kustomize'), ['build', `deploy/k8s/${layout}`], { encoding: 'utf8' });
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Doc);

function kubeconform(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'pmf-k8s-'));
  const file = join(dir, 'rendered.yaml');
  writeFileSync(file, text);
  return spawnSync(tool('kubeconform'), ['-strict', '-summary', '-output', 'json', '-kubernetes-version', '1.30.0', '-schema-location', kubeconformSchemas(), file], { encoding: 'utf8' });
}

function workloads(list: Doc[]) {
  return list.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');
}

describe.each(['embedded', 'distributed'])('deploy/k8s/%s', (layout) => {
  const text = render(layout);
  const list = docs(text);

  it('renders and validates against the Kubernetes 1.30 schemas', () => {
    const r = kubeconform(text);
    const summary = JSON.parse(r.stdout).summary;
    expect(summary, r.stdout).toMatchObject({ valid: list.length, invalid: 0, errors: 0 });
    expect(r.status).toBe(0);
  });

  it('runs every pod non-root, read-only, with probes on /healthz and /readyz and the keys from a Secret', () => {
    for (const w of workloads(list)) {
      const pod = w.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot, w.metadata.name).toBe(true);
      const c = pod.containers[0];
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      const keys = pod.volumes.find((v: any) => v.name === 'keys');
      expect(list.some((d) => d.kind === 'Secret' && d.metadata.name === keys.secret.secretName)).toBe(true);
      expect(parseArgs(c.args).command).toBe('start');
    }
  });

  it('ships a config and rules pmf-guard accepts', () => {
    const config = list.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('pmf-guard-config'))!;
    const dir = mkdtempSync(join(tmpdir(), 'pmf-k8s-cfg-'));
    writeFileSync(join(dir, 'config.yaml'), config.data!['config.yaml']);
    const c = loadConfig({ configFile: join(dir, 'config.yaml'), env: {} });
    expect(c.admin.host).toBe('0.0.0.0');
    expect(c.auth?.bearerTokenFile).toBe('/etc/pmf-guard/keys/bearer_token');
    // With Kafka (the distributed layout), the verdict and flag-writer roles need the command key.
    expect(() => loadConfig({ configFile: join(dir, 'config.yaml'), env: { KAFKA_BROKERS: 'kafka:9092', DATABASE_URL: 'postgres://p@db/p' }, role: 'verdict' })).not.toThrow();
    const rules = list.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('pmf-guard-rules'))!;
    expect(parseRules(rules.data!['rules.yaml']).rules.length).toBeGreaterThan(0);
    expect(rules.data!['rules.yaml']).toBe(readFileSync('deploy/rules.yaml', 'utf8'));
  });
});

describe('layouts', () => {
  it('embedded: one pod of every role with its data on a volume', () => {
    const [w] = workloads(docs(render('embedded')));
    expect(w.kind).toBe('StatefulSet');
    expect(w.spec.replicas).toBe(1);
    expect(w.spec.template.spec.containers[0].args).toEqual(['start', '--role', 'all']);
    expect(w.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
  });

  it('distributed: each role a Deployment, the receiver behind a Service, PDBs for the scaled roles', () => {
    const list = docs(render('distributed'));
    const roles = workloads(list).map((w) => {
      expect(w.kind).toBe('Deployment');
      const a = parseArgs(w.spec.template.spec.containers[0].args);
      return a.command === 'start' ? a.role : undefined;
    });
    expect(roles.sort()).toEqual(['aggregator', 'flag-writer', 'receiver', 'verdict']);
    const svc = list.find((d) => d.kind === 'Service' && d.metadata.name === 'pmf-guard-receiver')!;
    expect(svc.spec.selector['app.kubernetes.io/component']).toBe('receiver');
    expect(svc.spec.ports.map((p: any) => p.port).sort()).toEqual([4317, 4318]);
    const pdbs = list.filter((d) => d.kind === 'PodDisruptionBudget').map((d) => d.spec.selector.matchLabels['app.kubernetes.io/component']);
    expect(pdbs.sort()).toEqual(['aggregator', 'receiver']);
  });

  it('the validation can fail: an unknown field is refused', () => {
    const text = render('embedded').replace(/^( +)readOnlyRootFilesystem: true$/m, '$1readOnlyRootFilesystem: true\n$1runAsRoot: false');
    expect(text).toMatch(/runAsRoot/);
    const summary = JSON.parse(kubeconform(text).stdout).summary;
    expect(summary).toMatchObject({ invalid: 1, errors: 0 });
  });
});
