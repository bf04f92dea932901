#!/usr/bin/env bash
# Prometheus for the local stack (Debian's package), and the unit tests of its alert rules.
#
#   infra/prometheus.sh install             apt-get install prometheus if it or promtool is missing
#   infra/prometheus.sh start [--config F]  run /usr/bin/prometheus in the background until /-/ready
#   infra/prometheus.sh stop                stop the one this checkout started (TERM, then KILL)
#   infra/prometheus.sh status              print whether it runs
#   infra/prometheus.sh check               promtool: check config, check rules, test rules
#
# Listens on 127.0.0.1:${PROMETHEUS_PORT:-9090}; data in var/prometheus, pid and log beside it.
# The packaged service is never used: the binary runs on this checkout's files only.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
var="${TIDINGS_VAR_DIR:-$root/var}"
port="${PROMETHEUS_PORT:-9090}"
prometheus_bin="${PROMETHEUS_BIN:-/usr/bin/prometheus}"
promtool_bin="${PROMTOOL_BIN:-promtool}"
pidfile="$var/prometheus.pid"
logfile="$var/prometheus.log"

install() {
  if command -v "$promtool_bin" >/dev/null && [ -x "$prometheus_bin" ]; then return 0; fi
  echo "prometheus: installing the Debian package (promtool and prometheus)" >&2
  # A stale package index is the usual reason an install fails: refresh once and retry.
  local apt=(apt-get install -y -q --no-install-recommends prometheus)
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive "${apt[@]}" >&2; }
}

url() { echo "http://127.0.0.1:$port$1"; }

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
  local config="$here/prometheus/prometheus.yml"
  while [ $# -gt 0 ]; do
    case "$1" in
      --config)  # absolute: Prometheus resolves rule_files relative to the config file
        [ -f "${2:-}" ] || { echo "prometheus: no config file ${2:-}" >&2; exit 2; }
        config="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
      *) echo "prometheus: unknown option $1" >&2; exit 2 ;;
    esac
  done
  if running; then echo "prometheus: already running (pid $(cat "$pidfile"))" >&2; return 0; fi
  # Something else on the port (a packaged default instance) would answer /-/ready for us.
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "prometheus: 127.0.0.1:$port is taken by another process; set PROMETHEUS_PORT" >&2
    exit 1
  fi
  mkdir -p "$var/prometheus"
  # setsid: Prometheus outlives the shell that started it and gets its own process group.
  setsid nohup "$prometheus_bin" \
    --config.file="$config" \
    --storage.tsdb.path="$var/prometheus" \
    --web.listen-address="127.0.0.1:$port" \
    >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    if ! running; then break; fi
    if curl -fsS -o /dev/null "$(url /-/ready)" 2>/dev/null; then
      echo "prometheus: ready on $(url /) (config $config)" >&2
      return 0
    fi
    sleep 0.3
  done
  echo "prometheus: did not start; see $logfile" >&2
  tail -n 20 "$logfile" >&2 || true
  stop
  exit 1
}

stop() {
  [ -f "$pidfile" ] || return 0
  local pid; pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.3; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

status() {
  if running; then echo "running pid $(cat "$pidfile"), log $logfile"; else echo "not running"; fi
}

check() {
  local dir="$here/prometheus"
  command -v "$promtool_bin" >/dev/null \
    || { echo "prometheus: promtool is missing; run infra/prometheus.sh install" >&2; exit 1; }
  # check config also loads the rule files it names; check rules alone lints for duplicates.
  "$promtool_bin" check config "$dir/prometheus.yml"
  "$promtool_bin" check rules "$dir/alerts.yml"
  "$promtool_bin" test rules "$dir/alerts_test.yml"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  check) check ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
