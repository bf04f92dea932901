#!/usr/bin/env bash
# Run a command against a Kafka broker:
#   KAFKA_BOOTSTRAP_SERVERS set        -> that cluster, nothing is started
#   a broker answers on 127.0.0.1:9092 -> that one, left running afterwards
#   otherwise                          -> start the local broker, stop it when the command ends
# The command's exit code is this script's exit code.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then exec "$@"; fi
export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092
if (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then exec "$@"; fi

# Stop only what this run started, whatever way the command ends (failure, Ctrl-C).
trap '"$here/kafka.sh" stop-node single 1' EXIT
"$here/kafka.sh" start
set +e
"$@"
status=$?
set -e
exit "$status"
