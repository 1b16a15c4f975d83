#!/bin/bash
# Durable acknowledged posts per second through the whole server: every
# connection posts to a circle of its own as soon as its last post is
# acknowledged (loadgen --rate 0), against a server with group commit and one
# that flushes and fdatasyncs once per post (--commit per-write).
#   tests/bench/durable.sh [CONNECTIONS] [SECONDS]
# Build first: cargo build --release -p circles-server -p circles-tests --bin circles-server --bin loadgen
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-512}
SECS=${2:-10}
ulimit -n 20000
. tests/bench/lib.sh
for mode in group per-write; do
  LOG=$(mktemp)
  start_server "$LOG" --commit $mode --requests-per-sec 0 --account-requests-per-sec 0
  ./target/release/loadgen --url "ws://$ADDR/v1/ws" --connections "$N" --circles "$N" --rate 0 \
    --duration "$SECS" --prefix d --json /tmp/durable-$mode.json >/dev/null 2>&1
  kill $SERVER; wait $SERVER 2>/dev/null || true
  rm -rf "$DATA" "$LOG"
  python3 -c "import json;d=json.load(open('/tmp/durable-$mode.json'));print('$mode: %d posters, acked/s=%.0f ack_p50=%.2f ms ack_p99=%.2f ms errors=%d'%($N,d['acked_per_s'],d['ack_ms']['p50'],d['ack_ms']['p99'],d['errors']))"
done
