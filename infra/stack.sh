#!/usr/bin/env bash
# The local stack: broker, topics, schemas, then every service that exists.
#
#   infra/stack.sh up     start in the background; return once healthy
#   infra/stack.sh down   stop services and broker; return once no process is left
#   infra/stack.sh run    up, print how to use it, tail the logs; Ctrl-C runs down
#   infra/stack.sh prometheus-config   print the scrape config up gives Prometheus
#
# With KAFKA_BOOTSTRAP_SERVERS set the stack uses that cluster and never starts or stops a
# broker. Pid files and logs live under var/stack/.
#
# up also starts Prometheus (infra/prometheus.sh, Debian's package, installed when missing) on
# 127.0.0.1:${PROMETHEUS_PORT:-9090}, scraping every process started here with the alert rules
# of infra/prometheus/alerts.yml; down stops it. It is optional: when it cannot be installed
# or started the stack still comes up and says so. STACK_PROMETHEUS=0 leaves it out.
#
# RESOLVERS=N / FANOUTS=N start N processes of that service (default 1); each claims its own
# instance id and metrics port (resolver 9181, 9183, …; fan-out 9182, 9184, …). Ingest scales
# inside one service: TIDINGS_INGEST__WORKERS=N processes behind its one port.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="$root/.venv/bin"
run_dir="${TIDINGS_VAR_DIR:-$root/var}/stack"
# The instance-id slot locks (src/tidings/instance_id.py): one place whatever the working directory.
export TIDINGS_DATA_DIR="${TIDINGS_DATA_DIR:-${TIDINGS_VAR_DIR:-$root/var}}"
ingest_url="http://${TIDINGS_INGEST__HOST:-127.0.0.1}:${TIDINGS_INGEST__PORT:-8080}"
prometheus_sh="$here/prometheus.sh"
prometheus_config="$run_dir/prometheus.yml"
prometheus_url="http://127.0.0.1:${PROMETHEUS_PORT:-9090}"
prometheus_note=""

# Services in start order: "name console-script python-module". A service starts only once
# its module exists, so a new service is one more line here and nothing else.
SERVICES=(
  "ingest tidings-ingest tidings_ingest.__main__"
  "resolver tidings-resolver tidings_resolver.__main__"
  "fanout tidings-fanout tidings_fanout.__main__"
)

# Provisioning after the broker is up, in order.
PROVISION=(
  "tidings topics ensure"
  "tidings schemas register --bundled"
  "tidings demo seed --out $run_dir/demo.json --url $ingest_url"
)

log() { echo "stack: $*" >&2; }

module_exists() {
  "$bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" \
    2>/dev/null
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

broker_up() {
  if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    log "using the broker at $KAFKA_BOOTSTRAP_SERVERS"
    return
  fi
  "$here/kafka.sh" start
  export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092
}

copies() {  # name: how many processes of it to start
  case "$1" in
    resolver) echo "${RESOLVERS:-1}" ;;
    fanout) echo "${FANOUTS:-1}" ;;
    *) echo 1 ;;
  esac
}

start_services() {  # name script module: the first copy is "name", the next "name-1", …
  local k
  for ((k = 0; k < $(copies "$1"); k++)); do
    if [ "$k" -eq 0 ]; then start_service "$1" "$2" "$3"; else start_service "$1-$k" "$2" "$3"; fi
  done
}

start_service() {  # name script module
  local pidfile="$run_dir/$1.pid" logfile="$run_dir/$1.log"
  if ! module_exists "$3"; then log "$1: not built yet, skipped"; return; fi
  if alive "$pidfile"; then log "$1: already running (pid $(cat "$pidfile"))"; return; fi
  # setsid: its own process group, so down can stop the service and any child it spawns.
  setsid nohup "$bin/$2" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  log "$1: started (pid $!, log $logfile)"
}

wait_ingest_ready() {
  alive "$run_dir/ingest.pid" || return 0
  local deadline=$((SECONDS + ${TIDINGS_STACK_READY_TIMEOUT_S:-90}))
  while [ $SECONDS -lt $deadline ]; do
    if curl -fs -o /dev/null "$ingest_url/readyz"; then log "ingest: ready at $ingest_url"; return 0; fi
    alive "$run_dir/ingest.pid" || { log "ingest: exited; see $run_dir/ingest.log"; return 1; }
    sleep 0.5
  done
  log "ingest: not ready after ${TIDINGS_STACK_READY_TIMEOUT_S:-90}s; see $run_dir/ingest.log"
  return 1
}

up() {
  mkdir -p "$run_dir"
  broker_up
  local step
  for step in "${PROVISION[@]}"; do
    log "$step"
    # shellcheck disable=SC2086  # each step is a command line
    "$bin/"$step >>"$run_dir/provision.log" 2>&1 || {
      log "failed: $step; see $run_dir/provision.log"; tail -n 20 "$run_dir/provision.log" >&2; return 1
    }
  done
  local entry
  for entry in "${SERVICES[@]}"; do
    # shellcheck disable=SC2086  # entry is "name script module"
    start_services $entry
  done
  wait_ingest_ready
  prometheus_up
  log "up"
  usage_hint >&2
}

targets() {  # first-port count: the metrics ports of count copies (slot N adds 2N, instance_id.py)
  local k out=""
  for ((k = 0; k < $2; k++)); do out+="${out:+, }\"127.0.0.1:$(($1 + 2 * k))\""; done
  echo "$out"
}

prometheus_config() {  # infra/prometheus/prometheus.yml with this stack's processes as targets
  cat <<EOF
# Generated by infra/stack.sh up from infra/prometheus/prometheus.yml: one target per process
# (RESOLVERS=${RESOLVERS:-1}, FANOUTS=${FANOUTS:-1}). Edit that file or stack.sh, not this one.
global:
  scrape_interval: 5s
  evaluation_interval: 5s

rule_files:
  - "$here/prometheus/alerts.yml"

scrape_configs:
  - job_name: ingest
    metrics_path: /metrics
    static_configs:
      - targets: [$(targets "${TIDINGS_INGEST__PORT:-8080}" 1)]
  - job_name: resolver
    metrics_path: /metrics
    static_configs:
      - targets: [$(targets "${TIDINGS_PROCESSING__RESOLVER_PORT:-9181}" "$(copies resolver)")]
  - job_name: fanout
    metrics_path: /metrics
    static_configs:
      - targets: [$(targets "${TIDINGS_PROCESSING__FANOUT_PORT:-9182}" "$(copies fanout)")]
EOF
}

prometheus_up() {  # optional: a failure is reported, never fatal to the stack
  if [ "${STACK_PROMETHEUS:-1}" = 0 ]; then prometheus_note="left out (STACK_PROMETHEUS=0)"; return 0; fi
  if ! "$prometheus_sh" install >>"$run_dir/prometheus-install.log" 2>&1; then
    prometheus_note="not installed (see $run_dir/prometheus-install.log; make prometheus-install)"
    log "prometheus: $prometheus_note; the stack runs without it"
    return 0
  fi
  prometheus_config >"$prometheus_config"
  # A changed config needs a restart; stop does nothing when this checkout's is not running.
  "$prometheus_sh" stop
  if "$prometheus_sh" start --config "$prometheus_config"; then
    log "prometheus: $prometheus_url (config $prometheus_config)"
  else
    prometheus_note="did not start (see ${TIDINGS_VAR_DIR:-$root/var}/prometheus.log)"
    log "prometheus: $prometheus_note; the stack runs without it"
  fi
}

stop_pidfile() {  # TERM the process group, wait, then KILL; return once it is gone
  local pidfile="$1" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$pidfile"
}

down() {
  local i name pidfile
  # Reverse start order: consumers stop before the producer they read from.
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    name="${SERVICES[$i]%% *}"
    for pidfile in "$run_dir/$name.pid" "$run_dir/$name"-[0-9]*.pid; do
      if [ -e "$pidfile" ]; then stop_pidfile "$pidfile"; fi
    done
  done
  "$prometheus_sh" stop
  if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then "$here/kafka.sh" stop; fi
  log "down"
}

usage_hint() {
  echo
  echo "Tidings is up. Kafka: ${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
  if alive "$run_dir/ingest.pid"; then echo "Ingest: $ingest_url (GET /readyz, POST /api/v1/notifications)"; fi
  echo "Read records with their headers:"
  echo "  infra/bin/kafka-console-consumer --bootstrap-server ${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092} \\"
  echo "    --topic ${TIDINGS_TOPIC_PREFIX:-tidings.}schemas --from-beginning --property print.headers=true"
  if [ -f "$run_dir/demo.json" ]; then
    echo "Post the example notification as the demo tenant's client:"
    "$bin/python" -c 'import json,sys; print("  " + json.load(open(sys.argv[1]))["curl"])' "$run_dir/demo.json"
    echo "Then GET the Location it answers with the same Authorization header."
  fi
  if [ "$("$prometheus_sh" status)" != "not running" ]; then
    echo "Prometheus: $prometheus_url (alerts at /alerts; config $prometheus_config)"
  else
    echo "Prometheus: ${prometheus_note:-not running}"
  fi
  echo "Logs: $run_dir/*.log — stop everything with 'make down' (or Ctrl-C under 'make run')."
}

run() {
  tail_pid=""
  trap 'trap - INT TERM EXIT; [ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null; echo; down' \
    INT TERM EXIT
  up
  touch "$run_dir/provision.log"
  tail -n 0 -F "$run_dir"/*.log &
  tail_pid=$!
  wait "$tail_pid"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  run) run ;;
  prometheus-config) prometheus_config ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
