#include "telemetry/metrics.h"

#include <algorithm>
#include <functional>

#include "util/strings.h"

namespace quantclaw {
namespace {

uint64_t Read(const std::atomic<uint64_t>& counter) { return counter.load(std::memory_order_relaxed); }

// Label values escape backslash, quote and newline, as the exposition format requires.
std::string LabelValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void Header(std::string* out, std::string_view name, std::string_view help, std::string_view type) {
  StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void TierGauge(std::string* out, std::string_view name, std::string_view help,
               std::span<const std::string_view> tier_names, const std::function<double(size_t)>& value) {
  Header(out, name, help, "gauge");
  for (size_t i = 0; i < tier_names.size() && i < kMaxTierSlots; ++i) {
    StrAppend(out, name, "{tier=\"", LabelValue(tier_names[i]), "\"} ", value(i), "\n");
  }
}

constexpr size_t CounterCells() {
  size_t cells = 0;
  for (const CounterDescription& counter : kRouterCounters) cells += counter.total != nullptr ? 1 : kMaxTierSlots;
  return cells;
}
// A counter declared by hand, outside QUANTCLAW_ROUTER_COUNTERS, would be neither remapped on a reload
// nor exported.
static_assert(sizeof(RouterMetrics) == CounterCells() * sizeof(std::atomic<uint64_t>),
              "RouterMetrics holds a field that is not in QUANTCLAW_ROUTER_COUNTERS");

}  // namespace

void RouterMetrics::RemapTiers(std::span<const int> previous_index_of_new) {
  for (const CounterDescription& counter : kRouterCounters) {
    if (counter.by_tier == nullptr) continue;
    TierCounters& slots = this->*counter.by_tier;
    // Read every old value first, then store: a permutation in place would overwrite values not yet moved.
    uint64_t old[kMaxTierSlots];
    for (size_t i = 0; i < kMaxTierSlots; ++i) old[i] = Read(slots[i]);
    for (size_t i = 0; i < kMaxTierSlots; ++i) {
      const int from = i < previous_index_of_new.size() ? previous_index_of_new[i] : -1;
      const bool kept = from >= 0 && static_cast<size_t>(from) < kMaxTierSlots;
      slots[i].store(kept ? old[from] : 0, std::memory_order_relaxed);
    }
  }
}

void RouterMetrics::RecordCall(uint32_t tier, double latency_ms, double first_token_ms, uint64_t prompt_tokens,
                               uint64_t cached_tokens, uint64_t completion_tokens) {
  if (tier >= kMaxTierSlots) return;
  Increment(outcomes_by_tier[tier]);
  Increment(input_tokens_by_tier[tier], prompt_tokens);
  Increment(output_tokens_by_tier[tier], completion_tokens);
  Increment(cached_tokens_by_tier[tier], cached_tokens);
  if (!(latency_ms > 0)) return;
  Increment(timed_calls_by_tier[tier]);
  Increment(latency_us_by_tier[tier], static_cast<uint64_t>(std::min(latency_ms, kMaxCallMs) * 1000));
  if (first_token_ms > 0) {
    Increment(first_token_us_by_tier[tier], static_cast<uint64_t>(std::min(first_token_ms, kMaxCallMs) * 1000));
  }
  Increment(uncached_prompt_tokens_by_tier[tier], prompt_tokens > cached_tokens ? prompt_tokens - cached_tokens : 0);
}

std::string RouterMetrics::PrometheusText(std::span<const std::string_view> tier_names, uint64_t active_sessions,
                                          std::bitset<kMaxTierSlots> open_breakers) const {
  std::string out;
  for (const CounterDescription& counter : kRouterCounters) {
    Header(&out, counter.name, counter.help, "counter");
    if (counter.total != nullptr) {
      StrAppend(&out, counter.name, " ", Read(this->*counter.total), "\n");
      continue;
    }
    const TierCounters& slots = this->*counter.by_tier;
    for (size_t i = 0; i < tier_names.size() && i < kMaxTierSlots; ++i) {
      StrAppend(&out, counter.name, "{tier=\"", LabelValue(tier_names[i]), "\"} ", Read(slots[i]), "\n");
    }
  }
  // DMR Appendix A, eq. 10: wall time of the calls over their completion tokens, pooled.
  TierGauge(&out, "quantclaw_tier_ms_per_output_token", "Pooled latency per completion token (prefill amortised).",
            tier_names, [this](size_t i) {
              uint64_t tokens = Read(output_tokens_by_tier[i]);
              return tokens == 0 ? 0.0 : double(Read(latency_us_by_tier[i])) / 1000.0 / double(tokens);
            });
  TierGauge(&out, "quantclaw_tier_ms_per_prompt_token", "Pooled time to first token per uncached prompt token.",
            tier_names, [this](size_t i) {
              uint64_t tokens = Read(uncached_prompt_tokens_by_tier[i]);
              return tokens == 0 ? 0.0 : double(Read(first_token_us_by_tier[i])) / 1000.0 / double(tokens);
            });
  TierGauge(&out, "quantclaw_breaker_open", "1 while the tier's circuit breaker is open.", tier_names,
            [&open_breakers](size_t i) { return open_breakers[i] ? 1.0 : 0.0; });
  Header(&out, "quantclaw_sessions_active", "Sessions held now.", "gauge");
  StrAppend(&out, "quantclaw_sessions_active ", active_sessions, "\n");
  return out;
}

}  // namespace quantclaw
