#!/bin/bash
# The kill -9 test for many rounds, each killing the server at a random
# point: `tests/bench/crash.sh [ROUNDS] [SEED]` (default 50 rounds, a fresh
# seed). After every restart each acknowledged post is there, seqs are
# gap-free, nothing is duplicated and the store opens. Not part of the test
# command (the suite runs the same test for 2 rounds); a failure prints the
# seed that replays it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-50}
SEED=${2:-$(( (RANDOM << 32) ^ (RANDOM << 16) ^ RANDOM | 1 ))}
echo "crash: $ROUNDS rounds, seed $SEED"
CIRCLES_CRASH_ROUNDS=$ROUNDS CIRCLES_CRASH_SEED=$SEED \
  cargo test --release -p circles-tests --test crash -- --nocapture
