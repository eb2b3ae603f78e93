// Where the test tools installed by `bash scripts/stack.sh tools` live (CI runs it first, through
// scripts/test-all.sh). A missing tool fails the test with the command that installs it.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const TOOLS = join(process.cwd(), '.stack', 'tools');

export function tool(name: 'kustomize' | 'kubeconform' | 'chromium' | 'prometheus' | 'promtool'): string {
  const candidates = name === 'kustomize' || name === 'kubeconform' ? [join(TOOLS, 'bin', name)] : [`/usr/bin/${name}`];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`${name} is not installed: run bash scripts/stack.sh tools`);
  return found;
}

/** kubeconform's schema directory (containing v<version>-standalone-strict/). */
export function kubeconformSchemas(): string {
  const root = join(TOOLS, 'k8s-schemas');
  const dir = existsSync(root) ? readdirSync(root).filter((d) => d.startsWith('kubeconform-')).sort().pop() : undefined;
  if (!dir) throw new Error('Kubernetes schemas are not installed: run bash scripts/stack.sh tools');
  return join(root, dir);
}
