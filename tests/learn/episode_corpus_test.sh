#!/usr/bin/env bash
# examples/episodes/make_episodes.py: the same seeds give the same bytes, the train and eval splits share
# no session, the corpus mixes every kind of episode with hundreds of steps, and the library accepts
# every step and outcome of it (`quantclaw route` reports no error).
#   episode_corpus_test.sh PYTHON GENERATOR QUANTCLAW CONFIG
set -euo pipefail
python="$1" generator="$2" cli="$3" config="$4"
work="$(mktemp -d /tmp/quantclaw-corpus-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT

"$python" "$generator" --split train --episodes 40 -o "$work/train.jsonl" --stats 2>"$work/train.stats"
"$python" "$generator" --split train --episodes 40 -o "$work/train-again.jsonl"
"$python" "$generator" --split eval --episodes 15 -o "$work/eval.jsonl"
cat "$work/train.stats"
cmp "$work/train.jsonl" "$work/train-again.jsonl" || { echo "the same seeds gave different corpora" >&2; exit 1; }
# A prefix of a split is the same episodes: episode i depends on its seed alone.
"$python" "$generator" --split train --episodes 5 -o "$work/train-5.jsonl"
head -n "$(wc -l <"$work/train-5.jsonl")" "$work/train.jsonl" | cmp - "$work/train-5.jsonl" ||
  { echo "the first 5 episodes changed with the count" >&2; exit 1; }

"$python" - "$work/train.jsonl" "$work/eval.jsonl" <<'PY'
import json, sys
sessions, steps, kinds_seen = [], [], set()
for path in sys.argv[1:]:
    ids, count = set(), 0
    for line in open(path):
        record = json.loads(line)
        if "outcome" in record:
            continue
        count += 1
        ids.add(record["session_id"])
        for message in record["messages"]:
            if message["role"] == "tool":
                kinds_seen.add("tool result")
            for call in message.get("tool_calls", ()):
                kinds_seen.add(call["function"]["name"])
                try:
                    json.loads(call["function"]["arguments"])
                except ValueError:
                    kinds_seen.add("malformed arguments")
            content = message.get("content") or ""
            if "Traceback" in content or "panicked" in content or "FAIL" in content:
                kinds_seen.add("stack trace")
            if content.startswith("Error") or "\nError" in content:
                kinds_seen.add("tool error")
        if record.get("request", {}).get("response_format"):
            kinds_seen.add("json response")
        if not record.get("request", {}).get("tools") and record["step_index"] == 0:
            kinds_seen.add("no tools")
    sessions.append(ids)
    steps.append(count)
assert not (sessions[0] & sessions[1]), f"train and eval share sessions: {sorted(sessions[0] & sessions[1])[:3]}"
assert steps[0] >= 300, f"train: only {steps[0]} steps from 40 episodes"
wanted = {"web_search", "read_url", "write_file", "read_file", "run_tests", "python", "stack trace", "tool error",
          "malformed arguments", "json response", "no tools"}
missing = wanted - kinds_seen
assert not missing, f"the corpus lacks {sorted(missing)}"
print(f"train {steps[0]} steps in {len(sessions[0])} sessions, eval {steps[1]} steps in {len(sessions[1])}")
PY

for split in train eval; do
  "$cli" route "$config" "$work/$split.jsonl" >"$work/$split.route" 2>"$work/$split.errors" ||
    { head -5 "$work/$split.errors" >&2; echo "quantclaw route rejected the $split corpus" >&2; exit 1; }
  [ ! -s "$work/$split.errors" ] || { head -5 "$work/$split.errors" >&2; exit 1; }
  tail -2 "$work/$split.route"
done
echo "episode corpus: deterministic, split by seed, accepted by quantclaw route"
