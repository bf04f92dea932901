#!/usr/bin/env bash
# A real Apache Kafka (KRaft) from Maven Central jars, for development, tests and CI.
#
#   infra/kafka.sh fetch              copy the Kafka jars into infra/kafka/lib (cached)
#   infra/kafka.sh start [--nodes 3]  format storage if new, start, wait until it answers
#   infra/kafka.sh start --name solo --port 29092
#                                     a separate, killable single node (controller on port+1)
#   infra/kafka.sh stop-node|start-node NAME N   one node (single 1, trio 1..3, solo 1)
#   infra/kafka.sh stop               stop every node this checkout started (TERM, then KILL)
#   infra/kafka.sh status             print the running nodes
#   infra/kafka.sh wipe               stop, then delete the data directories
#
# Single node: broker+controller on 127.0.0.1:9092 (controller 9093).
# --nodes 3: three combined nodes on 127.0.0.1:19092/19094/19096, replication factor 3,
# min.insync.replicas=2, for the reliability tests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
lib="$here/kafka/lib"
var="${TIDINGS_VAR_DIR:-$root/var}"
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
heap="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"

fetch() {
  if [ -f "$lib/.complete" ] && [ "$lib/.complete" -nt "$here/kafka/pom.xml" ]; then return 0; fi
  echo "kafka: fetching Apache Kafka jars from Maven Central (cached in infra/kafka/lib)" >&2
  rm -rf "$lib"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$lib" -DincludeScope=runtime >&2
  touch "$lib/.complete"
}

node_dir() { echo "$var/kafka/$1-node$2"; }

write_config() {  # cluster nodeid nodes broker_port controller_port voters
  local dir; dir="$(node_dir "$1" "$2")"
  mkdir -p "$dir/data"
  local rf=1 isr=1
  if [ "$3" -ge 3 ]; then rf=3; isr=2; fi
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$2
controller.quorum.voters=$6
listeners=PLAINTEXT://127.0.0.1:$4,CONTROLLER://127.0.0.1:$5
advertised.listeners=PLAINTEXT://127.0.0.1:$4
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=12
group.initial.rebalance.delay.ms=0
log.cleaner.min.compaction.lag.ms=0
log.segment.bytes=67108864
unstable.api.versions.enable=false
PROPS
}

start_node() {  # cluster nodeid
  local dir; dir="$(node_dir "$1" "$2")"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then return 0; fi
  if [ ! -f "$dir/data/meta.properties" ]; then
    "$java_bin" -cp "$lib/*" -Dlog4j2.configurationFile="$here/kafka/tools-log4j2.properties" \
      kafka.tools.StorageTool format -t "$(cluster_id "$1")" -c "$dir/server.properties" >/dev/null
  fi
  # setsid: the broker outlives the shell that started it and gets its own process group.
  setsid nohup "$java_bin" $heap -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" \
    -Dkafka.logs.file="$dir/server.log" \
    -cp "$lib/*" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
}

cluster_id() {  # a stable 22-character base64 id per cluster name
  printf '%s' "tidings-$1-cluster-id-0000" | head -c 22 | tr -c 'A-Za-z0-9_-' '_'
}

wait_port() {  # port seconds
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.3
  done
  return 1
}

wait_ready() {  # bootstrap seconds: the broker answers a metadata request
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    if "$here/bin/kafka-topics" --bootstrap-server "$1" --list >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  return 1
}

start() {
  local nodes=1 name=single port=9092
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes="$2"; shift 2 ;;
      --name) name="$2"; shift 2 ;;  # a named single node, e.g. a broker a fault test may kill
      --port) port="$2"; shift 2 ;;
      *) echo "kafka: unknown option $1" >&2; exit 2 ;;
    esac
  done
  fetch
  if [ "$nodes" = 1 ]; then
    write_config "$name" 1 1 "$port" $((port + 1)) "1@127.0.0.1:$((port + 1))"
    start_node "$name" 1
    wait_port "$port" 60 && wait_ready "127.0.0.1:$port" 90 || { echo "kafka: did not start; see $(node_dir "$name" 1)/server.log" >&2; exit 1; }
    echo "kafka: ready on 127.0.0.1:$port" >&2
  else
    local voters="1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    for i in 1 2 3; do
      write_config trio "$i" 3 $((19090 + 2 * i)) $((19091 + 2 * i)) "$voters"
      start_node trio "$i"
    done
    wait_ready 127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096 120 || { echo "kafka: cluster did not start" >&2; exit 1; }
    echo "kafka: 3 nodes ready on 127.0.0.1:19092,19094,19096" >&2
  fi
}

stop_pidfile() {
  local pidfile="$1" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.3; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

stop() {
  shopt -s nullglob
  for pidfile in "$var"/kafka/*/pid; do stop_pidfile "$pidfile"; done
}

status() {
  shopt -s nullglob
  for pidfile in "$var"/kafka/*/pid; do
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "running $(dirname "$pidfile")"; fi
  done
}

case "${1:-}" in
  fetch) fetch ;;
  start) shift; start "$@" ;;
  stop) stop ;;
  stop-node) stop_pidfile "$(node_dir "$2" "$3")/pid" ;;
  start-node) fetch; start_node "$2" "$3" ;;
  status) status ;;
  wipe) stop; rm -rf "$var/kafka" ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
