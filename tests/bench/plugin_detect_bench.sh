#!/usr/bin/env bash
# The other side of QuantClawDetect (quantclaw_detect_bench.cc): the QuantClaw plugin's own rule
# detector, detectTaskTypeByRules and the constants it reads, cut unchanged out of its
# src/routers/quant.ts, on the same 200 prompts and task types, in Node (which strips the types).
#   tests/bench/plugin_detect_bench.sh PLUGIN_GIT_DIR_OR_CHECKOUT [NODE]
# Prints microseconds per message, wall and CPU (medians of 5 rounds of 200 x 50 messages).
set -euo pipefail
plugin=${1:?"usage: $0 PLUGIN_GIT_DIR_OR_CHECKOUT [NODE]"}
node=${2:-node}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -f $plugin/src/routers/quant.ts ]]; then
  cp "$plugin/src/routers/quant.ts" "$work/quant.ts"
else
  git --git-dir="$plugin" show HEAD:src/routers/quant.ts > "$work/quant.ts"
fi
{
  sed -n '/^const RULE_SCORE_THRESHOLD/,/^const TASK_TYPE_ALIAS_MAP/p' "$work/quant.ts" | sed '$d'
  sed -n '/^function tokenizeForRules/,/^async function detectTaskTypeByModel/p' "$work/quant.ts" | sed '$d'
  cat <<'TS'
import { readFileSync } from "node:fs";
const config = JSON.parse(readFileSync(process.env.QC_CONFIG!, "utf8"));
const taskTypes = config.policy.scorer.quant.taskTypes;
const prompts = readFileSync(process.env.QC_PROMPTS!, "utf8").split("\n").filter((line) => line)
  .map((line) => line.replaceAll("\\n", "\n").trim());
let sink = 0;
const run = (rounds: number) => {
  for (let r = 0; r < rounds; ++r) {
    for (const prompt of prompts) sink += detectTaskTypeByRules(prompt, taskTypes) ? 1 : 0;
  }
};
run(20);  // warm-up: let the JIT settle
// Wall and CPU time (the process's, GC and compiler threads included), as Google Benchmark
// reports "Time" and "CPU" on our side.
const times: number[] = [];
const cpus: number[] = [];
for (let i = 0; i < 5; ++i) {
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  run(50);
  const used = process.cpuUsage(cpu);
  times.push(Number(process.hrtime.bigint() - start) / 1000 / (50 * prompts.length));
  cpus.push((used.user + used.system) / (50 * prompts.length));
}
times.sort((a, b) => a - b);
cpus.sort((a, b) => a - b);
console.log(`plugin detectTaskTypeByRules (Node ${process.version}), us/message, median of 5: ` +
  `${times[2].toFixed(2)} wall, ${cpus[2].toFixed(2)} CPU (${sink} decided)`);
TS
} > "$work/bench.ts"
QC_CONFIG="$here/examples/configs/quantclaw-compat.json" QC_PROMPTS="$here/tests/data/quantclaw-prompts.txt" \
  "$node" --experimental-strip-types --no-warnings "$work/bench.ts"
