#include "policy/budget.h"

#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace quantclaw {
namespace {

TEST(BudgetQuantileTest, NoThresholdBeforeWarmup) {
  BudgetQuantile budget(100);
  double threshold = 0;
  for (int i = 0; i < 9; ++i) budget.Record(0.5);
  EXPECT_FALSE(budget.Threshold(0.3, 10, &threshold));
  budget.Record(0.5);
  EXPECT_TRUE(budget.Threshold(0.3, 10, &threshold));
}

// With uniform scores, the threshold for K = 0.3 sits near the 0.7 quantile, and about 30% of a fresh
// sample from the same distribution lands above it.
TEST(BudgetQuantileTest, HoldsTheFractionOnUniformScores) {
  BudgetQuantile budget(5000);
  std::mt19937 random(7);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int i = 0; i < 5000; ++i) budget.Record(uniform(random));
  double threshold = 0;
  ASSERT_TRUE(budget.Threshold(0.3, 20, &threshold));
  EXPECT_NEAR(threshold, 0.7, 0.02);
  int above = 0;
  for (int i = 0; i < 10000; ++i) above += uniform(random) > threshold;
  EXPECT_NEAR(above / 10000.0, 0.3, 0.02);
}

// The window slides: after the distribution shifts, old scores leave and the threshold follows.
TEST(BudgetQuantileTest, FollowsDriftOverTheWindow) {
  BudgetQuantile budget(200);
  for (int i = 0; i < 200; ++i) budget.Record(0.1 + 0.001 * (i % 100));
  double before = 0;
  ASSERT_TRUE(budget.Threshold(0.5, 20, &before));
  EXPECT_LT(before, 0.25);
  for (int i = 0; i < 200; ++i) budget.Record(0.8 + 0.001 * (i % 100));
  double after = 0;
  ASSERT_TRUE(budget.Threshold(0.5, 20, &after));
  EXPECT_GT(after, 0.8);
  EXPECT_LT(after, 0.9);
}

TEST(BudgetQuantileTest, FullBudgetSendsEverythingHigh) {
  BudgetQuantile budget(50);
  for (int i = 0; i < 50; ++i) budget.Record(0.0);
  double threshold = 0;
  ASSERT_TRUE(budget.Threshold(1.0, 1, &threshold));
  EXPECT_LT(threshold, 0.0);
}

TEST(BudgetQuantileTest, OutOfRangeScoresAreClamped) {
  BudgetQuantile budget(10);
  budget.Record(-5);
  budget.Record(7);
  budget.Record(std::numeric_limits<double>::quiet_NaN());
  double threshold = 0;
  ASSERT_TRUE(budget.Threshold(0.5, 1, &threshold));
  EXPECT_GE(threshold, 0.0);
  EXPECT_LE(threshold, 1.0);
}

TEST(BudgetQuantileTest, ConcurrentRecordsKeepTheCountExact) {
  BudgetQuantile budget(1000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&budget, t] {
      for (int i = 0; i < 5000; ++i) budget.Record((i % 10) / 10.0 + 0.01 * t);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(budget.recorded(), 20000u);
  double threshold = 0;
  ASSERT_TRUE(budget.Threshold(0.5, 1, &threshold));
  EXPECT_GT(threshold, 0.3);
  EXPECT_LT(threshold, 0.7);
}

}  // namespace
}  // namespace quantclaw
