#!/bin/bash
# Fan-out: Circles (durable posts) and the floor broadcast server under the
# same loadgen workload, for circles of 8, 12 and 50 members. For each, the
# post rate rises until delivery p99 passes 50 ms or deliveries fall short of
# what was posted; the table gives the best delivered/s within the bound.
#   tests/bench/fanout.sh [SECONDS_PER_STEP]
# Build first: cargo build --release -p circles-server -p circles-tests --bin circles-server --bin loadgen --bin floor
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-8}
ulimit -n 20000
OUT=$(mktemp -d)
DATA=$(mktemp -d)
# The loadgen opens every session from 127.0.0.1, and posters go past a person's rate.
./target/release/circles-server --listen 127.0.0.1:7985 --data-dir "$DATA" \
  --requests-per-sec 0 --max-sessions-per-ip 0 2>/dev/null &
CIRCLES_PID=$!
./target/release/floor 127.0.0.1:7886 2>/dev/null &
FLOOR_PID=$!
trap 'kill $CIRCLES_PID $FLOOR_PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/7985) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/7886) 2>/dev/null && break
  sleep 0.1
done

echo "| members | target | posts/s | delivered/s | p50 ms | p99 ms | within bound |"
echo "|---|---|---|---|---|---|---|"
# circles x members = 1200 connections (1,200 for circles of 50: 24 circles)
for spec in "150 8" "100 12" "24 50"; do
  set -- $spec; C=$1; S=$2; N=$((C * S))
  for target in floor circles; do
    if [ $target = floor ]; then URL=ws://127.0.0.1:7886; else URL=ws://127.0.0.1:7985/v1/ws; fi
    for R in 500 1000 2000 3000 4000 6000 8000 12000; do
      J=$OUT/$S-$target-$R.json
      ./target/release/loadgen --target $target --url $URL --connections $N --circles $C \
        --rate $R --duration "$SECS" --prefix "b$S$target$R" --json "$J" >/dev/null 2>&1 || true
      ok=$(python3 - "$J" "$R" "$S" "$target" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); rate, members, target = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
offered = rate * members
ok = d["delivery_ms"]["p99"] <= 50 and d["delivered_per_s"] >= 0.95 * offered and d["errors"] == 0
print(f"| {members} | {target} | {rate} | {d['delivered_per_s']:.0f} | {d['delivery_ms']['p50']:.1f} | {d['delivery_ms']['p99']:.1f} | {'yes' if ok else 'no'} |", file=sys.stderr)
print("yes" if ok else "no")
PY
)
      [ "$ok" = yes ] || break
    done
  done
done 2>&1
echo "results in $OUT"
