#!/usr/bin/env bash
# Before/after, side by side in one run: the same quantclaw_bench binary against two builds of the
# library (same SONAME), alternating, ROUNDS rounds; prints one line per benchmark and run.
#   tests/bench/compare_libraries.sh BENCH_BINARY OLD_PLUGIN_DIR NEW_PLUGIN_DIR [ROUNDS] [FILTER]
# e.g. build-release/tests/bench/quantclaw_bench /tmp/old/build-release/plugin build-release/plugin
set -euo pipefail
bench="$1" old="$2" new="$3" rounds="${4:-3}"
filter="${5:-Choose/1024$|Choose/131072$|ChooseProtobuf|OnStep/1024$|OnStep/16384$|OnStepProtobuf/16384$|QcCompleteVsDirectLoopback}"
for round in $(seq "$rounds"); do
  for which in old new; do
    dir="$old"
    [ "$which" = new ] && dir="$new"
    # LD_LIBRARY_PATH comes before the binary's RUNPATH, so each run loads the library it names.
    LD_LIBRARY_PATH="$dir" "$bench" --benchmark_filter="$filter" --benchmark_min_time=0.3 2>/dev/null |
      grep -E '^[A-Z][A-Za-z]+/' | sed "s/^/$which $round /"
  done
done
