#!/usr/bin/env bash
# The learning loop on real tiers, on an already built tree (cmake/quantclaw-dev.sh learn sets up and
# builds first, then runs this):
#   1. start llama-server f16 and q4_0 tiers (cmake/llama-tiers.sh), stopped whatever happens;
#   2. write a config: the tiers and policy of examples/configs/llama-tiers.json on this run's ports, with
#      shadow sampling on every step (rate 1.0), traces into OUT/traces/<split>;
#   3. generate the training and evaluation corpora (examples/episodes/make_episodes.py, split by seed);
#   4. replay each through qc_complete (quantclaw_agent_host --routed-only), which waits until every
#      sampled step is scored before it frees the router, so the traces are complete (it leaves
#      response_format out: the tiny test model's llama-server cannot build the grammar it asks for);
#   5. optionally collect the evaluation episodes a second time on freshly started tiers and compare the
#      labels (labels reproduce);
#   6. quantclaw train / eval / report, each only when the subcommand exists in this build.
#
#   cmake/quantclaw-learn.sh BUILD_DIR OUT_DIR
# Environment (defaults in brackets):
#   QUANTCLAW_LEARN_EPISODES [100]       training episodes (seeds 1000..)
#   QUANTCLAW_LEARN_EVAL_EPISODES [30]   evaluation episodes (seeds 2000..)
#   QUANTCLAW_LEARN_MAX_TOKENS [24]      tokens each step may generate (the scored action is its start)
#   QUANTCLAW_LEARN_ACTION_TOKENS [16]   shadow.action_tokens: positions teacher-forced per step
#   QUANTCLAW_LEARN_BUDGET [0.3]         K for eval and report
#   QUANTCLAW_LEARN_REPEAT [1]           1: collect the evaluation episodes twice and compare labels
# Exit 0 when the traces were collected (and the subcommands that exist succeeded), 1 otherwise.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:?usage: quantclaw-learn.sh BUILD_DIR OUT_DIR}"
out="${2:?usage: quantclaw-learn.sh BUILD_DIR OUT_DIR}"
train_episodes="${QUANTCLAW_LEARN_EPISODES:-100}"
eval_episodes="${QUANTCLAW_LEARN_EVAL_EPISODES:-30}"
max_tokens="${QUANTCLAW_LEARN_MAX_TOKENS:-24}"
action_tokens="${QUANTCLAW_LEARN_ACTION_TOKENS:-16}"
budget="${QUANTCLAW_LEARN_BUDGET:-0.3}"
repeat="${QUANTCLAW_LEARN_REPEAT:-1}"

host="$build/examples/quantclaw_agent_host"
library="$build/plugin/libquantclaw.so.1"
cli="$build/plugin/quantclaw"
labels_tool="$build/tests/learn/quantclaw_trace_labels"
for needed in "$host" "$library" "$cli" "$labels_tool"; do
  [ -e "$needed" ] || { echo "learn: $needed is missing: build with tests and examples on first" >&2; exit 1; }
done

log() { echo "learn: $*" >&2; }

mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -rf "$out/traces" "$out/tiers"
mkdir -p "$out/traces"
tiers_dir="$out/tiers"
trap '"$root/cmake/llama-tiers.sh" stop "$tiers_dir" >/dev/null 2>&1 || true' EXIT

start_tiers() {
  "$root/cmake/llama-tiers.sh" stop "$tiers_dir" >/dev/null 2>&1 || true
  "$root/cmake/llama-tiers.sh" start "$tiers_dir" f16 q4_0
}

# The config for one collection: llama-tiers.json's tiers and policy on this run's ports, and shadow
# sampling of every step into TRACES. The queue holds a whole corpus: nothing waits for it (the host
# waits at the end instead), and a dropped step would be a missing label.
write_config() {
  local traces="$1" config="$2"
  python3 - "$root/examples/configs/llama-tiers.json" "$tiers_dir/tiers.env" "$traces" "$action_tokens" >"$config" <<'EOF'
import json, sys
example, env_path, traces, action_tokens = sys.argv[1:]
env = dict(line.strip().split("=", 1) for line in open(env_path) if "=" in line)
config = json.load(open(example))
config["description"] = "cmake/quantclaw-learn.sh: " + config.get("description", "")
for tier in config["tiers"]:
    tier["base_url"] = env[f"QC_TIER_{tier['name'].upper()}_URL"]
    # The demo's KV hand-off stays out of the loop (its slot folder is the demo's placeholder): the
    # collected traffic is what it was without one.
    tier.pop("handoff", None)
config["shadow"] = {"rate": 1.0, "top_logprobs": 20, "trace_path": traces, "action_tokens": int(action_tokens),
                    "queue": 65536, "timeout_ms": 120000}
json.dump(config, sys.stdout, indent=2)
EOF
  "$cli" validate "$config" >/dev/null
}

# Replays CORPUS into traces/NAME; prints the host's summary lines and writes NAME.labels.tsv.
collect() {
  local name="$1" corpus="$2"
  write_config "$out/traces/$name" "$out/config-$name.json"
  log "replaying $(grep -c '"messages"' "$corpus") steps of $corpus with shadow sampling into $out/traces/$name"
  local start end
  start="$(date +%s.%N)"
  if ! "$host" "$library" "$out/config-$name.json" "$corpus" --routed-only --max-tokens "$max_tokens" \
    >"$out/replay-$name.txt" 2>&1; then
    tail -20 "$out/replay-$name.txt" >&2
    log "the replay of $name failed (whole output in $out/replay-$name.txt)"
    return 1
  fi
  end="$(date +%s.%N)"
  grep -E '^(routed pass|shadow):' "$out/replay-$name.txt" | sed "s/^/  $name: /"
  "$labels_tool" "$out/traces/$name" >"$out/$name.labels.tsv"
  python3 - "$out/$name.labels.tsv" "$start" "$end" "$name" <<'EOF'
import sys
path, start, end, name = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
rows = [line.rstrip("\n").split("\t") for line in open(path)][1:]
kls = sorted(float(row[2]) for row in rows if row[2] != "-")
high = sum(row[3] == "1" for row in rows)
def q(p):
    return kls[min(len(kls) - 1, int(p * len(kls)))] if kls else float("nan")
print(f"  {name}: {len(rows)} trace records, {len(kls)} with KL; KL p10 {q(0.1):.4g} p50 {q(0.5):.4g} "
      f"p90 {q(0.9):.4g} max {kls[-1] if kls else float('nan'):.4g} nats; {high} labelled high at the "
      f"shadow threshold; wall {float(end) - float(start):.1f} s")
EOF
}

has_subcommand() {
  # A subcommand this build does not know makes the CLI print its usage and exit 2.
  local usage
  usage="$("$cli" --help 2>&1 || true)"
  grep -qE "quantclaw $1( |$)" <<<"$usage"
}

generator="$root/examples/episodes/make_episodes.py"
python3 "$generator" --split train --episodes "$train_episodes" -o "$out/train.jsonl" --stats
python3 "$generator" --split eval --episodes "$eval_episodes" -o "$out/eval.jsonl" --stats

loop_start="$(date +%s)"
start_tiers
collect train "$out/train.jsonl"
collect eval "$out/eval.jsonl"
if [ "$repeat" = 1 ]; then
  # A second collection of the evaluation episodes on tiers started afresh (cold caches, new processes).
  start_tiers
  collect eval-repeat "$out/eval.jsonl"
  echo "  labels reproduce (eval vs eval-repeat):"
  python3 "$root/tests/learn/compare_labels.py" "$out/eval.labels.tsv" "$out/eval-repeat.labels.tsv" \
    --threshold median | sed 's/^/    /' ||
    log "labels reproduce on fewer than 95% of the steps"
fi
"$root/cmake/llama-tiers.sh" stop "$tiers_dir" >/dev/null 2>&1 || true
echo "  traces collected in $(($(date +%s) - loop_start)) s: $out/traces/{train,eval}"

status=0
model="$out/model.qcmodel"
if has_subcommand train; then
  "$cli" train "$out/traces/train" -o "$model" | tee "$out/train.txt" || status=1
else
  echo "learn: quantclaw train is not built yet: traces are in $out/traces/train, nothing was trained"
fi
if has_subcommand eval && [ -f "$model" ]; then
  "$cli" eval "$model" "$out/traces/eval" --budget "$budget" | tee "$out/eval.txt" || status=1
elif ! has_subcommand eval; then
  echo "learn: quantclaw eval is not built yet"
fi
if has_subcommand report; then
  report_model=()
  [ -f "$model" ] && report_model=(--model "$model")
  # The evaluation episodes only: the model never saw them, so the charts show held-out figures.
  "$cli" report "$out/traces/eval" "${report_model[@]}" --budget "$budget" -o "$out/report" || status=1
  echo "report: $out/report"
else
  echo "learn: quantclaw report is not built yet"
fi
echo "traces: $out/traces (labels as text: $out/*.labels.tsv)"
exit "$status"
