#!/usr/bin/env bash
# Real model tiers on this machine: llama.cpp's llama-server, built from the source bundle that the npm
# package node-llama-cpp ships, serving a tiny generated llama model at f16, q8_0 and q4_0.
#
#   cmake/llama-tiers.sh build          fetch and build llama-server and llama-quantize (cached)
#   cmake/llama-tiers.sh models         build, then generate the model and quantize it (cached)
#   cmake/llama-tiers.sh start DIR [TIER[=PORT]...]
#                                       models, then one llama-server per tier (default: f16 q8_0 q4_0,
#                                       free ports) on 127.0.0.1; writes DIR/tiers.env
#                                       (QC_TIER_<NAME>_URL=...) and DIR/*.pid; the servers share
#                                       DIR/slots for KV hand-off (--slot-save-path; QC_SLOT_DIR=...)
#   cmake/llama-tiers.sh stop DIR       stop the servers started into DIR
#   cmake/llama-tiers.sh bin            print the folder holding llama-server and llama-quantize
#   cmake/llama-tiers.sh paths          models, then print QC_LLAMA_SERVER=... and QC_LLAMA_MODELS=...
#
# Nothing of this lands in the repository: sources, binaries and models live in the cache folder
# ($QUANTCLAW_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/quantclaw), keyed by the package version, so a
# second run on the same machine reuses them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${QUANTCLAW_LLAMA_NPM_VERSION:-3.22.1}"
cache="${QUANTCLAW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/quantclaw}"
llama="$cache/llama.cpp-node-llama-cpp-$version"
models="$cache/models-v1"
# name:quantization, lowest precision first as in the example configs' tier ladders.
tiers=(q4_0:Q4_0 q8_0:Q8_0 f16:F16)

log() { echo "llama-tiers: $*" >&2; }

build() {
  if [ -x "$llama/bin/llama-server" ] && [ -x "$llama/bin/llama-quantize" ]; then
    return 0
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
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
    -DBUILD_SHARED_LIBS=OFF >"$work/configure.log" 2>&1 || { tail -30 "$work/configure.log" >&2; exit 1; }
  cmake --build "$work/build" --parallel "$(nproc)" --target llama-server llama-quantize \
    >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; exit 1; }
  mkdir -p "$work/bin"
  cp "$work/build/bin/llama-server" "$work/build/bin/llama-quantize" "$work/bin/"
  mkdir -p "$llama"
  mv "$work/bin" "$llama/bin"
  rm -rf "$work"
  log "built into $llama/bin"
}

# The tiny model at f16 (the reference tier) and quantized with llama.cpp's own llama-quantize.
models() {
  build
  local script="$root/tests/tiers/make_tiny_gguf.py"
  if [ -f "$models/tiny-f16.gguf" ] && [ -f "$models/tiny-q8_0.gguf" ] && [ -f "$models/tiny-q4_0.gguf" ] &&
    [ "$models/tiny-f16.gguf" -nt "$script" ]; then
    return 0
  fi
  mkdir -p "$models"
  python3 "$script" "$models/tiny-f16.gguf.tmp"
  mv "$models/tiny-f16.gguf.tmp" "$models/tiny-f16.gguf"
  local tier name type
  for tier in "${tiers[@]}"; do
    name="${tier%%:*}" type="${tier##*:}"
    [ "$name" = f16 ] && continue
    "$llama/bin/llama-quantize" "$models/tiny-f16.gguf" "$models/tiny-$name.gguf" "$type" \
      >"$models/quantize-$name.log" 2>&1 || { tail -20 "$models/quantize-$name.log" >&2; exit 1; }
  done
  log "models in $models: $(cd "$models" && ls -1 ./*.gguf | xargs -n1 basename | tr '\n' ' ')"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One llama-server per tier, one thread each (more threads thrash on 2 cores), on loopback only.
start() {
  local dir="$1"
  shift
  local wanted=("$@")
  [ "${#wanted[@]}" -gt 0 ] || wanted=(f16 q8_0 q4_0)
  models
  mkdir -p "$dir" "$dir/slots"
  local env="$dir/tiers.env"
  {
    echo "QC_LLAMA_SERVER=$llama/bin/llama-server"
    echo "QC_LLAMA_MODELS=$models"
    echo "QC_SLOT_DIR=$(cd "$dir/slots" && pwd)"
  } >"$env.tmp"
  local name port upper tier
  local names=()
  for tier in "${wanted[@]}"; do
    # NAME or NAME=PORT: a fixed port for configs that name it (examples/configs/llama-tiers.json).
    name="${tier%%=*}"
    port="${tier#*=}"
    [ "$port" != "$tier" ] || port="$(free_port)"
    names+=("$name")
    [ -f "$models/tiny-$name.gguf" ] || { log "no tier named $name (f16, q8_0, q4_0)"; stop "$dir"; exit 2; }
    if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
      log "port $port is taken: something already listens there"
      stop "$dir"
      exit 1
    fi
    "$llama/bin/llama-server" -m "$models/tiny-$name.gguf" --alias "tiny-$name" --host 127.0.0.1 \
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
  log "tiers up: $(grep -c _URL= "$env") ($dir/tiers.env)"
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
