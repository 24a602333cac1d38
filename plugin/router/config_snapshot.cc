#include "router/config_snapshot.h"

namespace quantclaw {

std::shared_ptr<const ConfigSnapshot> ConfigSnapshot::Make(std::shared_ptr<const RouterConfig> config,
                                                           const ConfigSnapshot* previous) {
  auto snapshot = std::make_shared<ConfigSnapshot>();
  snapshot->new_index_of_previous.fill(-1);
  snapshot->previous_index_of_new.fill(-1);
  if (previous != nullptr) {
    snapshot->generation = previous->generation + 1;
    const RouterConfig& before = *previous->config;
    for (size_t i = 0; i < config->tiers.size() && i < kMaxTiers; ++i) {
      const int j = before.FindTier(config->tiers[i].name);
      if (j >= 0 && j < static_cast<int>(kMaxTiers)) {
        snapshot->previous_index_of_new[i] = j;
        snapshot->new_index_of_previous[j] = static_cast<int>(i);
      }
    }
  }
  if (config->policy.budget) {
    snapshot->budget = std::make_shared<const BudgetHistories>(
        *config->policy.budget, previous != nullptr ? previous->budget.get() : nullptr);
  }
  snapshot->config = std::move(config);
  return snapshot;
}

bool ConfigSnapshot::TiersUnmoved() const {
  for (size_t i = 0; i < config->tiers.size(); ++i) {
    if (previous_index_of_new[i] != static_cast<int>(i)) return false;
  }
  return true;
}

void ConfigSnapshot::AdaptSession(Session* session) const {
  if (session->tier_generation >= generation) return;
  int& last = session->policy.last_tier;
  if (last >= 0) {
    last = session->tier_generation + 1 == generation && last < static_cast<int>(kMaxTiers)
               ? new_index_of_previous[last]
               : -1;
  }
  session->tier_generation = generation;
}

void ConfigSnapshot::SetLastTier(Session* session, int tier) const {
  if (session->tier_generation > generation) return;
  session->policy.last_tier = tier;
  session->tier_generation = generation;
}

}  // namespace quantclaw
