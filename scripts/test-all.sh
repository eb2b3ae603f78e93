#!/usr/bin/env bash
# The whole suite, as the README and CI run it:
#   1. dependencies (npm ci) when node_modules is missing,
#   2. the lint (npm run lint: the pure core's import boundaries, no console in src/),
#   3. the local services (scripts/stack.sh up: PostgreSQL, Redis, Kafka) and the test tools
#      (scripts/stack.sh tools: Chromium, Prometheus, iproute2, kustomize, kubeconform, Kubernetes schemas),
#   4. every test on the current Node (20), with a JSON report,
#   5. the unit tests again on Node 22 (the npm package node@22), the other runtime we support,
# and closes with one line, `N passed, M failed[, K skipped]`, over both runs (a failed lint counts
# as one failure); non-zero exit when anything failed or a run crashed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REPORTS="$ROOT/.stack"
NODE22_SPEC="${PMF_NODE22_SPEC:-node@22}"

if [[ ! -d node_modules ]]; then
  echo "[test-all] node_modules missing: npm ci"
  npm ci --no-audit --no-fund
fi

# The tests find the services through these (test/helpers/services.ts); they follow the stack's ports.
export PMF_TEST_DATABASE_URL="${PMF_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:${PMF_STACK_PG_PORT:-5432}/postgres}"
export PMF_TEST_REDIS_URL="${PMF_TEST_REDIS_URL:-redis://127.0.0.1:${PMF_STACK_REDIS_PORT:-6379}}"
export PMF_TEST_KAFKA_BROKERS="${PMF_TEST_KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}"

runs=()

echo "[test-all] lint"
set +e
npm run --silent lint
rc=$?
set -e
runs+=("lint::$rc")

start=$SECONDS
bash scripts/stack.sh up
echo "[test-all] services up in $((SECONDS - start))s"
start=$SECONDS
bash scripts/stack.sh tools
echo "[test-all] test tools ready in $((SECONDS - start))s"
mkdir -p "$REPORTS"

rm -f "$REPORTS/vitest.json"
echo "[test-all] vitest on $(node -v): all tests"
set +e
npx vitest run --reporter=default --reporter=json --outputFile="$REPORTS/vitest.json"
rc=$?
set -e
runs+=("node$(node -v | cut -d. -f1 | tr -d v):$REPORTS/vitest.json:$rc")

rm -f "$REPORTS/vitest-node22.json"
if find test/unit -name '*.test.ts' -print -quit 2>/dev/null | grep -q .; then
  echo "[test-all] vitest on Node 22 ($NODE22_SPEC from npm): unit tests"
  set +e
  # npx puts node@22's binary first on PATH; vitest's workers inherit it through process.execPath.
  npx -y -p "$NODE22_SPEC" node node_modules/vitest/vitest.mjs run test/unit \
    --reporter=default --reporter=json --outputFile="$REPORTS/vitest-node22.json"
  rc=$?
  set -e
  runs+=("node22:$REPORTS/vitest-node22.json:$rc")
else
  echo "[test-all] no unit tests under test/unit: Node 22 run skipped"
fi

exec node scripts/vitest-summary.mjs "${runs[@]}"
