#!/usr/bin/env bash
# The learning loop, short, on real tiers (cmake/quantclaw-learn.sh with three training and two
# evaluation episodes): the corpora are generated, replayed through qc_complete with shadow sampling,
# every sampled step is scored before the router is freed, and the traces read back with a KL label on
# most steps. quantclaw train/eval/report run when this build has them.
#   learn_loop_test.sh BUILD_DIR
# Exit 77 (skipped) when the tiers cannot be built and QUANTCLAW_REQUIRE_REAL_TIERS is unset.
set -euo pipefail
build="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d /tmp/quantclaw-learn-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if ! "$root/cmake/llama-tiers.sh" models >"$work/models.log" 2>&1; then
  cat "$work/models.log" >&2
  [ -n "${QUANTCLAW_REQUIRE_REAL_TIERS:-}" ] && exit 1
  echo "SKIPPED: real tiers unavailable" >&2
  exit 77
fi
QUANTCLAW_LEARN_EPISODES=3 QUANTCLAW_LEARN_EVAL_EPISODES=2 QUANTCLAW_LEARN_REPEAT=0 QUANTCLAW_LEARN_MAX_TOKENS=12 \
  QUANTCLAW_LEARN_ACTION_TOKENS=8 "$root/cmake/quantclaw-learn.sh" "$build" "$work/out" | tee "$work/learn.txt"

for split in train eval; do
  steps="$(grep -c '"messages"' "$work/out/$split.jsonl")"
  # Every step was sampled (rate 1.0) and none was dropped: the queue holds the corpus and the host
  # waited for the scoring before it freed the router.
  grep -qE "^  $split: shadow: $steps sampled, [0-9]+ scored, [0-9]+ failed, 0 dropped" "$work/learn.txt" ||
    { echo "$split: expected $steps sampled steps, none dropped" >&2; exit 1; }
  records="$(($(wc -l <"$work/out/$split.labels.tsv") - 1))"
  with_kl="$(awk -F'\t' 'NR > 1 && $3 != "-"' "$work/out/$split.labels.tsv" | wc -l)"
  # A step whose answer was empty has no action to score, and llama-server gives no top logprobs for a
  # position whose likeliest token is an incomplete UTF-8 byte (shadow_failed); most steps are labelled.
  [ "$with_kl" -ge $((steps * 8 / 10)) ] ||
    { echo "$split: $with_kl of $steps steps have a KL label ($records records)" >&2; exit 1; }
  echo "$split: $with_kl of $steps steps labelled"
done
echo "learn loop: traces collected and read back"
