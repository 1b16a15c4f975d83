#!/bin/bash
# Soak: the loadgen against a fresh release server for a bounded time
# (default 600 s), then the drift of server memory and latency between the
# first and the last minute. Not part of the test command.
#   tests/bench/soak.sh [SECONDS] [CONNECTIONS] [CIRCLES] [RATE]
# Build first: cargo build --release -p circles-server -p circles-tests --bin circles-server --bin loadgen
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-600}
CONNECTIONS=${2:-1200}
CIRCLES=${3:-100}
RATE=${4:-1000}
ulimit -n 20000
OUT=${SOAK_OUT:-$(mktemp -d)}
. tests/bench/lib.sh
start_server "$OUT/server.log" --requests-per-sec 0 --account-requests-per-sec 0
trap 'kill $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
echo "soak: $SECONDS_TO_RUN s, $CONNECTIONS connections over $CIRCLES circles, $RATE posts/s; output in $OUT"
./target/release/loadgen --url "ws://$ADDR/v1/ws" --connections "$CONNECTIONS" --circles "$CIRCLES" \
  --rate "$RATE" --duration "$SECONDS_TO_RUN" --server-pid $SERVER --progress-secs 10 \
  --progress-json "$OUT/progress.jsonl" --json "$OUT/result.json" --prefix soak
python3 - "$OUT/progress.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["delivered_per_s"] > 0]
if len(rows) < 4:
    sys.exit("too few progress intervals to compare")
n = max(1, min(6, len(rows) // 4))          # a minute of 10 s intervals, or a quarter
first, last = rows[:n], rows[-n:]
def med(rs, key):
    vals = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(vals) if vals else float("nan")
print(f"| figure | first {n * 10} s | last {n * 10} s | drift |")
print("|---|---|---|---|")
for key in ["server_rss_kib", "delivery_p50_ms", "delivery_p99_ms", "ack_p99_ms", "delivered_per_s"]:
    a, b = med(first, key), med(last, key)
    print(f"| {key} | {a:.1f} | {b:.1f} | {((b / a - 1) * 100 if a else float('nan')):+.1f}% |")
print(f"errors: {rows[-1]['errors']}")
PY
