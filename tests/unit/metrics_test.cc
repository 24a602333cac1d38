#include "telemetry/metrics.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace quantclaw {
namespace {

constexpr std::string_view kTierNames[] = {"bf16", "int8", "w4"};

// A value no other counter or slot holds, so a line read from the wrong counter cannot pass.
uint64_t Distinct(size_t counter, size_t slot) { return 1000 * (counter + 1) + slot + 1; }

void Fill(RouterMetrics* metrics) {
  for (size_t k = 0; k < std::size(kRouterCounters); ++k) {
    const CounterDescription& counter = kRouterCounters[k];
    if (counter.total != nullptr) {
      Increment(metrics->*counter.total, Distinct(k, 0));
    } else {
      for (size_t i = 0; i < kMaxTierSlots; ++i) Increment((metrics->*counter.by_tier)[i], Distinct(k, i));
    }
  }
}

TEST(MetricsTest, EveryCounterIsExportedWithItsValue) {
  RouterMetrics metrics;
  Fill(&metrics);
  const std::string text = metrics.PrometheusText(kTierNames, 0, {});
  std::set<std::string_view> names;
  for (size_t k = 0; k < std::size(kRouterCounters); ++k) {
    const CounterDescription& counter = kRouterCounters[k];
    EXPECT_TRUE(names.insert(counter.name).second) << counter.name << " is exported twice";
    const std::string name(counter.name);
    EXPECT_NE(text.find("# HELP " + name + " " + std::string(counter.help) + "\n# TYPE " + name + " counter\n"),
              std::string::npos)
        << name << "\n" << text;
    if (counter.total != nullptr) {
      EXPECT_NE(text.find("\n" + name + " " + std::to_string(Distinct(k, 0)) + "\n"), std::string::npos)
          << name << "\n" << text;
      continue;
    }
    for (size_t i = 0; i < std::size(kTierNames); ++i) {
      const std::string line = name + "{tier=\"" + std::string(kTierNames[i]) + "\"} " + std::to_string(Distinct(k, i));
      EXPECT_NE(text.find("\n" + line + "\n"), std::string::npos) << line << "\n" << text;
    }
    // Slots past the config's tiers have no name, so they are not exported.
    EXPECT_EQ(text.find(name + "{tier=\"\"}"), std::string::npos) << text;
  }
}

TEST(MetricsTest, TheTimedCallsAreExported) {
  RouterMetrics metrics;
  metrics.RecordCall(1, 2.5, 1.0, 100, 40, 10);
  metrics.RecordCall(1, 0, 0, 100, 0, 10);  // untimed: counted as an outcome, not in the latency sums
  const std::string text = metrics.PrometheusText(kTierNames, 0, {});
  EXPECT_NE(text.find("\nquantclaw_timed_calls_total{tier=\"int8\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nquantclaw_outcomes_total{tier=\"int8\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nquantclaw_latency_microseconds_total{tier=\"int8\"} 2500\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nquantclaw_first_token_microseconds_total{tier=\"int8\"} 1000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nquantclaw_uncached_input_tokens_total{tier=\"int8\"} 60\n"), std::string::npos) << text;
}

TEST(MetricsTest, GaugesTakeTheirInputsFromTheCaller) {
  RouterMetrics metrics;
  std::bitset<kMaxTierSlots> open_breakers;
  open_breakers[1] = true;
  const std::string text = metrics.PrometheusText(kTierNames, 7, open_breakers);
  EXPECT_NE(text.find("\nquantclaw_breaker_open{tier=\"bf16\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nquantclaw_breaker_open{tier=\"int8\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nquantclaw_sessions_active 7\n"), std::string::npos) << text;
}

TEST(MetricsTest, TierNamesAreEscapedInLabels) {
  RouterMetrics metrics;
  const std::string_view names[] = {"a\"b\\c\nd"};
  const std::string text = metrics.PrometheusText(names, 0, {});
  EXPECT_NE(text.find("\nquantclaw_outcomes_total{tier=\"a\\\"b\\\\c\\nd\"} 0\n"), std::string::npos) << text;
}

TEST(MetricsTest, RemapTiersMovesEveryPerTierCounter) {
  RouterMetrics metrics;
  Fill(&metrics);
  // Slot 0 takes slot 2's counts, slot 1 is a new tier, slot 2 takes slot 0's, and the slots past the
  // span have no previous tier either.
  const int previous_index_of_new[] = {2, -1, 0};
  metrics.RemapTiers(previous_index_of_new);
  for (size_t k = 0; k < std::size(kRouterCounters); ++k) {
    const CounterDescription& counter = kRouterCounters[k];
    if (counter.total != nullptr) {
      EXPECT_EQ((metrics.*counter.total).load(), Distinct(k, 0)) << counter.name << " is not per tier";
      continue;
    }
    const TierCounters& slots = metrics.*counter.by_tier;
    EXPECT_EQ(slots[0].load(), Distinct(k, 2)) << counter.name;
    EXPECT_EQ(slots[1].load(), 0u) << counter.name;
    EXPECT_EQ(slots[2].load(), Distinct(k, 0)) << counter.name;
    for (size_t i = 3; i < kMaxTierSlots; ++i) EXPECT_EQ(slots[i].load(), 0u) << counter.name << " slot " << i;
  }
}

}  // namespace
}  // namespace quantclaw
