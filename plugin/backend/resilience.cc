#include "backend/resilience.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <thread>

#include "util/clock.h"
#include "util/strings.h"

namespace quantclaw {

absl::Status ResilientCaller::Call(const TierTable& tiers, const BackendConfig& backend,
                                   bool escalate_invalid_tool_calls, uint32_t first_tier, const CompletionCall& call,
                                   const SseSink* on_event, ServedCall* served, const TierCallExtras* extras) {
  size_t delivered = 0;  // events that reached the host: after the first, nothing may be retried
  absl::Status last_error;
  const bool tools_offered = call.body.contains("tools");
  for (uint32_t position = tiers.ladder_position[first_tier]; position < tiers.ladder.size(); ++position) {
    const uint32_t tier_index = tiers.ladder[position];
    const TierConfig& tier = tiers.tiers[tier_index];
    if (BreakerOpen(tier_index)) {
      Increment(metrics_->breaker_rejections_by_tier[tier_index]);
      last_error = absl::UnavailableError(
          StrCat("tier ", tier.name, ": circuit breaker open after ", backend.breaker_failures, " failed calls"));
    } else {
      bool escalate = false;
      for (uint32_t attempt = 0;; ++attempt) {
        TierCallResult result;
        // A tool call from a tier below the top is held back until it checks out, so that a broken one
        // can go to a higher tier before the host sees it.
        const bool hold = escalate_invalid_tool_calls && tools_offered && position + 1 < tiers.ladder.size();
        absl::Status status = CallTier(*http_, tier, backend, call, on_event, hold, &delivered, &result, extras);
        RecordTransport(tier_index, status, result);
        if (status.ok() && !result.invalid_tool_call.empty()) {
          CloseBreaker(tier_index);  // the tier is up; its answer was wrong
          Increment(metrics_->invalid_tool_calls);
          Increment(metrics_->tool_call_escalations);
          if (served->escalated_from < 0) served->escalated_from = static_cast<int>(tier_index);
          last_error = absl::DataLossError(StrCat("tier ", tier.name, ": ", result.invalid_tool_call));
          escalate = true;
          break;
        }
        if (status.ok()) {
          CloseBreaker(tier_index);
          served->tier = tier_index;
          served->attempts = attempt + 1;
          served->result = std::move(result);
          return absl::OkStatus();
        }
        last_error = status;
        // Only a failure the host has not seen any of, and one that another try may not repeat.
        const bool retryable = delivered == 0 && result.retryable;
        if (!retryable || attempt >= backend.retries) break;
        Increment(metrics_->retries_by_tier[tier_index]);
        Backoff(backend, attempt);
      }
      if (escalate) continue;  // an invalid tool call, held back: the step goes up one rung
      // The host stopping the stream says nothing about the tier's health.
      if (last_error.code() == absl::StatusCode::kCancelled) break;
      Increment(metrics_->call_failures_by_tier[tier_index]);
      RecordBreakerFailure(tier_index, backend);
    }
    // Failover moves the call up the ladder: only while the host has seen nothing, and only for a tier
    // that is down, not for an answer it did not like (cancellation, a response over the cap).
    const absl::StatusCode code = last_error.code();
    const bool tier_down = code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
                           code == absl::StatusCode::kDataLoss;
    if (!backend.failover || delivered > 0 || !tier_down) break;
    if (position + 1 < tiers.ladder.size()) {
      Increment(metrics_->failovers_from_tier[tier_index]);
      if (served->failover_from < 0) served->failover_from = static_cast<int>(tier_index);
    }
  }
  return last_error;
}

void ResilientCaller::RemapTiers(const std::array<int, kMaxTiers>& previous_index_of_new) {
  // Read every old value first, then store: a permutation in place would overwrite values not yet moved.
  auto permute = [&previous_index_of_new](auto* values) {
    using Value = decltype(values[0].load());
    Value old[kMaxTiers];
    for (size_t i = 0; i < kMaxTiers; ++i) old[i] = values[i].load(std::memory_order_relaxed);
    for (size_t i = 0; i < kMaxTiers; ++i) {
      const int from = previous_index_of_new[i];
      values[i].store(from >= 0 ? old[from] : Value{}, std::memory_order_relaxed);
    }
  };
  permute(consecutive_failures_);
  permute(breaker_open_until_ns_);
}

bool ResilientCaller::RecordReportedOutcome(uint32_t tier, v1::OutcomeStatus status, uint32_t http_status,
                                            const BackendConfig& backend) {
  const bool tier_failed =
      status == v1::OUTCOME_STATUS_UNAVAILABLE || status == v1::OUTCOME_STATUS_TIMEOUT ||
      (status == v1::OUTCOME_STATUS_ERROR && (http_status == 0 || http_status == 429 || http_status >= 500));
  if (tier_failed) {
    Increment(metrics_->call_failures_by_tier[tier]);
    RecordBreakerFailure(tier, backend);
  } else if (status == v1::OUTCOME_STATUS_OK) {
    CloseBreaker(tier);
  }
  return tier_failed;
}

int ResilientCaller::FirstTierLettingCallsThrough(const TierTable& tiers, uint32_t tier) const {
  for (uint32_t position = tiers.ladder_position[tier]; position < tiers.ladder.size(); ++position) {
    if (!BreakerOpen(tiers.ladder[position])) return static_cast<int>(tiers.ladder[position]);
  }
  return -1;
}

void ResilientCaller::RecordTransport(uint32_t tier, const absl::Status& status, const TierCallResult& result) {
  Increment(metrics_->http_requests_by_tier[tier]);
  Increment(metrics_->http_connections_by_tier[tier], static_cast<uint64_t>(std::max(0L, result.new_connections)));
  if (result.http2) Increment(metrics_->http2_requests_by_tier[tier]);
  if (status.code() == absl::StatusCode::kDeadlineExceeded) Increment(metrics_->timeouts_by_tier[tier]);
  if (status.code() == absl::StatusCode::kCancelled) Increment(metrics_->cancellations);
}

bool ResilientCaller::BreakerOpen(uint32_t tier) const {
  // Every decision asks: a breaker that never opened costs one load, not a clock read.
  const int64_t open_until_ns = breaker_open_until_ns_[tier].load(std::memory_order_relaxed);
  return open_until_ns != 0 && open_until_ns > MonotonicNowNs();
}

void ResilientCaller::CloseBreaker(uint32_t tier) {
  consecutive_failures_[tier].store(0, std::memory_order_relaxed);
  breaker_open_until_ns_[tier].store(0, std::memory_order_relaxed);
}

void ResilientCaller::RecordBreakerFailure(uint32_t tier, const BackendConfig& backend) {
  uint32_t failures = consecutive_failures_[tier].fetch_add(1, std::memory_order_relaxed) + 1;
  if (failures >= backend.breaker_failures) {
    // Open (or re-open after a failed half-open try): one call may try again once the time is up.
    breaker_open_until_ns_[tier].store(MonotonicNowNs() + int64_t(backend.breaker_open_ms) * 1000000,
                                       std::memory_order_relaxed);
  }
}

void ResilientCaller::Backoff(const BackendConfig& backend, uint32_t attempt) {
  thread_local std::minstd_rand random(static_cast<uint32_t>(MonotonicNowNs()) ^
                                       static_cast<uint32_t>(std::hash<std::thread::id>()(std::this_thread::get_id())));
  uint64_t ceiling =
      std::min<uint64_t>(backend.backoff_max_ms, uint64_t(backend.backoff_initial_ms) << std::min(attempt, 20u));
  if (ceiling == 0) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(random() % (ceiling + 1)));
}

}  // namespace quantclaw
