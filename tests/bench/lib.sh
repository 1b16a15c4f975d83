# Sourced by the bench scripts. start_server LOG [FLAGS...]: runs the release
# server on a free port with a fresh data dir, for load from one address (no
# per-address cap); sets SERVER (its pid), ADDR and DATA once it listens.
start_server() {
  local log=$1; shift
  DATA=$(mktemp -d)
  ./target/release/circles-server --listen 127.0.0.1:0 --data-dir "$DATA" \
    --max-sessions-per-ip 0 "$@" 2>"$log" &
  SERVER=$!
  ADDR=
  # The server logs its address once the store is open.
  for _ in $(seq 100); do
    ADDR=$(grep -o 'listening on [0-9.:]*' "$log" | head -1 | cut -d' ' -f3 || true)
    [ -n "$ADDR" ] && return 0
    sleep 0.1
  done
  echo "the server did not start:" >&2
  cat "$log" >&2
  return 1
}
