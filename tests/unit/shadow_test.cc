#include "backend/shadow.h"

#include <cmath>
#include <filesystem>
#include <latch>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "router/router_config.h"

namespace quantclaw {
namespace {

std::vector<TokenLogprob> TopK(std::initializer_list<std::pair<int64_t, double>> probabilities) {
  std::vector<TokenLogprob> list;
  for (auto [token, p] : probabilities) list.push_back({token, std::log(p)});
  return list;
}

double ExactKl(const std::vector<double>& p, const std::vector<double>& q) {
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) kl += p[i] > 0 ? p[i] * std::log(p[i] / q[i]) : 0;
  return kl;
}

TEST(TopKKl, IdenticalListsGiveZero) {
  auto p = TopK({{1, 0.5}, {2, 0.2}, {3, 0.1}});
  EXPECT_DOUBLE_EQ(TopKKl(p, p), 0.0);
  // The same entries in another order: the same distribution.
  EXPECT_NEAR(TopKKl(p, TopK({{3, 0.1}, {1, 0.5}, {2, 0.2}})), 0.0, 1e-12);
}

TEST(TopKKl, ListsThatHoldAllTheMassGiveTheExactKl) {
  auto p = TopK({{1, 0.7}, {2, 0.2}, {3, 0.1}});
  auto q = TopK({{1, 0.5}, {2, 0.3}, {3, 0.2}});
  EXPECT_NEAR(TopKKl(p, q), ExactKl({0.7, 0.2, 0.1}, {0.5, 0.3, 0.2}), 1e-9);
}

TEST(TopKKl, DisjointTopKIsLarge) {
  // Each side puts 0.9 on tokens the other did not list: the other side can give them at most its
  // least listed probability.
  auto p = TopK({{1, 0.6}, {2, 0.3}});
  auto q = TopK({{3, 0.6}, {4, 0.3}});
  const double kl = TopKKl(p, q);
  EXPECT_GT(kl, 1.0);
  EXPECT_TRUE(std::isfinite(kl));
}

TEST(TopKKl, TheTailIsOneBucketPerSide) {
  // Same top-2 and same tail mass: nothing to tell apart.
  EXPECT_NEAR(TopKKl(TopK({{1, 0.5}, {2, 0.3}}), TopK({{1, 0.5}, {2, 0.3}})), 0.0, 1e-12);
  // Same top-2 probabilities' order but tails of different mass: the "other" buckets differ, and the
  // estimate is the KL of the coarse-grained distributions {a, b, other}.
  EXPECT_NEAR(TopKKl(TopK({{1, 0.6}, {2, 0.3}}), TopK({{1, 0.5}, {2, 0.2}})),
              ExactKl({0.6, 0.3, 0.1}, {0.5, 0.2, 0.3}), 1e-9);
  // Coarse-graining only loses divergence: over five tokens whose top-2 agree, the estimate is at most
  // the KL of the full distributions.
  std::vector<double> full_p = {0.5, 0.3, 0.15, 0.04, 0.01}, full_q = {0.45, 0.3, 0.05, 0.1, 0.1};
  const double estimate = TopKKl(TopK({{0, 0.5}, {1, 0.3}}), TopK({{0, 0.45}, {1, 0.3}}));
  EXPECT_GT(estimate, 0.0);
  EXPECT_LE(estimate, ExactKl(full_p, full_q));
}

TEST(TopKKl, AnUnlistedTokenGetsAtMostTheLeastListedProbability) {
  // q lists only token 1 at 0.5; p's token 2 at 0.45 is in q's tail of 0.5, shared with "other" and
  // capped at 0.5: 0.25 each. p lists both; its tail of 0.05 is all "other".
  auto p = TopK({{1, 0.5}, {2, 0.45}});
  auto q = TopK({{1, 0.5}});
  EXPECT_NEAR(TopKKl(p, q), ExactKl({0.5, 0.45, 0.05}, {0.5, 0.25, 0.25}), 1e-9);
  // A cap that bites: q's least listed is 0.1 and its tail 0.6 over two unlisted tokens and "other":
  // 0.1 each, the other 0.4 to "other". p: its tail of 0.1 split between token 4 and "other".
  auto p2 = TopK({{1, 0.3}, {2, 0.3}, {3, 0.3}});
  auto q2 = TopK({{1, 0.3}, {4, 0.1}});
  EXPECT_NEAR(TopKKl(p2, q2), ExactKl({0.3, 0.3, 0.3, 0.05, 0.05}, {0.3, 0.1, 0.1, 0.1, 0.4}), 1e-9);
}

TEST(TopKKl, SymmetricCasesGiveEqualValues) {
  // Mirror images under swapping two tokens: the same divergence either way.
  auto a = TopK({{1, 0.6}, {2, 0.3}});
  auto b = TopK({{1, 0.3}, {2, 0.6}});
  EXPECT_NEAR(TopKKl(a, b), TopKKl(b, a), 1e-12);
  EXPECT_GT(TopKKl(a, b), 0.1);
  // Relabelling tokens changes nothing.
  EXPECT_NEAR(TopKKl(TopK({{7, 0.6}, {9, 0.3}}), TopK({{7, 0.3}, {9, 0.6}})), TopKKl(a, b), 1e-12);
}

TEST(TopKKl, NeverNegativeAndAlwaysFinite) {
  // Rounding that makes a list sum past 1, a list that holds everything, an empty one.
  std::vector<TokenLogprob> over = {{1, std::log(0.7)}, {2, std::log(0.31)}};
  auto all = TopK({{1, 1.0}});
  auto other = TopK({{2, 0.9}});
  for (const auto& [p, q] : std::vector<std::pair<std::vector<TokenLogprob>, std::vector<TokenLogprob>>>{
           {over, all}, {all, other}, {other, all}, {{}, all}, {all, {}}}) {
    const double kl = TopKKl(p, q);
    EXPECT_GE(kl, 0.0);
    EXPECT_TRUE(std::isfinite(kl));
  }
}

TEST(ShadowDrawn, IsDeterministicAndHoldsItsRate) {
  EXPECT_FALSE(ShadowDrawn("s", 3, 0.0));
  EXPECT_TRUE(ShadowDrawn("s", 3, 1.0));
  int drawn = 0;
  for (uint64_t step = 0; step < 20000; ++step) {
    const bool first = ShadowDrawn("session-" + std::to_string(step % 50), step, 0.25);
    EXPECT_EQ(first, ShadowDrawn("session-" + std::to_string(step % 50), step, 0.25));  // a replay draws alike
    drawn += first;
  }
  EXPECT_NEAR(drawn / 20000.0, 0.25, 0.02);
  // A step drawn at a rate stays drawn at a higher one.
  for (uint64_t step = 0; step < 1000; ++step) {
    if (ShadowDrawn("s", step, 0.1)) {
      EXPECT_TRUE(ShadowDrawn("s", step, 0.5));
    }
  }
}

std::unique_ptr<ShadowJob> Job(const std::shared_ptr<const ShadowConfig>& shadow) {
  auto job = std::make_unique<ShadowJob>();
  job->shadow = shadow;
  return job;
}

TEST(ShadowSampler, AFullQueueDropsAndCountsWithoutWaiting) {
  RouterMetrics metrics;
  auto shadow = std::make_shared<ShadowConfig>();
  shadow->queue = 3;
  std::latch started(1);
  std::latch release(1);
  std::atomic<int> scored{0};
  {
    ShadowSampler sampler(&metrics, [&](const ShadowJob&, const std::atomic<bool>&, ShadowScore*) {
      if (scored.fetch_add(1) == 0) {
        started.count_down();
        release.wait();
      }
      return absl::CancelledError("not scored in this test");
    });
    ASSERT_TRUE(sampler.Enqueue(Job(shadow)));
    started.wait();  // the worker holds the first; three more fill the queue
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(sampler.Enqueue(Job(shadow)));
    EXPECT_FALSE(sampler.Enqueue(Job(shadow)));
    EXPECT_FALSE(sampler.Enqueue(Job(shadow)));
    EXPECT_EQ(metrics.shadow_sampled.load(), 6u);
    EXPECT_EQ(metrics.shadow_dropped.load(), 2u);
    release.count_down();
    EXPECT_TRUE(sampler.WaitIdle(std::chrono::seconds(10)));
    EXPECT_EQ(scored.load(), 4);
  }
  EXPECT_EQ(metrics.shadow_scored.load(), 0u);  // cancelled: neither scored nor failed
  EXPECT_EQ(metrics.shadow_failed.load(), 0u);
}

TEST(ShadowSampler, StopDropsWhatWaitsAndEndsTheStepBeingScored) {
  RouterMetrics metrics;
  auto shadow = std::make_shared<ShadowConfig>();
  std::latch started(1);
  ShadowSampler sampler(&metrics, [&](const ShadowJob&, const std::atomic<bool>& stopping, ShadowScore*) {
    started.count_down();
    while (!stopping.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return absl::CancelledError("stopping");
  });
  ASSERT_TRUE(sampler.Enqueue(Job(shadow)));
  started.wait();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(sampler.Enqueue(Job(shadow)));
  const auto begin = std::chrono::steady_clock::now();
  sampler.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(2));
  EXPECT_EQ(metrics.shadow_dropped.load(), 5u);
  EXPECT_FALSE(sampler.Enqueue(Job(shadow)));  // after Stop, nothing is queued
  EXPECT_EQ(metrics.shadow_dropped.load(), 6u);
}

TEST(ShadowSampler, ScoredStepsAreLabelledAndWritten) {
  RouterMetrics metrics;
  const std::string directory = testing::TempDir() + "/shadow-sampler-" + std::to_string(getpid());
  auto shadow = std::make_shared<ShadowConfig>();
  shadow->trace_path = directory;
  shadow->kl_threshold = 0.1;
  auto tiers = std::make_shared<TierTable>();
  tiers->tiers.resize(2);
  tiers->tiers[0].name = "low";
  tiers->tiers[1].name = "high";
  {
    ShadowSampler sampler(&metrics, [](const ShadowJob& job, const std::atomic<bool>&, ShadowScore* score) {
      score->kl = job.record.step_index() == 1 ? 0.5 : 0.01;
      score->positions = 4;
      return absl::OkStatus();
    });
    for (uint64_t step : {1, 2}) {
      auto job = Job(shadow);
      job->tiers = tiers;
      job->reference_tier = 1;
      job->low_tier = 0;
      job->record.set_step_index(step);
      ASSERT_TRUE(sampler.Enqueue(std::move(job)));
    }
    ASSERT_TRUE(sampler.WaitIdle(std::chrono::seconds(10)));
  }
  EXPECT_EQ(metrics.shadow_scored.load(), 2u);
  EXPECT_EQ(metrics.trace_records_written.load(), 2u);
  auto files = ListTraceFiles(directory);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 1u);
  auto reader = TraceReader::Open(files->front());
  ASSERT_TRUE(reader.ok()) << reader.status();
  v1::TraceRecord record;
  std::vector<std::pair<uint64_t, bool>> labels;
  while (reader->Next(&record)) {
    EXPECT_EQ(record.reference_tier(), "high");
    EXPECT_EQ(record.low_tier(), "low");
    EXPECT_EQ(record.scored_tokens(), 4u);
    labels.emplace_back(record.step_index(), record.needs_high_precision());
  }
  EXPECT_EQ(labels, (std::vector<std::pair<uint64_t, bool>>{{1, true}, {2, false}}));
  std::filesystem::remove_all(directory);
}

TEST(ShadowConfig, DefaultsRangesAndTheTracePath) {
  const std::string tiers = R"("tiers":[{"name":"a","format":"bf16","base_url":"http://h/v1","model":"m"}])";
  ConfigErrors errors;
  auto config = ParseRouterConfig("{" + tiers + R"(,"shadow":{"rate":0.5,"trace_path":"t/"}})", &errors);
  ASSERT_TRUE(config);
  EXPECT_EQ(config->shadow.rate, 0.5);
  EXPECT_EQ(config->shadow.top_logprobs, 20u);
  EXPECT_EQ(config->shadow.action_tokens, 16u);
  EXPECT_EQ(config->shadow.queue, 64u);
  EXPECT_EQ(config->shadow.trace_path, "t/");
  config = ParseRouterConfig("{" + tiers + "}", &errors);
  ASSERT_TRUE(config);
  EXPECT_FALSE(config->shadow.enabled());

  EXPECT_FALSE(ParseRouterConfig("{" + tiers + R"(,"shadow":{"rate":0.1}})", &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/shadow/trace_path");
  EXPECT_FALSE(ParseRouterConfig("{" + tiers +
                                     R"(,"shadow":{"rate":2,"top_logprobs":21,"action_tokens":0,"queue":0,)"
                                     R"("kl_threshold":-1,"trace_path":"t","acton_tokens":3}})",
                                 &errors));
  std::vector<std::string> pointers;
  for (const ConfigError& error : errors) pointers.push_back(error.pointer);
  EXPECT_EQ(pointers, (std::vector<std::string>{"/shadow/acton_tokens", "/shadow/rate", "/shadow/top_logprobs",
                                                "/shadow/action_tokens", "/shadow/queue", "/shadow/kl_threshold"}));
}

}  // namespace
}  // namespace quantclaw
