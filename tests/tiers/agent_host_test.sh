#!/usr/bin/env bash
# The demo's main job as a test: quantclaw_agent_host replays the research episode through qc_complete
# against real f16 and q4_0 llama-server tiers (free ports here, so it never collides with a running demo)
# and must finish both passes with a cost and latency comparison.
#   agent_host_test.sh HOST LIBRARY CONFIG EPISODE
# Exit 77 (skipped) when the tiers cannot be built and QUANTCLAW_REQUIRE_REAL_TIERS is unset.
set -euo pipefail
host="$1" library="$2" config="$3" episode="$4"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d /tmp/quantclaw-agent-test.XXXXXX)"
trap '"$root/cmake/llama-tiers.sh" stop "$work/tiers" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# No RAM prompt cache: the passes share no prompts through the server (see cmake/quantclaw-dev.sh demo).
if ! LLAMA_ARG_CACHE_RAM=0 "$root/cmake/llama-tiers.sh" start "$work/tiers" f16 q4_0 2>"$work/start.log"; then
  cat "$work/start.log" >&2
  [ -n "${QUANTCLAW_REQUIRE_REAL_TIERS:-}" ] && exit 1
  echo "SKIPPED: real tiers unavailable" >&2
  exit 77
fi
# shellcheck disable=SC1091
source "$work/tiers/tiers.env"
sed -e "s|http://127.0.0.1:18180/v1|$QC_TIER_F16_URL|" -e "s|http://127.0.0.1:18181/v1|$QC_TIER_Q4_0_URL|" \
  -e "s|@QC_SLOT_DIR@|$QC_SLOT_DIR|" \
  "$config" >"$work/config.json"
"$host" "$library" "$work/config.json" "$episode" --max-tokens 16 | tee "$work/out.txt"

# Every step line names a tier that exists; the three passes ran all nine steps; the summary compares
# them, with the quality proxy, and its last line is the routed pass against the reference.
steps="$(grep -cE '^ +[0-9]+ [a-z]+ +(f16|q4_0) ' "$work/out.txt")"
[ "$steps" -eq 27 ] || { echo "expected 27 step lines (9 routed, 9 reference, 9 cheapest), got $steps" >&2; exit 1; }
grep -qE '^routed +9 steps' "$work/out.txt"
grep -qE '^all on f16 +9 steps .*tiers: f16 9$' "$work/out.txt"
grep -qE '^all on q4_0 +9 steps .*tiers: q4_0 9$' "$work/out.txt"
grep -qE '^quality proxy: teacher-forced top-1 agreement .*: routed [01]\.[0-9]{3}, all on q4_0 [01]\.[0-9]{3}$' "$work/out.txt"
# The proxy's probes found each call's cache as the call left it (so a step that arrived by hand-off is
# measured on the KV another tier computed, not on a prefill of the probing tier's own).
grep -qE "^  the probes found the call's cache in 27 of 27 steps$" "$work/out.txt"
tail -n 1 "$work/out.txt" | grep -qE '^routed / all on f16: cost [0-9.]+, latency [0-9.]+$'
# The session switched tiers inside the hand-off group: its cache went along (a "hand-off" in a reason).
grep -qE 'switch hand-off (q4_0 -> f16|f16 -> q4_0)' "$work/out.txt"
# The policy's reasons show on the wire's results: the forced search step ran on f16.
grep -qE '^ +3 search +f16 .*forced' "$work/out.txt"
echo "agent host: both passes ran on real tiers"
