#include "router/session_table.h"

#include "absl/hash/hash.h"
#include "util/strings.h"

namespace quantclaw {

SessionTable::SessionTable() = default;
SessionTable::~SessionTable() = default;

SessionTable::Shard& SessionTable::ShardFor(std::string_view id) {
  return shards_[absl::Hash<absl::string_view>()(ToAbsl(id)) % kShards];
}

void SessionTable::Unlink(Shard& shard, Session* session) {
  if (session->lru_newer) session->lru_newer->lru_older = session->lru_older;
  else shard.newest = session->lru_older;
  if (session->lru_older) session->lru_older->lru_newer = session->lru_newer;
  else shard.oldest = session->lru_newer;
  session->lru_newer = session->lru_older = nullptr;
}

void SessionTable::PushNewest(Shard& shard, Session* session) {
  session->lru_older = shard.newest;
  session->lru_newer = nullptr;
  if (shard.newest) shard.newest->lru_newer = session;
  shard.newest = session;
  if (shard.oldest == nullptr) shard.oldest = session;
}

void SessionTable::RemoveLocked(Shard& shard, Session* session) {
  Unlink(shard, session);
  auto it = shard.sessions.find(ToAbsl(session->id));
  if (it != shard.sessions.end()) shard.sessions.erase(it);  // callers may still hold a reference
  size_.fetch_sub(1, std::memory_order_relaxed);
}

void SessionTable::ExpireOldest(Shard& shard, int64_t idle_ns, int64_t now_ns, Counters* counters) {
  // Bounded work per call: the oldest few, which is where idle sessions collect.
  for (int i = 0; i < 4 && shard.oldest != nullptr && now_ns - shard.oldest->last_used_ns > idle_ns; ++i) {
    RemoveLocked(shard, shard.oldest);
    ++counters->expired;
  }
}

std::shared_ptr<Session> SessionTable::Find(std::string_view id, const SessionLimits& limits, int64_t now_ns,
                                            Counters* counters) {
  Shard& shard = ShardFor(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  // Traffic on a shard reclaims its idle sessions, a few at a time, so none lingers unbounded.
  ExpireOldest(shard, limits.idle_ns, now_ns, counters);
  auto it = shard.sessions.find(ToAbsl(id));
  if (it == shard.sessions.end()) return nullptr;
  Session* session = it->second.get();
  if (now_ns - session->last_used_ns > limits.idle_ns) {
    RemoveLocked(shard, session);
    ++counters->expired;
    return nullptr;
  }
  session->last_used_ns = now_ns;
  Unlink(shard, session);
  PushNewest(shard, session);
  return it->second;
}

std::shared_ptr<Session> SessionTable::FindOrCreate(std::string_view id, const SessionLimits& limits,
                                                    int64_t now_ns, Counters* counters) {
  std::shared_ptr<Session> found = Find(id, limits, now_ns, counters);
  if (found) return found;
  std::shared_ptr<Session> session;
  {
    Shard& shard = ShardFor(id);
    std::lock_guard<std::mutex> lock(shard.mutex);
    ExpireOldest(shard, limits.idle_ns, now_ns, counters);
    auto [it, inserted] = shard.sessions.try_emplace(std::string(id));
    if (!inserted) return it->second;  // another thread created it between the two locks
    it->second = std::make_shared<Session>();
    session = it->second;
    session->id.assign(id);
    session->last_used_ns = now_ns;
    PushNewest(shard, session.get());
    size_.fetch_add(1, std::memory_order_relaxed);
    ++counters->created;
  }
  EvictOverCapacity(limits.max_sessions, counters);
  return session;
}

void SessionTable::EvictOverCapacity(uint64_t max_sessions, Counters* counters) {
  // One shard lock at a time, never two, so no lock order can deadlock.
  while (size_.load(std::memory_order_relaxed) > max_sessions) {
    size_t oldest_shard = kShards;
    int64_t oldest_ns = INT64_MAX;
    for (size_t s = 0; s < kShards; ++s) {
      std::lock_guard<std::mutex> lock(shards_[s].mutex);
      if (shards_[s].oldest != nullptr && shards_[s].oldest->last_used_ns < oldest_ns) {
        oldest_ns = shards_[s].oldest->last_used_ns;
        oldest_shard = s;
      }
    }
    if (oldest_shard == kShards) return;
    std::lock_guard<std::mutex> lock(shards_[oldest_shard].mutex);
    Shard& shard = shards_[oldest_shard];
    if (shard.oldest == nullptr || size_.load(std::memory_order_relaxed) <= max_sessions) continue;
    RemoveLocked(shard, shard.oldest);
    ++counters->evicted;
  }
}

bool SessionTable::Erase(std::string_view id) {
  Shard& shard = ShardFor(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  auto it = shard.sessions.find(ToAbsl(id));
  if (it == shard.sessions.end()) return false;
  RemoveLocked(shard, it->second.get());
  return true;
}

size_t SessionTable::SessionFootprint(const Session& session) {
  // The shared_ptr control block sits with the object (make_shared); the slot holds key + pointer.
  size_t id_heap = session.id.capacity() > 15 ? session.id.capacity() + 1 : 0;
  return sizeof(Session) + 16 /* control block */ + id_heap +
         sizeof(std::pair<std::string, std::shared_ptr<Session>>) + 1 /* control byte */ + id_heap;
}

}  // namespace quantclaw
