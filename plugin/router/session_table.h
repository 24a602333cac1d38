// Sessions by id: created on first sight, capped in number (the least recently used is evicted) and
// expired after an idle time. Sharded so that threads serving different sessions rarely meet on a lock.
#ifndef QUANTCLAW_PLUGIN_ROUTER_SESSION_TABLE_H_
#define QUANTCLAW_PLUGIN_ROUTER_SESSION_TABLE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "features/features.h"
#include "policy/decision.h"
#include "util/clock.h"

namespace quantclaw {

struct Session {
  std::mutex mutex;  // serialises one session's calls even if a host overlaps them by mistake
  std::string id;
  SessionFeatures features;
  SessionPolicyState policy;
  uint32_t messages_seen = 0;  // qc_complete: the full request's messages already fed as steps
  uint64_t tier_generation = 0;  // the config generation policy.last_tier indexes (Router::Snapshot)
  // Shadow sampling for hosts that make their own calls: qc_choose_precision drew step shadow_step, and
  // its outcome (which brings the request and the action) has not come yet. Fixed-size, like the rest
  // of the session: the text arrives with the outcome and goes straight into the queued job.
  bool shadow_pending = false;
  uint64_t shadow_step = 0;
  RoutingDecision shadow_decision;  // as returned for that step, for its trace record
  uint64_t shadow_generation = 0;   // the config generation whose tier indices shadow_decision holds
  // Guarded by the shard's mutex:
  int64_t last_used_ns = 0;
  Session* lru_newer = nullptr;
  Session* lru_older = nullptr;
};

struct SessionLimits {
  uint64_t max_sessions;
  int64_t idle_ns;
};

class SessionTable {
 public:
  struct Counters {
    uint64_t created = 0;
    uint64_t evicted = 0;
    uint64_t expired = 0;
  };

  SessionTable();
  ~SessionTable();

  // The session, created when absent or expired. `created` tells which.
  std::shared_ptr<Session> FindOrCreate(std::string_view id, const SessionLimits& limits, int64_t now_ns,
                                        Counters* counters);
  // The session, or null when absent or expired (an expired one is removed).
  std::shared_ptr<Session> Find(std::string_view id, const SessionLimits& limits, int64_t now_ns,
                                Counters* counters);
  bool Erase(std::string_view id);
  size_t size() const { return size_.load(std::memory_order_relaxed); }

  // Approximate bytes a session holds, for the per-session budget (sizeof plus its id on the heap
  // plus the table's slot).
  static size_t SessionFootprint(const Session& session);

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    std::mutex mutex;
    absl::flat_hash_map<std::string, std::shared_ptr<Session>> sessions;
    Session* newest = nullptr;
    Session* oldest = nullptr;
  };

  Shard& ShardFor(std::string_view id);
  static void Unlink(Shard& shard, Session* session);
  static void PushNewest(Shard& shard, Session* session);
  void RemoveLocked(Shard& shard, Session* session);
  void EvictOverCapacity(uint64_t max_sessions, Counters* counters);
  void ExpireOldest(Shard& shard, int64_t idle_ns, int64_t now_ns, Counters* counters);

  Shard shards_[kShards];
  std::atomic<size_t> size_{0};
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_ROUTER_SESSION_TABLE_H_
