#!/usr/bin/env bash
# One entry point for a new machine: installs what is missing (Debian bookworm packages only),
# configures, builds, and runs the main job, the tests or the benchmarks.
#   cmake/quantclaw-dev.sh demo    set up (llama.cpp tiers included), build, run the example episode through
#                                  qc_complete on real f16 and q4_0 tiers, then route the example episodes
#   cmake/quantclaw-dev.sh test    set up, build, run every test; then again under ASan and UBSan; then the
#                                  threaded tests and a shorter soak under TSan
#   cmake/quantclaw-dev.sh learn [OUT]
#                                  set up, build, then the learning loop on real f16 and q4_0 tiers
#                                  (cmake/quantclaw-learn.sh): generated training and evaluation episodes
#                                  replayed with shadow sampling into traces, then quantclaw train, eval
#                                  and report; OUT defaults to BUILD/learn. QUANTCLAW_LEARN_EPISODES and
#                                  the other knobs are described in cmake/quantclaw-learn.sh
#   cmake/quantclaw-dev.sh bench   set up, build (Release), run the benchmarks; with QUANTCLAW_PLUGIN_SRC (a
#                                  checkout of the QuantClaw plugin) also QuantClaw mode against the plugin
#   cmake/quantclaw-dev.sh setup   only install the packages and build the private protobuf
#   cmake/quantclaw-dev.sh tsan    only the TSan part of test (packages and tiers already in)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${QUANTCLAW_BUILD_DIR:-$root/build}"

packages=(
  build-essential cmake ninja-build pkg-config
  libtsan2
  libboost1.81-dev libboost-json1.81-dev
  libcurl4-openssl-dev
  libprotobuf-dev protobuf-compiler
  libabsl-dev
  libpcre2-dev
  googletest libgtest-dev libbenchmark-dev
  binutils python3 python3-numpy python3-pytest python3-pip python3-venv curl git openssl
  patch xz-utils debian-archive-keyring
)

setup() {
  local missing=()
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  echo "setup: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# libquantclaw.so's private protobuf (cmake/protobuf-pic.sh says why): Debian's source of the installed
# version, built once per machine into the cache (the first time about 2.5 minutes on 2 idle cores, 5 on
# busy ones).
setup_protobuf() {
  "$root/cmake/protobuf-pic.sh" build
}

# The Node binding's one dependency, koffi, from the npm registry (a prebuilt binary inside the package).
setup_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  if [ ! -f "$root/examples/node/node_modules/koffi/package.json" ]; then
    echo "setup: npm install (examples/node)"
    (cd "$root/examples/node" && npm install --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

# Real llama.cpp tiers for the demo and the tests: built once per machine into a cache outside the
# repository (about 6 to 10 minutes on 2 cores the first time).
setup_tiers() {
  setup_node
  "$root/cmake/llama-tiers.sh" models
}

configure_and_build() {
  local type="$1"
  shift
  # Tests and examples on explicitly: a build folder configured otherwise before is set right again.
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DQUANTCLAW_BUILD_TESTS=ON \
    -DQUANTCLAW_BUILD_EXAMPLES=ON "$@" >/dev/null
  cmake --build "$build" --parallel "$(nproc)"
}

# ThreadSanitizer, a build of its own (it cannot share a process with ASan): only what the threaded tests
# need, and only those tests, plus the two tests of copies side by side (two private protobufs, and a
# host's own protobuf next to the library's, in one process). A threaded test says so in its name (Concurrent, Thread, InFlight,
# DuringTraffic); the soak (tests/soak) runs shorter here. -O1 keeps TSan's cost down with usable stacks.
tsan_tests() {
  local tsan_build="${QUANTCLAW_TSAN_BUILD_DIR:-$root/build-tsan}"
  cmake -S "$root" -B "$tsan_build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
    -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DQUANTCLAW_TSAN=ON -DQUANTCLAW_BUILD_TESTS=ON -DQUANTCLAW_BUILD_EXAMPLES=OFF \
    -DQUANTCLAW_BUILD_BENCH=OFF "$@" >/dev/null
  cmake --build "$tsan_build" --parallel "$(nproc)" --target quantclaw quantclaw_unit_tests quantclaw_abi_test \
    quantclaw_complete_test quantclaw_soak_test quantclaw_abi_two_copies_test quantclaw_abi_protobuf_host_test
  # A race fails the test (halt_on_error) with both stacks. Kernels with more mmap entropy than TSan's
  # memory layout allows ("unexpected memory mapping") need ASLR off for the run: setarch -R.
  local no_aslr=()
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    no_aslr=(setarch "$(uname -m)" -R)
  fi
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" QUANTCLAW_SOAK_SECONDS=12 "${no_aslr[@]}" \
    ctest --test-dir "$tsan_build" --output-on-failure --parallel "$(nproc)" --timeout 300 \
    -R 'Concurrent|Thread|InFlight|DuringTraffic|^soak$|^abi_two_copies_side_by_side$|^abi_host_with_its_own_protobuf$'
}

case "${1:-}" in
  setup)
    setup
    setup_protobuf
    setup_node
    ;;
  demo)
    setup
    setup_protobuf
    setup_tiers
    configure_and_build RelWithDebInfo
    # Two real tiers of the small generated model (q4_0 clearly faster than f16 on a CPU, as in real
    # deployments) on the ports examples/configs/llama-tiers.json names, sharing a slot folder for the KV
    # hand-off, stopped whatever happens.
    # Without llama-server's RAM prompt cache (--cache-ram 0) a tier's cache is its slot alone: what the
    # router pins and hands off, and what the agent host erases between its passes, so that no pass finds
    # another's prompts.
    export LLAMA_ARG_CACHE_RAM=0
    tiers_dir="$(mktemp -d /tmp/quantclaw-demo.XXXXXX)"
    trap '"$root/cmake/llama-tiers.sh" stop "$tiers_dir"; rm -rf "$tiers_dir"' EXIT
    "$root/cmake/llama-tiers.sh" start "$tiers_dir" --model small f16=18180 q4_0=18181
    # shellcheck disable=SC1091
    source "$tiers_dir/tiers.env"
    sed -e "s|@QC_SLOT_DIR@|$QC_SLOT_DIR|" "$root/examples/configs/llama-tiers.json" >"$tiers_dir/config.json"
    echo
    echo "== quantclaw_agent_host: examples/episodes/research-agent.jsonl through qc_complete on llama.cpp f16 and q4_0"
    "$build/examples/quantclaw_agent_host" "$build/plugin/libquantclaw.so.1" \
      "$tiers_dir/config.json" "$root/examples/episodes/research-agent.jsonl"
    "$root/cmake/llama-tiers.sh" stop "$tiers_dir" >/dev/null
    echo
    echo "== quantclaw_handoff_measure: one long-prompt step with and without the split (prefill on q4_0, decode on f16)"
    eval "$("$root/cmake/llama-tiers.sh" paths)"
    "$build/tests/bench/quantclaw_handoff_measure" --ref "$QC_LLAMA_MODELS/small-f16.gguf" \
      --low "$QC_LLAMA_MODELS/small-q4_0.gguf" --runs 3
    echo
    echo "== quantclaw route examples/configs/router.json examples/episodes/research-agent.jsonl (decisions only)"
    "$build/plugin/quantclaw" route "$root/examples/configs/router.json" "$root/examples/episodes/research-agent.jsonl"
    echo
    echo "== quantclaw route examples/configs/quantclaw-compat.json examples/episodes/quantclaw-turns.jsonl"
    "$build/plugin/quantclaw" route "$root/examples/configs/quantclaw-compat.json" \
      "$root/examples/episodes/quantclaw-turns.jsonl"
    ;;
  test)
    setup
    setup_protobuf
    setup_tiers
    # The real-tier tests fail, rather than skip, when the tiers are missing.
    export QUANTCLAW_REQUIRE_REAL_TIERS=1
    configure_and_build RelWithDebInfo
    ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)" --timeout 300
    # The same suite with AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer: what
    # "never crashes, leaks or corrupts its host" rests on.
    build="${QUANTCLAW_ASAN_BUILD_DIR:-$root/build-asan}"
    configure_and_build Debug -DQUANTCLAW_SANITIZE=ON -DQUANTCLAW_BUILD_BENCH=OFF
    ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)" --timeout 300
    # Data races in the threaded paths (sessions, reloads, breakers, free while calls are in flight).
    tsan_tests
    ;;
  learn)
    setup
    setup_protobuf
    setup_tiers
    configure_and_build RelWithDebInfo
    "$root/cmake/quantclaw-learn.sh" "$build" "${2:-$build/learn}"
    ;;
  tsan)
    # The TSan part of `test` alone, on a machine already set up.
    tsan_tests "${@:2}"
    ;;
  bench)
    setup
    setup_protobuf
    build="${QUANTCLAW_BUILD_DIR:-$root/build-release}"
    configure_and_build Release
    "$build/tests/bench/quantclaw_bench" "${@:2}"
    # QuantClaw mode against the plugin's own detector, as a ratio measured in this run, when a checkout
    # of the plugin is named (it is not on npm).
    if [ -n "${QUANTCLAW_PLUGIN_SRC:-}" ]; then
      echo
      "$root/tests/bench/detect_ratio.sh" "$build/tests/bench/quantclaw_bench" "$QUANTCLAW_PLUGIN_SRC"
    fi
    ;;
  *)
    echo "usage: $0 demo|test|learn|bench|setup|tsan" >&2
    exit 2
    ;;
esac
