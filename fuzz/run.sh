#!/usr/bin/env bash
# Fuzzes the server's frame path for a bounded time: each input is a few
# newline-separated frames sent to one connection (decode, dispatch, a real
# store in a temp dir; no socket), see fuzz/fuzz_targets/frames.rs.
#
#   fuzz/run.sh [SECONDS]      # default 600
#
# Not part of the test command: `cargo test` only replays the checked-in
# corpus (server/tests/fuzz_corpus.rs). Installs cargo-fuzz when missing and
# runs libFuzzer (with AddressSanitizer and debug assertions) on the stable
# compiler through RUSTC_BOOTSTRAP=1. New inputs are added to
# fuzz/corpus/frames. Exits non-zero on a finding, saying where its input is.
#
# Leak detection is off: the server under test is long-lived and keeps what
# inputs leave (accounts, circles, caches), which LeakSanitizer would report
# and which made every run scan the heap (a third of the time).
set -euo pipefail

seconds="${1:-600}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
artifacts="fuzz/artifacts/frames"
mkdir -p "$artifacts"
marker="$(mktemp)"
# The target's store lives in a temp dir that libFuzzer's exit leaves behind:
# give the run a TMPDIR of its own and remove it afterwards.
scratch="$(mktemp -d)"
trap 'rm -rf "$marker" "$scratch"' EXIT
export TMPDIR="$scratch"

status=0
cargo fuzz run --debug-assertions frames -- \
    -max_total_time="$seconds" \
    -max_len=8192 \
    -timeout=60 \
    -detect_leaks=0 \
    -print_final_stats=1 \
    || status=$?

if [ "$status" -ne 0 ]; then
    echo >&2
    echo "fuzz/run.sh: a finding (cargo fuzz exited with $status)." >&2
    found=$(find "$artifacts" -type f -newer "$marker" 2>/dev/null || true)
    if [ -n "$found" ]; then
        echo "Its input:" >&2
        echo "$found" | sed 's/^/  /' >&2
        echo "Replay it, every exchange printed:" >&2
        echo "$found" | head -n 1 | sed 's/^/  CIRCLES_HARNESS_TRACE=1 RUSTC_BOOTSTRAP=1 cargo fuzz run --debug-assertions frames /' >&2
    else
        echo "No new input in $artifacts: see the output above." >&2
    fi
    exit "$status"
fi
echo "fuzz/run.sh: no finding in ${seconds}s."
