#!/bin/bash
# Concurrent connections and server memory per idle connection: one server
# process, two loadgen processes of 9,750 signed-in, subscribed connections
# each (the open-file limit is 20,000 per process, the loadgen's included).
# The first loadgen connects and stays; the second connects on top of it.
# Each reports the server's RSS growth per connection it opened.
#   tests/bench/connections.sh [PER_PROCESS] [MEMBERS]
# Build first: cargo build --release -p circles-server -p circles-tests --bin circles-server --bin loadgen
set -euo pipefail
cd "$(dirname "$0")/../.."
PER=${1:-9750}
MEMBERS=${2:-12}
CIRCLES=$((PER / MEMBERS))
ulimit -n 20000
OUT=$(mktemp -d)
. tests/bench/lib.sh
start_server "$OUT/server.log" --requests-per-sec 0 --account-requests-per-sec 0
trap 'kill $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
# connected PID LOG: waits until that loadgen has opened its connections.
connected() {
  until grep -q "memory per idle connection" "$2" 2>/dev/null; do
    kill -0 "$1" 2>/dev/null || { echo "loadgen $1 failed:"; tail -5 "$2"; exit 1; }
    sleep 1
  done
}
rss() { awk '/VmRSS/ {print $2}' /proc/$SERVER/status; }
echo "server RSS before any connection: $(( $(rss) / 1024 )) MiB"
# A: connects, then posts slowly for long enough to outlast B.
./target/release/loadgen --url "ws://$ADDR/v1/ws" --connections "$PER" --circles "$CIRCLES" \
  --rate 50 --duration 90 --server-pid $SERVER --prefix ca --json "$OUT/a.json" >/dev/null 2>"$OUT/a.log" &
A=$!
connected "$A" "$OUT/a.log"
grep "memory per idle connection" "$OUT/a.log" | sed 's/^/A (0 → '"$PER"'): /'
./target/release/loadgen --url "ws://$ADDR/v1/ws" --connections "$PER" --circles "$CIRCLES" \
  --rate 50 --duration 10 --server-pid $SERVER --prefix cb --json "$OUT/b.json" >/dev/null 2>"$OUT/b.log" &
B=$!
connected "$B" "$OUT/b.log"
grep "memory per idle connection" "$OUT/b.log" | sed 's/^/B ('"$PER"' → '"$((2 * PER))"'): /'
echo "connections open: $(ls /proc/$SERVER/fd | wc -l) file descriptors in the server"
echo "server RSS with $((2 * PER)) connections: $(( $(rss) / 1024 )) MiB"
wait $B || echo "loadgen B exited with $?"
python3 -c "import json;d=json.load(open('$OUT/b.json'));print('B: posts acked %d, errors %d, delivery p99 %.1f ms'%(d['posts_acked'],d['errors'],d['delivery_ms']['p99']))"
kill $A 2>/dev/null || true
echo "logs in $OUT"
