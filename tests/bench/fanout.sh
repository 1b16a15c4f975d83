#!/bin/bash
# Run after: cargo build --release -p circles-server -p circles-tests --bin circles-server --bin loadgen --bin floor
# Fan-out: Circles vs floor, same loadgen workload.
ulimit -n 20000
cd "$(dirname "$0")/../.."
# The loadgen opens every session from 127.0.0.1 and posters go past a person's rate.
DATA=$(mktemp -d); ./target/release/circles-server --listen 127.0.0.1:7985 --data-dir "$DATA" --requests-per-sec 0 --max-sessions-per-ip 0 2>/dev/null &
./target/release/floor 127.0.0.1:7886 2>/dev/null &
sleep 1
for spec in "150 8 3000" "100 12 3000" "24 50 1000"; do
  set -- $spec; C=$1; S=$2; R=$3; N=$((C*S))
  for target in floor circles; do
    if [ $target = floor ]; then URL=ws://127.0.0.1:7886; else URL=ws://127.0.0.1:7985/v1/ws; fi
    ./target/release/loadgen --target $target --url $URL --connections $N --circles $C --rate $R --duration 8 --prefix b$S$target --json /tmp/b-$S-$target.json >/dev/null 2>&1
    python3 -c "import json;d=json.load(open('/tmp/b-$S-$target.json'));print('$target members=$S rate=$R sent=%d delivered/s=%.0f p50=%.1f p99=%.1f ack_p50=%.1f errors=%d'%(d['posts_sent'],d['delivered_per_s'],d['delivery_ms']['p50'],d['delivery_ms']['p99'],d['ack_ms']['p50'],d['errors']))"
  done
done
kill %1 %2
