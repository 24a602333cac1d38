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

if ! "$root/cmake/llama-tiers.sh" start "$work/tiers" f16 q4_0 2>"$work/start.log"; then
  cat "$work/start.log" >&2
  [ -n "${QUANTCLAW_REQUIRE_REAL_TIERS:-}" ] && exit 1
  echo "SKIPPED: real tiers unavailable" >&2
  exit 77
fi
# shellcheck disable=SC1091
source "$work/tiers/tiers.env"
sed -e "s|http://127.0.0.1:18180/v1|$QC_TIER_F16_URL|" -e "s|http://127.0.0.1:18181/v1|$QC_TIER_Q4_0_URL|" \
  "$config" >"$work/config.json"
"$host" "$library" "$work/config.json" "$episode" --max-tokens 16 | tee "$work/out.txt"

# Every step line names a tier that exists; both passes ran all nine steps; the summary compares them.
steps="$(grep -cE '^ +[0-9]+ [a-z]+ +(f16|q4_0) ' "$work/out.txt")"
[ "$steps" -eq 18 ] || { echo "expected 18 step lines (9 routed, 9 reference), got $steps" >&2; exit 1; }
grep -qE '^routed +9 steps' "$work/out.txt"
grep -qE '^all on f16 +9 steps .*tiers: f16 9$' "$work/out.txt"
grep -qE '^routed / all on f16: cost [0-9.]+, latency [0-9.]+$' "$work/out.txt"
# The policy's reasons show on the wire's results: the forced search step ran on f16.
grep -qE '^ +3 search +f16 .*forced' "$work/out.txt"
echo "agent host: both passes ran on real tiers"
