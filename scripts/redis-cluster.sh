#!/usr/bin/env bash
# A local three-master Redis Cluster on loopback for the flag tests and benchmarks (the flag
# store supports a single node or a Redis Cluster). State lives under the git-ignored .stack/.
#
#   bash scripts/redis-cluster.sh up        start the nodes and form the cluster; a healthy cluster is left alone
#   bash scripts/redis-cluster.sh down      stop the nodes this script started (cluster config kept: `up` re-forms it)
#   bash scripts/redis-cluster.sh status
#   bash scripts/redis-cluster.sh clean     down, then delete the nodes' state
#
# Environment:
#   PMF_REDIS_CLUSTER_PORTS  three ports (default "7000 7001 7002")
#   PMF_REDIS_CLUSTER_DIR    state directory (default .stack/redis-cluster)
#   PMF_STACK_WAIT_SECONDS   how long to wait for the cluster to become healthy (default 60)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${PMF_REDIS_CLUSTER_DIR:-$ROOT/.stack/redis-cluster}"
read -r -a PORTS <<<"${PMF_REDIS_CLUSTER_PORTS:-7000 7001 7002}"
WAIT_SECONDS="${PMF_STACK_WAIT_SECONDS:-60}"

log() { printf '[redis-cluster] %s\n' "$*" >&2; }
die() { printf '[redis-cluster] error: %s\n' "$*" >&2; exit 1; }

((${#PORTS[@]} == 3)) || die "PMF_REDIS_CLUSTER_PORTS must name three ports, got '${PORTS[*]}'"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || die "redis-server and redis-cli are needed (bash scripts/stack.sh up redis installs them)"

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
ping() { [[ "$(cli "$1" ping 2>/dev/null)" == PONG ]]; }
cluster_field() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }
healthy() {
  local p
  for p in "${PORTS[@]}"; do
    [[ "$(cluster_field "$p" cluster_state)" == ok && "$(cluster_field "$p" cluster_known_nodes)" == 3 ]] || return 1
  done
}
pid_of() { local f="$DIR/$1/redis.pid"; [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }

wait_until() {
  local what="$1"; shift
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "$@"; do
    ((SECONDS < deadline)) || die "$what not reached after ${WAIT_SECONDS}s"
    sleep 0.2
  done
}

start_node() {
  local port="$1" dir="$DIR/$1"
  if ping "$port"; then
    [[ "$(cli "$port" info cluster 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_enabled://p')" == 1 ]] ||
      die "port $port answers but is not a cluster-mode Redis: free it or set PMF_REDIS_CLUSTER_PORTS"
    return 0
  fi
  mkdir -p "$dir"
  log "starting node on 127.0.0.1:$port"
  # nodes.conf in the node's directory lets a restarted node rejoin with its slots.
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --save '' --appendonly no </dev/null
  wait_until "node $port answering" ping "$port"
}

no_slots_assigned() {
  local p
  for p in "${PORTS[@]}"; do [[ "$(cluster_field "$p" cluster_slots_assigned)" == 0 ]] || return 1; done
}

up() {
  local p
  for p in "${PORTS[@]}"; do start_node "$p"; done
  if healthy; then log "cluster healthy on ${PORTS[*]}"; return 0; fi
  if no_slots_assigned; then
    log "creating the cluster"
    local addrs=()
    for p in "${PORTS[@]}"; do addrs+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1 ||
      die "redis-cli --cluster create failed: $(tail -n 5 "$DIR/create.log")"
  else
    log "nodes have slots from an earlier run: waiting for them to re-form"
  fi
  wait_until "cluster_state ok with 3 nodes" healthy
  log "cluster healthy on ${PORTS[*]}"
}

down() {
  local p pid
  for p in "${PORTS[@]}"; do
    pid="$(pid_of "$p" || true)"
    [[ -n "$pid" ]] || continue
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q redis-server || { rm -f "$DIR/$p/redis.pid"; continue; }
    log "stopping node $p (pid $pid)"
    kill "$pid"
    local deadline=$((SECONDS + WAIT_SECONDS))
    while kill -0 "$pid" 2>/dev/null; do
      ((SECONDS < deadline)) || die "node $p (pid $pid) did not stop"
      sleep 0.1
    done
  done
}

status() {
  local p state pid
  for p in "${PORTS[@]}"; do
    state=down
    ping "$p" && state="$(cluster_field "$p" cluster_state)"
    pid="$(pid_of "$p" || echo -)"
    echo "redis-cluster 127.0.0.1:$p  ${state:-unknown}  pid $pid"
  done
  healthy && echo "cluster: healthy" || echo "cluster: not healthy"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  clean) down; rm -rf "$DIR" ;;
  *) die "usage: $0 up|down|status|clean" ;;
esac
