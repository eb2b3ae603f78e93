#!/usr/bin/env bash
# Local services for development and CI: PostgreSQL, Redis and a single-node KRaft Kafka,
# all on loopback, all state under the repo's git-ignored .stack/ directory.
#
#   bash scripts/stack.sh up [pg|redis|kafka ...]      start (default: all); a service already listening is left alone
#   bash scripts/stack.sh down                         stop everything this script started (data kept)
#   bash scripts/stack.sh status
#   bash scripts/stack.sh start|stop|restart kafka|pg|redis
#   bash scripts/stack.sh clean                        down, then delete the services' data (Kafka jars are kept)
#   bash scripts/stack.sh tools                        the test tools: Chromium and Prometheus/promtool (Debian),
#                                                      kustomize and kubeconform (Go module proxy) and the Kubernetes
#                                                      JSON schemas (PyPI kubernetes-validate), cached under .stack/tools
#
# Environment:
#   KAFKA_VERSION           broker version from Maven Central (default 3.9.1; 4.1.1 passes test/integration/stack too)
#   KAFKA_PORT              client port (default 9092); the controller listens on KAFKA_PORT+1
#   KAFKA_DIR               broker state (default .stack/kafka for 9092, .stack/kafka-<port> otherwise)
#   KAFKA_SECURE            1 = also SASL_SSL on KAFKA_PORT+2, SASL_PLAINTEXT on +3 and SSL with required client
#                           certificates on +4 (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512), for tests of an
#                           authenticated broker: a throwaway CA, broker and client certificates are made with
#                           openssl under KAFKA_DIR/tls, and the SASL user is created when the storage is formatted
#   KAFKA_SASL_USER         that SASL user (default pmf)
#   KAFKA_SASL_PASSWORD     its password (required with KAFKA_SECURE=1; never for the shared broker)
#   PMF_STACK_PG_PORT       PostgreSQL port (default 5432); data in .stack/postgres for 5432, .stack/postgres-<port> otherwise
#   PMF_STACK_REDIS_PORT    Redis port (default 6379)
#   PMF_STACK_WAIT_SECONDS  how long to wait for each service to become ready (default 120)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="$ROOT/.stack"
WAIT_SECONDS="${PMF_STACK_WAIT_SECONDS:-120}"

PG_PORT="${PMF_STACK_PG_PORT:-5432}"
REDIS_PORT="${PMF_STACK_REDIS_PORT:-6379}"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
if [[ "$KAFKA_PORT" == 9092 ]]; then
  KAFKA_DIR="${KAFKA_DIR:-$STACK/kafka}"
else
  KAFKA_DIR="${KAFKA_DIR:-$STACK/kafka-$KAFKA_PORT}"
fi
KAFKA_LIBS="$STACK/kafka/libs/$KAFKA_VERSION"
KAFKA_SECURE="${KAFKA_SECURE:-0}"
KAFKA_SASL_USER="${KAFKA_SASL_USER:-pmf}"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Polls a readiness command until it succeeds or WAIT_SECONDS pass; a dead process fails fast.
wait_until() {
  local what="$1" pid="$2"; shift 2
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "$@" >/dev/null 2>&1; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      die "$what exited during start-up"
    fi
    ((SECONDS < deadline)) || die "$what not ready after ${WAIT_SECONDS}s"
    sleep 0.2
  done
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Installs Debian packages only when missing. policy-rc.d keeps apt from starting the distribution's
# own postgresql/redis services, which would otherwise take our ports with their own configuration.
apt_install() {
  local pkgs=("$@")
  ((${#pkgs[@]})) || return 0
  log "installing ${pkgs[*]} from Debian"
  local made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >&2 || rc=$?
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || die "apt-get install ${pkgs[*]} failed ($rc)"
}

# From / : the postgres user may not be allowed into the caller's working directory.
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

ensure_packages() {
  local need=()
  for svc in "$@"; do
    case "$svc" in
      pg) [[ -n "$(pg_bin)" && -x "$(pg_bin)/postgres" ]] || need+=(postgresql) ;;
      redis) command -v redis-server >/dev/null || need+=(redis-server) ;;
      kafka)
        command -v java >/dev/null || need+=(openjdk-17-jre-headless)
        command -v mvn >/dev/null || need+=(maven)
        ;;
    esac
  done
  apt_install "${need[@]}"
}

# ---------------------------------------------------------------- PostgreSQL

# Each port has its own data directory, like Kafka's: .stack/postgres for 5432 (where older checkouts
# already keep it), .stack/postgres-<port> otherwise, so a second stack on another port neither shares
# nor reconfigures the first one's cluster. The port is passed to the server at start, never written
# into postgresql.conf, so the directory does not pin it.
if [[ "$PG_PORT" == 5432 ]]; then PG_NAME=postgres; else PG_NAME="postgres-$PG_PORT"; fi
PG_DATADIR_FILE="$STACK/$PG_NAME.datadir"

# The server runs as the postgres OS user, which cannot enter a repo under a 0700 home (/root):
# there the data lives under /var/tmp, keyed by the repo path, and .stack records where.
pg_datadir() {
  if [[ -f "$PG_DATADIR_FILE" ]]; then cat "$PG_DATADIR_FILE"; return; fi
  local dir="$STACK/$PG_NAME"
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  if ! as_postgres test -w "$dir"; then
    rmdir "$dir" 2>/dev/null || true
    dir="/var/tmp/pmf-guard-stack/$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)/$PG_NAME"
    mkdir -p "$dir"
    chmod 755 "$(dirname "$dir")" /var/tmp/pmf-guard-stack
    chown postgres:postgres "$dir"
  fi
  printf '%s\n' "$dir" >"$PG_DATADIR_FILE"
  printf '%s\n' "$dir"
}

pg_ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

start_pg() {
  if listening "$PG_PORT"; then log "postgres: already listening on $PG_PORT"; return; fi
  local bin data
  bin="$(pg_bin)"
  data="$(pg_datadir)"
  chmod 700 "$data"
  chown postgres:postgres "$data"
  if [[ ! -f "$data/PG_VERSION" ]]; then
    log "postgres: initdb $data"
    as_postgres "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$STACK/$PG_NAME-initdb.log" 2>&1 \
      || { cat "$STACK/$PG_NAME-initdb.log" >&2; die "initdb failed"; }
    # Throwaway test data: durability is traded for speed.
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
  fi
  log "postgres: starting on $PG_PORT ($data)"
  as_postgres "$bin/pg_ctl" -D "$data" -o "-p $PG_PORT" -l "$data/server.log" -w -t "$WAIT_SECONDS" start >/dev/null \
    || { tail -n 30 "$data/server.log" >&2; die "postgres failed to start"; }
  wait_until postgres "" pg_ready
  log "postgres: ready on 127.0.0.1:$PG_PORT"
}

stop_pg_dir() {
  local data="$1"
  if [[ -f "$data/postmaster.pid" ]]; then
    log "postgres: stopping ($data)"
    as_postgres "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
}

stop_pg() {
  [[ -f "$PG_DATADIR_FILE" ]] || return 0
  stop_pg_dir "$(cat "$PG_DATADIR_FILE")"
}

# `down` and `clean` cover every port's cluster this checkout started, as they do for Kafka.
all_pg_datadirs() {
  local f
  for f in "$STACK"/postgres.datadir "$STACK"/postgres-*.datadir; do
    [[ -f "$f" ]] && cat "$f"
  done
  return 0
}

stop_all_pg() {
  local d
  while read -r d; do [[ -n "$d" ]] && stop_pg_dir "$d"; done < <(all_pg_datadirs)
  return 0
}

status_pg() {
  local state=down
  listening "$PG_PORT" && state=listening
  pg_ready 2>/dev/null && state=ready
  echo "postgres  127.0.0.1:$PG_PORT  $state"
}

# ---------------------------------------------------------------- Redis

redis_ping() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

start_redis() {
  if listening "$REDIS_PORT"; then log "redis: already listening on $REDIS_PORT"; return; fi
  local dir="$STACK/redis"
  mkdir -p "$dir"
  log "redis: starting"
  # No persistence: tests own their keys and the stack is disposable.
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save '' --appendonly no </dev/null
  wait_until redis "" redis_ping
  log "redis: ready on 127.0.0.1:$REDIS_PORT"
}

stop_redis() {
  local pidfile="$STACK/redis/redis.pid"
  pid_alive "$pidfile" || return 0
  local pid
  pid="$(cat "$pidfile")"
  # A stale pidfile (after a reboot) may name an unrelated process.
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'redis-server' || { rm -f "$pidfile"; return 0; }
  log "redis: stopping"
  kill "$pid"
  wait_pid_gone redis "$pid"
}

status_redis() {
  local state=down
  listening "$REDIS_PORT" && state=listening
  redis_ping && state=ready
  echo "redis     127.0.0.1:$REDIS_PORT  $state"
}

wait_pid_gone() {
  local what="$1" pid="$2" deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$what: pid $pid ignored SIGTERM for 60s, killing"
      kill -9 "$pid" 2>/dev/null || true
    fi
    sleep 0.2
  done
}

# ---------------------------------------------------------------- Kafka

# The jars are cached per version; the marker holds the pom's checksum so editing the pom refetches.
kafka_libs() {
  local pom="$ROOT/scripts/kafka/pom.xml" sum
  sum="$(cksum <"$pom")"
  [[ -f "$KAFKA_LIBS/.complete" && "$(cat "$KAFKA_LIBS/.complete")" == "$sum" ]] && return
  log "kafka: fetching kafka_2.13 $KAFKA_VERSION jars with Maven"
  rm -rf "$KAFKA_LIBS.tmp"
  mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$KAFKA_LIBS.tmp" 2>&1 | sed $'s/\e\\[[0-9;]*m//g' >&2 \
    || die "maven could not fetch Kafka $KAFKA_VERSION"
  rm -rf "$KAFKA_LIBS"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
  printf '%s\n' "$sum" >"$KAFKA_LIBS/.complete"
}

# A throwaway CA that signs the broker's and one client's certificate (both for 127.0.0.1 and
# localhost, valid two days); the broker's key goes into a PKCS12 keystore, the CA is its PEM truststore.
kafka_tls_material() {
  local d="$KAFKA_DIR/tls"
  [[ -f "$d/broker.p12" ]] && return
  command -v openssl >/dev/null || die "openssl not found (needed for KAFKA_SECURE=1)"
  mkdir -p "$d"
  chmod 700 "$d"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pmf-guard throwaway test CA" -keyout "$d/ca.key" -out "$d/ca.pem"
    local name
    for name in broker client; do
      openssl req -newkey rsa:2048 -nodes -subj "/CN=pmf-guard test $name" -keyout "$d/$name.key" -out "$d/$name.csr"
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/$name.ext"
      openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 -extfile "$d/$name.ext" -out "$d/$name.pem"
    done
    head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$d/keystore.pass"
    openssl pkcs12 -export -in "$d/broker.pem" -inkey "$d/broker.key" -certfile "$d/ca.pem" -out "$d/broker.p12" -passout "file:$d/keystore.pass"
  } >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; die "could not make the test certificates"; }
}

kafka_security_config() {
  local d="$KAFKA_DIR/tls" l m pass
  pass="$(cat "$d/keystore.pass")"
  printf '%s\n' \
    "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" \
    "ssl.keystore.type=PKCS12" "ssl.keystore.location=$d/broker.p12" "ssl.keystore.password=$pass" "ssl.key.password=$pass" \
    "ssl.truststore.type=PEM" "ssl.truststore.location=$d/ca.pem" \
    "listener.name.ssl.ssl.client.auth=required"
  for l in sasl_ssl sasl_plaintext; do
    printf '%s\n' "listener.name.$l.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER=\"$KAFKA_SASL_PASSWORD\";"
    for m in scram-sha-256 scram-sha-512; do
      printf '%s\n' "listener.name.$l.$m.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
    done
  done
}

kafka_config() {
  local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT" protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [[ "$KAFKA_SECURE" == 1 ]]; then
    listeners="$listeners,SASL_SSL://127.0.0.1:$((KAFKA_PORT + 2)),SASL_PLAINTEXT://127.0.0.1:$((KAFKA_PORT + 3)),SSL://127.0.0.1:$((KAFKA_PORT + 4))"
    protocols="$protocols,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL"
  fi
  cat >"$KAFKA_DIR/server.properties" <<EOF
# Generated by scripts/stack.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$listeners,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$KAFKA_DIR/data
metadata.log.dir=$KAFKA_DIR/data
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
log.segment.bytes=16777216
# Test records carry event times from the data, often far in the past: time-based retention would
# delete rolled segments under a test. The stack is disposable (stack.sh clean), so keep everything.
log.retention.ms=-1
EOF
  if [[ "$KAFKA_SECURE" == 1 ]]; then
    kafka_security_config >>"$KAFKA_DIR/server.properties"
    chmod 600 "$KAFKA_DIR/server.properties"
  fi
}

kafka_pid_ok() {
  local pidfile="$KAFKA_DIR/kafka.pid"
  pid_alive "$pidfile" && tr '\0' ' ' <"/proc/$(cat "$pidfile")/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'
}

# A listening port is not enough: the broker must answer a metadata request.
kafka_ready() {
  local brokers="127.0.0.1:$KAFKA_PORT"
  if [[ -d "$ROOT/node_modules/kafkajs" ]]; then
    node "$ROOT/scripts/kafka/wait-ready.mjs" "$brokers" "$WAIT_SECONDS"
  else
    log "kafka: node_modules/kafkajs missing, checking the port only"
    wait_until kafka "$(cat "$KAFKA_DIR/kafka.pid" 2>/dev/null)" listening "$KAFKA_PORT"
  fi
}

start_kafka() {
  if listening "$KAFKA_PORT"; then
    log "kafka: already listening on $KAFKA_PORT"
    kafka_ready
    return
  fi
  command -v java >/dev/null || die "java not found"
  kafka_libs
  mkdir -p "$KAFKA_DIR/data"
  if [[ -f "$KAFKA_DIR/version" && "$(cat "$KAFKA_DIR/version")" != "$KAFKA_VERSION" ]]; then
    die "$KAFKA_DIR holds Kafka $(cat "$KAFKA_DIR/version") data; use another KAFKA_PORT/KAFKA_DIR or 'stack.sh clean'"
  fi
  local scram=()
  if [[ "$KAFKA_SECURE" == 1 ]]; then
    [[ -n "${KAFKA_SASL_PASSWORD:-}" ]] || die "KAFKA_SECURE=1 needs KAFKA_SASL_PASSWORD"
    kafka_tls_material
    # SCRAM credentials live in the cluster metadata; KRaft writes them when it formats the storage.
    scram=(--add-scram "SCRAM-SHA-256=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]" --add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]")
  fi
  kafka_config
  local cp="$KAFKA_LIBS/*"
  if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    log "kafka: formatting $KAFKA_DIR/data (cluster $cluster_id)"
    # --cluster-id=… (not -t …): a random id may start with "-", which argparse would take for an option.
    java -Xmx256m -cp "$cp" kafka.tools.StorageTool format --cluster-id="$cluster_id" --config="$KAFKA_DIR/server.properties" "${scram[@]}" \
      >"$KAFKA_DIR/format.log" 2>&1 || { cat "$KAFKA_DIR/format.log" >&2; die "kafka storage format failed"; }
    echo "$KAFKA_VERSION" >"$KAFKA_DIR/version"
  fi
  log "kafka: starting $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
  # setsid + redirected fds: the broker outlives this script and never holds a caller's pipe open.
  setsid java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.showDateTime=true \
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS" \
    -cp "$cp" kafka.Kafka "$KAFKA_DIR/server.properties" \
    </dev/null >>"$KAFKA_DIR/server.log" 2>&1 &
  echo $! >"$KAFKA_DIR/kafka.pid"
  wait_until kafka "$!" listening "$KAFKA_PORT"
  kafka_ready || { tail -n 30 "$KAFKA_DIR/server.log" >&2; die "kafka did not answer metadata requests"; }
  log "kafka: ready on 127.0.0.1:$KAFKA_PORT (pid $(cat "$KAFKA_DIR/kafka.pid"))"
}

stop_kafka_dir() {
  local dir="$1" pidfile="$1/kafka.pid"
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  local pid
  pid="$(cat "$pidfile")"
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || { rm -f "$pidfile"; return 0; }
  log "kafka: stopping pid $pid ($dir)"
  kill "$pid"
  wait_pid_gone kafka "$pid"
  rm -f "$pidfile"
}

stop_kafka() { stop_kafka_dir "$KAFKA_DIR"; }

stop_all_kafka() {
  local d
  for d in "$STACK"/kafka "$STACK"/kafka-*; do
    [[ -d "$d" ]] && stop_kafka_dir "$d"
  done
  return 0
}

status_kafka() {
  local state=down d
  listening "$KAFKA_PORT" && state=listening
  kafka_pid_ok && state="$state pid $(cat "$KAFKA_DIR/kafka.pid")"
  echo "kafka     127.0.0.1:$KAFKA_PORT  $state  (version $(cat "$KAFKA_DIR/version" 2>/dev/null || echo "$KAFKA_VERSION"))"
  for d in "$STACK"/kafka-*; do
    [[ "$d" != "$KAFKA_DIR" && -f "$d/kafka.pid" ]] && pid_alive "$d/kafka.pid" && echo "kafka     extra instance $d pid $(cat "$d/kafka.pid") (version $(cat "$d/version" 2>/dev/null))"
  done
  return 0
}

# ---------------------------------------------------------------- test tools

TOOLS="$STACK/tools"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.1}"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.8.0}"
K8S_VALIDATE_VERSION="${K8S_VALIDATE_VERSION:-1.37.0}"
K8S_VERSION="${K8S_VERSION:-1.30.0}"

# The status-page browser test, the Prometheus scrape test, the Kubernetes manifest test and the
# fault matrix's network-partition run (ip netns) need these; everything lands in .stack/tools (or Debian's paths), so a second run installs nothing.
ensure_tools() {
  local need=()
  command -v chromium >/dev/null || need+=(chromium chromium-driver)
  command -v promtool >/dev/null && command -v prometheus >/dev/null || need+=(prometheus)
  command -v ip >/dev/null || need+=(iproute2)
  apt_install "${need[@]}"
  mkdir -p "$TOOLS/bin"
  local go_bin
  go_bin="$(command -v go || echo /usr/local/go/bin/go)"
  [[ -x "$go_bin" ]] || die "go is needed to build kustomize and kubeconform"
  if [[ ! -x "$TOOLS/bin/kustomize" || "$(cat "$TOOLS/kustomize.version" 2>/dev/null)" != "$KUSTOMIZE_VERSION" ]]; then
    log "tools: kustomize $KUSTOMIZE_VERSION from the Go module proxy"
    GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod "$go_bin" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
    echo "$KUSTOMIZE_VERSION" >"$TOOLS/kustomize.version"
  fi
  if [[ ! -x "$TOOLS/bin/kubeconform" || "$(cat "$TOOLS/kubeconform.version" 2>/dev/null)" != "$KUBECONFORM_VERSION" ]]; then
    log "tools: kubeconform $KUBECONFORM_VERSION from the Go module proxy"
    GOBIN="$TOOLS/bin" "$go_bin" install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >&2
    echo "$KUBECONFORM_VERSION" >"$TOOLS/kubeconform.version"
  fi
  local schemas="$TOOLS/k8s-schemas/$K8S_VALIDATE_VERSION"
  if [[ ! -d "$schemas/kubernetes_validate/kubernetes-json-schema" ]]; then
    log "tools: Kubernetes JSON schemas from PyPI kubernetes-validate $K8S_VALIDATE_VERSION"
    local tmp
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps "kubernetes-validate==$K8S_VALIDATE_VERSION" -d "$tmp" >&2
    mkdir -p "$schemas"
    python3 -m zipfile -e "$tmp"/kubernetes_validate-*.whl "$schemas"
    rm -rf "$tmp"
  fi
  # kubeconform reads kubernetes-json-schema's layout (<version>-standalone-strict/<kind>-<group>-<version>.json);
  # the package's schemas point at "/api/_definitions.json", which becomes an absolute file URL here.
  local kc="$TOOLS/k8s-schemas/kubeconform-$K8S_VALIDATE_VERSION/v$K8S_VERSION-standalone-strict"
  if [[ ! -f "$kc/_definitions.json" ]]; then
    log "tools: schemas for kubeconform, Kubernetes $K8S_VERSION"
    mkdir -p "$kc"
    local f
    for f in "$schemas/kubernetes_validate/kubernetes-json-schema/v$K8S_VERSION-local-strict"/*.json; do
      sed "s#\"/api/_definitions.json\##\"file://$kc/_definitions.json\##g" "$f" >"$kc/$(basename "$f")"
    done
  fi
  log "tools: ready (chromium, prometheus, promtool, $TOOLS/bin/kustomize, $TOOLS/bin/kubeconform, kubeconform schemas in $TOOLS/k8s-schemas/kubeconform-$K8S_VALIDATE_VERSION)"
}

# ---------------------------------------------------------------- commands

services_of() {
  local out=() s
  (($#)) || set -- pg redis kafka
  for s in "$@"; do
    case "$s" in
      pg | postgres | postgresql) out+=(pg) ;;
      redis) out+=(redis) ;;
      kafka) out+=(kafka) ;;
      all) out+=(pg redis kafka) ;;
      *) die "unknown service '$s' (pg, redis, kafka)" ;;
    esac
  done
  echo "${out[@]}"
}

cmd="${1:-}"
(($#)) && shift
mkdir -p "$STACK"
case "$cmd" in
  up | start)
    read -r -a svcs <<<"$(services_of "$@")"
    ensure_packages "${svcs[@]}"
    for s in "${svcs[@]}"; do "start_$s"; done
    ;;
  stop)
    read -r -a svcs <<<"$(services_of "$@")"
    for s in "${svcs[@]}"; do "stop_$s"; done
    ;;
  restart)
    read -r -a svcs <<<"$(services_of "$@")"
    ensure_packages "${svcs[@]}"
    for s in "${svcs[@]}"; do "stop_$s"; "start_$s"; done
    ;;
  down)
    stop_all_kafka
    stop_redis
    stop_all_pg
    ;;
  clean)
    stop_all_kafka
    stop_redis
    stop_all_pg
    while read -r d; do [[ -n "$d" ]] && rm -rf "$d"; done < <(all_pg_datadirs)
    rm -rf "$STACK/postgres" "$STACK"/postgres-* "$STACK/postgres.datadir" "$STACK/redis" "$STACK"/kafka/data "$STACK"/kafka/version "$STACK"/kafka-*
    log "cleaned (Kafka jars kept in $STACK/kafka/libs)"
    ;;
  tools)
    ensure_tools
    ;;
  status)
    status_pg
    status_redis
    status_kafka
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
