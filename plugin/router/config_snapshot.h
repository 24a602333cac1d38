// The config and the budget history it uses, swapped together on reload. Tier indices change meaning
// when a reload adds, drops or reorders tiers, so each snapshot has a generation and the index maps from
// the one before it: state kept by tier index (a session's warm tier, breakers, per-tier metrics)
// follows its tier by name from one generation to the next.
#ifndef QUANTCLAW_PLUGIN_ROUTER_CONFIG_SNAPSHOT_H_
#define QUANTCLAW_PLUGIN_ROUTER_CONFIG_SNAPSHOT_H_

#include <array>
#include <cstdint>
#include <memory>

#include "policy/budget.h"
#include "router/router_config.h"
#include "router/session_table.h"

namespace quantclaw {

struct ConfigSnapshot {
  std::shared_ptr<const RouterConfig> config;
  std::shared_ptr<const BudgetHistories> budget;  // null without policy.budget
  uint64_t generation = 1;
  std::array<int, kMaxTiers> new_index_of_previous;  // -1: that tier is gone
  std::array<int, kMaxTiers> previous_index_of_new;  // -1: a new tier

  // The snapshot after `previous` (null: the first). The budget's score history carries over per group
  // (all steps, or a task type or step kind) unless the window it is kept over or the grouping changed.
  static std::shared_ptr<const ConfigSnapshot> Make(std::shared_ptr<const RouterConfig> config,
                                                    const ConfigSnapshot* previous);

  // The usual reload: the same tiers in the same places (maybe some dropped at the end).
  bool TiersUnmoved() const;

  // The session's warm tier, in this snapshot's indices: followed by name from one reload behind,
  // forgotten from further behind. The session's lock is held.
  void AdaptSession(Session* session) const;
  // Records the tier that served the session, unless the session has already seen a newer config (a
  // call that began before a reload another call of this session has seen: its index is of the older
  // config, and the session's newer knowledge stands). The session's lock is held.
  void SetLastTier(Session* session, int tier) const;
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_ROUTER_CONFIG_SNAPSHOT_H_
