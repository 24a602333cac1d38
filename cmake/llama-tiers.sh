#!/usr/bin/env bash
# Real model tiers on this machine: llama.cpp's llama-server, built from the source bundle that the npm
# package node-llama-cpp ships, serving a generated llama model (tests/tiers/make_model_gguf.py) at f16,
# q8_0 and q4_0. Two sizes: "tiny" (2 x 256, about 5 MB, for fast tests) and "small" (6 x 768, about
# 86 MB at f16, for the demo and economics). Both carry content-dependent quantization sensitivity.
#
#   cmake/llama-tiers.sh build          fetch and build llama-server and llama-quantize for this CPU
#                                       (cached; QUANTCLAW_LLAMA_NATIVE=0: the portable build)
#   cmake/llama-tiers.sh models         build, then generate both models and quantize them (cached)
#   cmake/llama-tiers.sh start DIR [--model tiny|small] [TIER[=PORT]...]
#                                       models, then one llama-server per tier (default: f16 q8_0 q4_0,
#                                       free ports) on 127.0.0.1 serving the model named by --model (else
#                                       $QUANTCLAW_TIER_MODEL, else tiny); writes DIR/tiers.env
#                                       (QC_TIER_<NAME>_URL=...) and DIR/*.pid, then measures each tier's
#                                       prefill and decode tokens/s, prints them and writes DIR/speeds.json
#                                       (QUANTCLAW_TIER_SPEEDS=0 skips the measurement); the servers share
#                                       DIR/slots for KV hand-off (--slot-save-path; QC_SLOT_DIR=...)
#   cmake/llama-tiers.sh stop DIR       stop the servers started into DIR
#   cmake/llama-tiers.sh bin            print the folder holding llama-server and llama-quantize
#   cmake/llama-tiers.sh paths          models, then print QC_LLAMA_SERVER=... and QC_LLAMA_MODELS=...
#                                       (the folder holds <model>-<tier>.gguf, e.g. tiny-q4_0.gguf)
#
# Nothing of this lands in the repository: sources, binaries and models live in the cache folder
# ($QUANTCLAW_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/quantclaw), keyed by the package version and the
# model generation (models-v2; models-v1 held the pure-Python tiny model), so a second run on the same
# machine reuses them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${QUANTCLAW_LLAMA_NPM_VERSION:-3.22.1}"
cache="${QUANTCLAW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/quantclaw}"
# llama.cpp is built for this machine's CPU (GGML_NATIVE=ON: AVX-512 and VNNI where the CPU has them), as
# a deployment builds it: measured here, that is what makes q4_0 clearly cheaper than f16 (README, "Real
# tiers"); the portable build's q4_0 prefills no faster than f16. The binaries remember the CPU flags they
# were built for and are rebuilt when the cache finds itself on another CPU, where they could crash.
# QUANTCLAW_LLAMA_NATIVE=0 builds the portable binaries instead, in a folder of their own.
native="${QUANTCLAW_LLAMA_NATIVE:-1}"
case "$native" in
  0) llama="$cache/llama.cpp-node-llama-cpp-$version" native_flag=OFF ;;
  1) llama="$cache/llama.cpp-node-llama-cpp-$version-native" native_flag=ON ;;
  *) echo "llama-tiers: QUANTCLAW_LLAMA_NATIVE must be 0 or 1, not $native" >&2; exit 2 ;;
esac
cpu_flags() { grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | sort | tr '\n' ' '; }
models="$cache/models-v2"
# name:quantization, lowest precision first as in the example configs' tier ladders.
tiers=(q4_0:Q4_0 q8_0:Q8_0 f16:F16)
model_sizes=(tiny small)

log() { echo "llama-tiers: $*" >&2; }

build() {
  if [ -x "$llama/bin/llama-server" ] && [ -x "$llama/bin/llama-quantize" ]; then
    if [ "$native_flag" = OFF ] || [ "$(cat "$llama/cpu-flags" 2>/dev/null)" = "$(cpu_flags)" ]; then
      return 0
    fi
    log "the cached native llama.cpp was built for another CPU: rebuilding"
    rm -rf "$llama"
  fi
  command -v git >/dev/null || { log "git is missing (cmake/quantclaw-dev.sh setup installs it)"; exit 1; }
  local work="$llama.tmp"
  rm -rf "$work"
  mkdir -p "$work"
  log "npm pack node-llama-cpp@$version"
  (cd "$work" && npm pack "node-llama-cpp@$version" --silent --loglevel=error >/dev/null)
  tar -xzf "$work/node-llama-cpp-$version.tgz" -C "$work" package/llama/gitRelease.bundle
  git -c advice.detachedHead=false clone --quiet "$work/package/llama/gitRelease.bundle" "$work/src"
  log "building llama-server and llama-quantize (about 6 minutes on 2 cores)"
  cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE="$native_flag" \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
    -DBUILD_SHARED_LIBS=OFF >"$work/configure.log" 2>&1 || { tail -30 "$work/configure.log" >&2; exit 1; }
  cmake --build "$work/build" --parallel "$(nproc)" --target llama-server llama-quantize \
    >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; exit 1; }
  mkdir -p "$work/bin"
  cp "$work/build/bin/llama-server" "$work/build/bin/llama-quantize" "$work/bin/"
  mkdir -p "$llama"
  cpu_flags >"$llama/cpu-flags"
  mv "$work/bin" "$llama/bin"
  rm -rf "$work"
  log "built into $llama/bin"
}

# A python3 that imports numpy (the generator needs it): the first python3 on PATH, else Debian's own
# (a pyenv or venv python3 first on PATH may lack the python3-numpy package).
python_numpy() {
  local candidate
  for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import numpy' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  log "no python3 with numpy (install python3-numpy; cmake/quantclaw-dev.sh setup does)"
  return 1
}

# Both model sizes at f16 (the reference tier) and quantized with llama.cpp's own llama-quantize;
# regenerated when the generator is newer than the files.
models() {
  build
  local script="$root/tests/tiers/make_model_gguf.py"
  local size tier name type fresh=1
  for size in "${model_sizes[@]}"; do
    for tier in "${tiers[@]}"; do
      name="${tier%%:*}"
      [ -f "$models/$size-$name.gguf" ] && [ "$models/$size-$name.gguf" -nt "$script" ] || fresh=0
    done
  done
  [ "$fresh" -eq 0 ] || return 0
  local python
  python="$(python_numpy)"
  mkdir -p "$models"
  for size in "${model_sizes[@]}"; do
    local started=$SECONDS
    "$python" "$script" "$models/$size-f16.gguf.tmp" --size "$size"
    for tier in "${tiers[@]}"; do
      name="${tier%%:*}" type="${tier##*:}"
      [ "$name" = f16 ] && continue
      "$llama/bin/llama-quantize" "$models/$size-f16.gguf.tmp" "$models/$size-$name.gguf.tmp" "$type" \
        >"$models/quantize-$size-$name.log" 2>&1 || { tail -20 "$models/quantize-$size-$name.log" >&2; exit 1; }
      mv "$models/$size-$name.gguf.tmp" "$models/$size-$name.gguf"
    done
    # The f16 file last: its date says the set is complete.
    mv "$models/$size-f16.gguf.tmp" "$models/$size-f16.gguf"
    log "model $size generated and quantized in $((SECONDS - started)) s"
  done
  log "models in $models: $(cd "$models" && ls -1 ./*.gguf | xargs -n1 basename | tr '\n' ' ')"
}

# A loopback port free when probed, not one of those given. The server binds it only seconds later, so it
# is drawn below the kernel's ephemeral range, from which outgoing connections and bind(0) take theirs.
free_port() {
  python3 - "$@" <<'PY'
import random, socket, sys
taken = {int(port) for port in sys.argv[1:]}
try:
    floor = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    floor = 32768
draw = random.SystemRandom()
for _ in range(100):
    port = draw.randrange(20000, floor) if floor > 20001 else 0
    if port in taken:
        continue
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(probe.getsockname()[1])
        sys.exit(0)
sys.exit("no free loopback port")
PY
}

# One llama-server per tier, one thread each (more threads thrash on 2 cores), on loopback only.
start() {
  local dir="$1"
  shift
  local model="${QUANTCLAW_TIER_MODEL:-tiny}"
  if [ "${1:-}" = --model ]; then
    [ -n "${2:-}" ] || { log "--model needs a size (${model_sizes[*]})"; exit 2; }
    model="$2"
    shift 2
  fi
  case " ${model_sizes[*]} " in
    *" $model "*) ;;
    *) log "no model size named $model (${model_sizes[*]})"; exit 2 ;;
  esac
  local wanted=("$@")
  [ "${#wanted[@]}" -gt 0 ] || wanted=(f16 q8_0 q4_0)
  models
  mkdir -p "$dir" "$dir/slots"
  local env="$dir/tiers.env"
  {
    echo "QC_LLAMA_SERVER=$llama/bin/llama-server"
    echo "QC_LLAMA_MODELS=$models"
    echo "QC_SLOT_DIR=$(cd "$dir/slots" && pwd)"
    echo "QC_TIER_MODEL=$model"
  } >"$env.tmp"
  local name port upper tier
  local names=() ports=()
  for tier in "${wanted[@]}"; do
    # NAME or NAME=PORT: a fixed port for configs that name it (examples/configs/llama-tiers.json).
    name="${tier%%=*}"
    port="${tier#*=}"
    [ "$port" != "$tier" ] || port="$(free_port "${ports[@]}")"
    ports+=("$port")
    names+=("$name")
    [ -f "$models/$model-$name.gguf" ] || { log "no tier named $name (f16, q8_0, q4_0)"; stop "$dir"; exit 2; }
    if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
      log "port $port is taken: something already listens there"
      stop "$dir"
      exit 1
    fi
    "$llama/bin/llama-server" -m "$models/$model-$name.gguf" --alias "$model-$name" --host 127.0.0.1 \
      --port "$port" -t 1 -tb 1 -c 16384 --parallel 1 --jinja --no-webui --slot-save-path "$dir/slots" \
      >"$dir/$name.log" 2>&1 &
    echo $! >"$dir/$name.pid"
    upper="$(echo "$name" | tr '[:lower:]' '[:upper:]')"
    echo "QC_TIER_${upper}_URL=http://127.0.0.1:$port/v1" >>"$env.tmp"
  done
  for name in "${names[@]}"; do
    port="$(sed -n "s|^QC_TIER_$(echo "$name" | tr '[:lower:]' '[:upper:]')_URL=http://127.0.0.1:\([0-9]*\)/v1|\1|p" "$env.tmp")"
    local tries=0
    until curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
      tries=$((tries + 1))
      if [ "$tries" -gt 300 ] || ! kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
        log "tier $name did not become healthy; its log:"
        tail -20 "$dir/$name.log" >&2
        stop "$dir"
        exit 1
      fi
      sleep 0.1
    done
  done
  mv "$env.tmp" "$env"
  log "tiers up: $(grep -c _URL= "$env"), model $model ($dir/tiers.env)"
  [ "${QUANTCLAW_TIER_SPEEDS:-1}" = 0 ] || speeds "$dir"
}

# Prefill and decode tokens/s (of wall time and per CPU-second) of each started tier, one request at a
# time (tests/tiers/tier_speeds.py): printed, and written to DIR/speeds.json for the demo. A failed
# measurement warns and leaves the tiers up.
speeds() {
  local dir="$1" specs=() line name url
  while IFS= read -r line; do
    case "$line" in
      QC_TIER_*_URL=*)
        name="${line#QC_TIER_}"
        name="$(echo "${name%%_URL=*}" | tr '[:upper:]' '[:lower:]')"
        url="${line#*=}"
        # With the process id, the figures include tokens per CPU-second, which other work on the
        # machine barely moves.
        specs+=("$name=$url@$(cat "$dir/$name.pid")")
        ;;
    esac
  done <"$dir/tiers.env"
  local started=$SECONDS
  if python3 "$root/tests/tiers/tier_speeds.py" "${specs[@]}" --json "$dir/speeds.json" >/dev/null; then
    log "speeds measured in $((SECONDS - started)) s ($dir/speeds.json)"
  else
    log "warning: could not measure the tiers' speeds"
  fi
}

stop() {
  local dir="$1" pid_file pid
  for pid_file in "$dir"/*.pid; do
    [ -f "$pid_file" ] || continue
    pid="$(cat "$pid_file")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pid_file"
  done
}

case "${1:-}" in
  build) build ;;
  bin) build; echo "$llama/bin" ;;
  paths) models >&2; echo "QC_LLAMA_SERVER=$llama/bin/llama-server"; echo "QC_LLAMA_MODELS=$models" ;;
  models) models ;;
  start) [ -n "${2:-}" ] || { log "start needs a folder"; exit 2; }; start "${@:2}" ;;
  stop) [ -n "${2:-}" ] || { log "stop needs a folder"; exit 2; }; stop "$2" ;;
  *)
    sed -n '2,15p' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
