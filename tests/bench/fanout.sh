#!/bin/bash
# Fan-out: Circles (durable posts) and the floor broadcast server under the
# same loadgen workload, for circles of 8, 12 and 50 members. For each, the
# post rate rises until delivery p99 passes 50 ms or deliveries fall short of
# what was posted; each step runs REPEAT times and is judged by its median
# p99 (the machines are shared: single runs catch disk stalls of 100+ ms).
#   tests/bench/fanout.sh [SECONDS_PER_STEP] [REPEAT]
# Build first: cargo build --release -p circles-server -p circles-tests --bin circles-server --bin loadgen --bin floor
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-8}
REPEAT=${2:-3}
ulimit -n 20000
OUT=$(mktemp -d)
DATA=$(mktemp -d)
# The loadgen opens every session from 127.0.0.1, and posters go past a person's rate.
./target/release/circles-server --listen 127.0.0.1:7985 --data-dir "$DATA" \
  --requests-per-sec 0 --account-requests-per-sec 0 --max-sessions-per-ip 0 2>/dev/null &
CIRCLES_PID=$!
./target/release/floor 127.0.0.1:7886 2>/dev/null &
FLOOR_PID=$!
trap 'kill $CIRCLES_PID $FLOOR_PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/7985) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/7886) 2>/dev/null && break
  sleep 0.1
done

echo "| members | target | posts/s | delivered/s (median) | p50 ms | p99 ms (median; each run) | within bound |"
echo "|---|---|---|---|---|---|---|"
# circles x members = 1200 connections (1,200 for circles of 50: 24 circles)
for spec in "150 8" "100 12" "24 50"; do
  set -- $spec; C=$1; S=$2; N=$((C * S))
  for target in floor circles; do
    if [ $target = floor ]; then URL=ws://127.0.0.1:7886; else URL=ws://127.0.0.1:7985/v1/ws; fi
    case $S in 8) RATES="1000 2000 4000 6000 8000";; 12) RATES="1000 2000 3000 4000 6000";; *) RATES="250 500 1000 1500 2000";; esac
    for R in $RATES; do
      for i in $(seq "$REPEAT"); do
        ./target/release/loadgen --target $target --url $URL --connections $N --circles $C \
          --rate $R --duration "$SECS" --prefix "b$S$target$R-$i" --json "$OUT/$S-$target-$R-$i.json" >/dev/null 2>&1 || true
      done
      ok=$(python3 - "$OUT" "$S" "$target" "$R" <<'PY'
import glob, json, statistics, sys
out, members, target, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{members}-{target}-{rate}-*.json"))]
med = lambda xs: statistics.median(xs)
delivered = med([r["delivered_per_s"] for r in runs])
p50 = med([r["delivery_ms"]["p50"] for r in runs])
p99s = [r["delivery_ms"]["p99"] for r in runs]
p99 = med(p99s)
errors = sum(r["errors"] for r in runs)
ok = p99 <= 50 and delivered >= 0.95 * rate * members and errors == 0
runs_p99 = "/".join(f"{x:.0f}" for x in p99s)
print(f"| {members} | {target} | {rate} | {delivered:.0f} | {p50:.1f} | {p99:.1f} ({runs_p99}) | {'yes' if ok else 'no'} |", file=sys.stderr)
print("yes" if ok else "no")
PY
)
      [ "$ok" = yes ] || break
    done
  done
done 2>&1
echo "results in $OUT"
