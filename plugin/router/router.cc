#include "router/router.h"

#include <bitset>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <random>
#include <thread>
#include <cstring>

#include <boost/json.hpp>

#include "backend/tool_calls.h"
#include "util/hash.h"
#include "util/strings.h"
#include "quantclaw/v1/outcome.pb.h"
#include "quantclaw/v1/step.pb.h"

namespace quantclaw {
namespace {

SessionLimits LimitsOf(const RouterConfig& config) {
  return {config.limits.max_sessions, static_cast<int64_t>(config.limits.session_idle_seconds * 1e9)};
}

void Copy(std::string_view from, char* to, size_t capacity) {
  size_t length = std::min(from.size(), capacity - 1);
  std::memcpy(to, from.data(), length);
  to[length] = '\0';
}

}  // namespace

Router::Router(std::shared_ptr<const Snapshot> snapshot)
    : snapshot_(snapshot), max_message_bytes_(snapshot->config->limits.max_message_bytes) {}

std::shared_ptr<const Router::Snapshot> Router::MakeSnapshot(std::shared_ptr<const RouterConfig> config,
                                                            const Snapshot* previous) {
  auto snapshot = std::make_shared<Snapshot>();
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
    // Keep the score history across a reload unless the window it is kept over changed.
    if (previous != nullptr && previous->budget != nullptr &&
        previous->budget->window() == config->policy.budget->window) {
      snapshot->budget = previous->budget;
    } else {
      snapshot->budget = std::make_shared<BudgetQuantile>(config->policy.budget->window);
    }
  }
  snapshot->config = std::move(config);
  return snapshot;
}

absl::StatusOr<std::unique_ptr<Router>> Router::Create(std::string_view config_json) {
  auto config = LoadRouterConfig(config_json);
  if (!config.ok()) return config.status();
  return std::unique_ptr<Router>(new Router(MakeSnapshot(*std::move(config), nullptr)));
}

absl::Status Router::Reload(std::string_view config_json) {
  auto config = LoadRouterConfig(config_json);
  if (!config.ok()) return config.status();
  std::lock_guard<std::mutex> reloading(reload_mutex_);  // one reload at a time: generations stay in order
  max_message_bytes_.store((*config)->limits.max_message_bytes, std::memory_order_relaxed);
  auto previous = snapshot();
  auto next = MakeSnapshot(*std::move(config), previous.get());
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    // Calls still on the old snapshot may count a few events under the old indices meanwhile.
    RemapTierState(*next);
    snapshot_.swap(next);
  }
  // `next` now holds the old snapshot; it is released here, outside the lock.
  Increment(metrics_.config_reloads);
  return absl::OkStatus();
}

std::shared_ptr<const RouterConfig> Router::config() const { return snapshot()->config; }

absl::Status Router::ValidateStep(const RouterConfig& config, const v1::Step& step) const {
  const std::string& id = step.session_id();
  if (id.empty()) return absl::InvalidArgumentError("step.session_id is empty");
  if (id.size() > kMaxSessionIdBytes) {
    return absl::InvalidArgumentError(StrCat("step.session_id is ", id.size(), " bytes; at most ", kMaxSessionIdBytes));
  }
  const std::string& force_tier = step.hints().force_tier();
  if (!force_tier.empty() && config.FindTier(force_tier) < 0) {
    return absl::InvalidArgumentError(StrCat("step.hints.force_tier names no tier: \"", force_tier, "\""));
  }
  const std::string& task_type_hint = step.hints().task_type();
  const QuantClawScorer* quantclaw = config.quantclaw_scorer();
  if (!task_type_hint.empty() && quantclaw != nullptr && quantclaw->detector->FindTaskType(task_type_hint) < 0) {
    return absl::InvalidArgumentError(
        StrCat("step.hints.task_type names no task type of the quantclaw scorer: \"", task_type_hint, "\""));
  }
  return absl::OkStatus();
}

std::shared_ptr<Session> Router::SessionFor(std::string_view id, const RouterConfig& config) {
  SessionTable::Counters counters;
  std::shared_ptr<Session> session = sessions_.FindOrCreate(id, LimitsOf(config), MonotonicNowNs(), &counters);
  Increment(metrics_.sessions_created, counters.created);
  Increment(metrics_.sessions_evicted, counters.evicted);
  Increment(metrics_.sessions_expired, counters.expired);
  return session;
}

absl::Status Router::ApplyStepLocked(const RouterConfig& config, const v1::Step& step, Session* session) {
  SessionFeatures& features = session->features;
  if (step.has_step_index() && features.steps_seen > 0 && step.step_index() <= features.step_index) {
    return absl::FailedPreconditionError(StrCat("step_index ", step.step_index(), " of session \"", step.session_id(),
                                                "\" is not after the last one seen (", features.step_index,
                                                "); steps carry only new messages, in order"));
  }
  std::string prompt;
  bool new_turn = UpdateFeatures(step, &features, &prompt);
  SessionPolicyState& policy = session->policy;
  const std::string& task_type_hint = step.hints().task_type();
  if (!task_type_hint.empty()) {
    policy.task_type.Assign(task_type_hint);
    policy.task_type_hinted = true;
  } else if (new_turn) {
    ClassifyTurn(config, prompt, &policy);
    const QuantClawScorer* quantclaw = config.quantclaw_scorer();
    if (policy.task_type.empty() && quantclaw != nullptr && quantclaw->judge) {
      // Only this session waits on the judge (its own lock); other sessions go on.
      std::string judged = AskJudge(*quantclaw, prompt);
      if (!judged.empty()) {
        policy.task_type.Assign(judged);
        policy.task_type_from_judge = true;
      }
    }
  }
  policy.force_tier.Assign(step.hints().force_tier());
  Increment(metrics_.steps);
  return absl::OkStatus();
}

void Router::AdaptSessionLocked(const Snapshot& current, Session* session) {
  if (session->tier_generation >= current.generation) return;
  int& last = session->policy.last_tier;
  if (last >= 0) {
    // One reload behind: follow the tier by name. Further behind: the warm tier is forgotten.
    last = session->tier_generation + 1 == current.generation && last < static_cast<int>(kMaxTiers)
               ? current.new_index_of_previous[last]
               : -1;
  }
  session->tier_generation = current.generation;
}

void Router::SetLastTierLocked(const Snapshot& current, Session* session, int tier) {
  // A call that began before a reload another call of this session has already seen: its index is of
  // the older config, and the session's newer knowledge stands.
  if (session->tier_generation > current.generation) return;
  session->policy.last_tier = tier;
  session->tier_generation = current.generation;
}

// Telemetry keeps a slot per tier position without knowing the config; every tier needs one.
static_assert(kMaxTiers <= kMaxTierSlots);

void Router::RemapTierState(const Snapshot& next) {
  const auto& from = next.previous_index_of_new;
  bool unmoved = true;  // the usual reload: the same tiers in the same places (maybe some dropped at the end)
  for (size_t i = 0; i < next.config->tiers.size(); ++i) unmoved = unmoved && from[i] == static_cast<int>(i);
  if (unmoved) return;
  // Read every old value first, then store: a permutation in place would overwrite values not yet moved.
  auto permute = [&from](auto* values) {
    using Value = decltype(values[0].load());
    Value old[kMaxTiers];
    for (size_t i = 0; i < kMaxTiers; ++i) old[i] = values[i].load(std::memory_order_relaxed);
    for (size_t i = 0; i < kMaxTiers; ++i) values[i].store(from[i] >= 0 ? old[from[i]] : Value{}, std::memory_order_relaxed);
  };
  permute(consecutive_failures_);
  permute(breaker_open_until_ns_);
  metrics_.RemapTiers(from);
}

void Router::DecideLocked(const Snapshot& current, std::string_view session_id, Session* session, Choice* choice) {
  const RouterConfig& config = *current.config;
  const double tie_draw = UnitInterval(Mix64(Fnv1a(session_id) ^ session->features.step_index));
  AdaptSessionLocked(current, session);
  // A call holding an older config than the session has seen decides without the warm tier, whose index
  // belongs to the newer config, and leaves the session's own as it was.
  const bool older_config = session->tier_generation > current.generation;
  const int warm = session->policy.last_tier;
  if (older_config) session->policy.last_tier = -1;
  Decide(config, session->features, &session->policy, current.budget.get(), tie_draw, &choice->decision);
  if (older_config) session->policy.last_tier = warm;
  choice->step_index = session->features.step_index;
  choice->step_kind = session->features.step_kind;
  Copy(config.tiers[choice->decision.tier].name, choice->tier_name, sizeof(choice->tier_name));

  const uint32_t flags = choice->decision.flags;
  Increment(metrics_.decisions);
  Increment(metrics_.decisions_by_tier[choice->decision.tier]);
  if (flags & kDecisionForced) Increment(metrics_.forced);
  if (flags & kDecisionEscalated) Increment(metrics_.escalated);
  if (flags & kDecisionBudgetHeld) Increment(metrics_.budget_held);
  if (flags & kDecisionDefaulted) Increment(metrics_.defaulted);
  if (flags & kDecisionPhaseSplit) Increment(metrics_.phase_split);
  if (flags & kDecisionCacheHeld) Increment(metrics_.cache_held);
}

absl::Status Router::OnStep(const v1::Step& step) {
  auto current = snapshot();
  const RouterConfig& config = *current->config;
  // Validate everything before touching the session, so a rejected step changes nothing.
  if (absl::Status status = ValidateStep(config, step); !status.ok()) return status;
  std::shared_ptr<Session> session = SessionFor(step.session_id(), config);
  std::lock_guard<std::mutex> lock(session->mutex);
  return ApplyStepLocked(config, step, session.get());
}

absl::Status Router::Choose(std::string_view session_id, Choice* choice) {
  auto current = snapshot();
  const RouterConfig& config = *current->config;
  SessionTable::Counters counters;
  std::shared_ptr<Session> session = sessions_.Find(session_id, LimitsOf(config), MonotonicNowNs(), &counters);
  Increment(metrics_.sessions_expired, counters.expired);
  if (session == nullptr) {
    return absl::NotFoundError(StrCat("unknown session \"", session_id.substr(0, kMaxSessionIdBytes),
                                      "\": no qc_on_step yet, ended, evicted or expired"));
  }
  std::lock_guard<std::mutex> lock(session->mutex);
  DecideLocked(*current, session_id, session.get(), choice);
  return absl::OkStatus();
}

namespace {

std::string JoinUrl(std::string_view base, std::string_view path) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return StrCat(base, path);
}

}  // namespace

absl::Status Router::Complete(const CompletionCall& call, const SseSink* on_event, std::string* response,
                              Choice* choice) {
  auto current = snapshot();
  const RouterConfig& config = *current->config;
  v1::Step step;
  // The id and hints are checked before the session is touched; the messages wait for the lock,
  // which says how many of them are new.
  step.set_session_id(call.session_id);
  step.mutable_hints()->set_task_type(call.task_type);
  step.mutable_hints()->set_force_tier(call.force_tier);
  if (absl::Status status = ValidateStep(config, step); !status.ok()) return status;
  std::shared_ptr<Session> session = SessionFor(call.session_id, config);
  {
    std::lock_guard<std::mutex> lock(session->mutex);
    step.Clear();
    StepFromRequest(call, session->messages_seen, &step);
    if (absl::Status status = ApplyStepLocked(config, step, session.get()); !status.ok()) return status;
    if (const boost::json::value* messages = call.body.if_contains("messages"); messages && messages->is_array()) {
      session->messages_seen = static_cast<uint32_t>(messages->get_array().size());
    }
    DecideLocked(*current, call.session_id, session.get(), choice);
  }
  // The session is free again while the tier answers: the next step's bookkeeping is the host's call.
  const BackendConfig& backend = config.backend;
  size_t delivered = 0;  // events that reached the host: after the first, nothing may be retried
  absl::Status last_error;
  uint32_t tier_index = choice->decision.tier;
  int failover_from = -1;
  int escalated_from = -1;
  const bool tools_offered = call.body.contains("tools");
  for (uint32_t position = config.ladder_position[tier_index]; position < config.ladder.size(); ++position) {
    tier_index = config.ladder[position];
    const TierConfig& tier = config.tiers[tier_index];
    if (BreakerOpen(tier_index)) {
      Increment(metrics_.breaker_rejections_by_tier[tier_index]);
      last_error = absl::UnavailableError(StrCat("tier ", tier.name, ": circuit breaker open after ",
                                                 backend.breaker_failures, " failed calls"));
    } else {
      bool escalate = false;
      for (uint32_t attempt = 0;; ++attempt) {
        CallResult result;
        // A tool call from a tier below the top is held back until it checks out, so that a broken one
        // can go to a higher tier before the host sees it.
        const bool hold = config.policy.escalate_on_invalid_tool_call && tools_offered &&
                          position + 1 < config.ladder.size();
        absl::Status status = CallTier(config, tier, call, on_event, hold, &delivered, &result);
        RecordTransport(tier_index, status, result);
        if (status.ok() && !result.invalid_tool_call.empty()) {
          CloseBreaker(tier_index);  // the tier is up; its answer was wrong
          Increment(metrics_.invalid_tool_calls);
          Increment(metrics_.tool_call_escalations);
          if (escalated_from < 0) escalated_from = static_cast<int>(tier_index);
          last_error = absl::DataLossError(StrCat("tier ", tier.name, ": ", result.invalid_tool_call));
          escalate = true;
          break;
        }
        if (status.ok()) {
          CloseBreaker(tier_index);
          if (tier_index != choice->decision.tier) {
            // Failover or escalation served it elsewhere: that tier's cache now holds the session.
            std::lock_guard<std::mutex> lock(session->mutex);
            SetLastTierLocked(*current, session.get(), static_cast<int>(tier_index));
          }
          metrics_.RecordCall(tier_index, result.latency_ms, result.first_byte_ms, result.usage.prompt_tokens,
                              result.usage.cached_tokens, result.usage.completion_tokens);
          boost::json::object extra{{"tier", tier.name},
                                    {"tier_index", tier_index},
                                    {"step_index", choice->step_index},
                                    {"reason", std::string_view(choice->decision.reason)},
                                    {"time_to_first_byte_ms", result.first_byte_ms},
                                    {"latency_ms", result.latency_ms},
                                    {"attempts", attempt + 1}};
          if (failover_from >= 0) extra["failover_from"] = config.tiers[failover_from].name;
          if (escalated_from >= 0) extra["escalated_from"] = config.tiers[escalated_from].name;
          result.document.get_object()["quantclaw"] = std::move(extra);
          *response = boost::json::serialize(result.document);
          return absl::OkStatus();
        }
        last_error = status;
        // Only a failure the host has not seen any of, and one that another try may not repeat.
        const bool retryable = delivered == 0 && result.retryable;
        if (!retryable || attempt >= backend.retries) break;
        Increment(metrics_.retries_by_tier[tier_index]);
        Backoff(backend, attempt);
      }
      if (escalate) continue;  // an invalid tool call, held back: the step goes up one rung
      Increment(metrics_.call_failures_by_tier[tier_index]);
      RecordBreakerFailure(tier_index, backend);
    }
    // Failover moves the call up the ladder: only while the host has seen nothing, and only for a tier
    // that is down, not for an answer it did not like (cancellation, a response over the cap).
    const absl::StatusCode code = last_error.code();
    const bool tier_down = code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
                           code == absl::StatusCode::kDataLoss;
    if (!backend.failover || delivered > 0 || !tier_down) break;
    if (position + 1 < config.ladder.size()) {
      Increment(metrics_.failovers_from_tier[tier_index]);
      if (failover_from < 0) failover_from = static_cast<int>(tier_index);
    }
  }
  return last_error;
}

std::string Router::AskJudge(const QuantClawScorer& scorer, std::string_view prompt) {
  const JudgeConfig& judge = *scorer.judge;
  const uint64_t key = Mix64(Fnv1a(prompt) ^ Fnv1a(judge.model));
  const int64_t now = MonotonicNowNs();
  {
    std::lock_guard<std::mutex> lock(judge_mutex_);
    auto it = judge_cache_.find(key);
    if (it != judge_cache_.end() && it->second.expires_ns > now) {
      Increment(metrics_.judge_cache_hits);
      return it->second.task_type;
    }
  }
  Increment(metrics_.judge_calls);
  constexpr size_t kMaxPromptBytes = 8192;  // the start of a prompt says what it asks
  boost::json::object body{
      {"model", judge.model},
      {"temperature", 0},
      {"max_tokens", 64},
      {"messages", boost::json::array{
                       boost::json::object{{"role", "system"}, {"content", judge.system_prompt}},
                       boost::json::object{{"role", "user"}, {"content", prompt.substr(0, kMaxPromptBytes)}}}}};
  HttpRequest request;
  request.url = judge.url;
  request.body = boost::json::serialize(body);
  request.timeouts = {std::min<uint32_t>(judge.timeout_ms, 2000), judge.timeout_ms, judge.timeout_ms};
  request.max_response_bytes = 1u << 20;
  if (!judge.api_key.empty()) request.headers.push_back(StrCat("Authorization: Bearer ", judge.api_key));
  HttpResponse http;
  std::string answer;
  if (http_.Post(request, nullptr, &http).ok() && http.status == 200) {
    boost::system::error_code ec;
    boost::json::value document = boost::json::parse(http.body, ec);
    const boost::json::value* content = nullptr;
    if (!ec) {
      boost::system::error_code pointer_ec;
      content = document.find_pointer("/choices/0/message/content", pointer_ec);
    }
    if (content != nullptr && content->is_string()) {
      // The answer is a JSON object, possibly wrapped in prose or a code fence.
      std::string_view text = content->get_string();
      size_t open = text.find('{'), close = text.rfind('}');
      if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
        boost::json::value parsed = boost::json::parse(text.substr(open, close - open + 1), ec);
        const boost::json::value* id = ec || !parsed.is_object() ? nullptr : parsed.get_object().if_contains("taskTypeId");
        if (id != nullptr && id->is_string() && scorer.detector->FindTaskType(std::string_view(id->get_string())) >= 0) {
          answer = id->get_string();
        }
      }
    }
  }
  if (answer.empty()) Increment(metrics_.judge_failures);
  std::lock_guard<std::mutex> lock(judge_mutex_);
  if (judge_cache_.size() >= 4096) judge_cache_.clear();  // crude but bounded; answers are cheap to refetch
  const int64_t ttl_ns = answer.empty() ? std::min<int64_t>(int64_t(judge.cache_ttl_ms), 30000) * 1000000
                                        : int64_t(judge.cache_ttl_ms) * 1000000;
  judge_cache_[key] = JudgeAnswer{answer, now + ttl_ns};
  return answer;
}

void Router::RecordTransport(uint32_t tier, const absl::Status& status, const CallResult& result) {
  Increment(metrics_.http_requests_by_tier[tier]);
  Increment(metrics_.http_connections_by_tier[tier], static_cast<uint64_t>(std::max(0L, result.new_connections)));
  if (result.http2) Increment(metrics_.http2_requests_by_tier[tier]);
  if (status.code() == absl::StatusCode::kDeadlineExceeded) Increment(metrics_.timeouts_by_tier[tier]);
  if (status.code() == absl::StatusCode::kCancelled) Increment(metrics_.cancellations);
}

bool Router::BreakerOpen(uint32_t tier) const {
  return breaker_open_until_ns_[tier].load(std::memory_order_relaxed) > MonotonicNowNs();
}

void Router::CloseBreaker(uint32_t tier) {
  consecutive_failures_[tier].store(0, std::memory_order_relaxed);
  breaker_open_until_ns_[tier].store(0, std::memory_order_relaxed);
}

void Router::RecordBreakerFailure(uint32_t tier, const BackendConfig& backend) {
  uint32_t failures = consecutive_failures_[tier].fetch_add(1, std::memory_order_relaxed) + 1;
  if (failures >= backend.breaker_failures) {
    // Open (or re-open after a failed half-open try): one call may try again once the time is up.
    breaker_open_until_ns_[tier].store(MonotonicNowNs() + int64_t(backend.breaker_open_ms) * 1000000,
                                       std::memory_order_relaxed);
  }
}

void Router::Backoff(const BackendConfig& backend, uint32_t attempt) {
  thread_local std::minstd_rand random(static_cast<uint32_t>(MonotonicNowNs()) ^
                                       static_cast<uint32_t>(std::hash<std::thread::id>()(std::this_thread::get_id())));
  uint64_t ceiling = std::min<uint64_t>(backend.backoff_max_ms, uint64_t(backend.backoff_initial_ms) << std::min(attempt, 20u));
  if (ceiling == 0) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(random() % (ceiling + 1)));
}

absl::Status Router::CallTier(const RouterConfig& config, const TierConfig& tier, const CompletionCall& call,
                              const SseSink* on_event, bool hold_tool_calls, size_t* delivered, CallResult* result) {
  const bool streaming = on_event != nullptr;
  boost::json::object body = call.body;
  body["model"] = tier.model;
  body["stream"] = streaming;
  if (streaming) {
    body["stream_options"] = boost::json::object{{"include_usage", true}};
  } else {
    body.erase("stream_options");
  }
  HttpRequest request;
  request.url = JoinUrl(tier.base_url, call.chat ? "/chat/completions" : "/completions");
  request.body = boost::json::serialize(body);
  request.timeouts = {config.backend.connect_timeout_ms, config.backend.first_byte_timeout_ms,
                      config.backend.total_timeout_ms};
  request.max_response_bytes = config.backend.max_response_bytes;
  if (!tier.api_key_env.empty()) {
    // Read at call time so a rotated key applies; never logged, never in an error message.
    if (const char* key = std::getenv(tier.api_key_env.c_str()); key != nullptr && *key != '\0') {
      request.headers.push_back(StrCat("Authorization: Bearer ", key));
    }
  }

  StreamAggregator aggregator(call.chat);
  absl::Status stream_error;
  std::vector<std::string> held;  // tool-call events, passed on once the tool call checks out
  SseSink sink = [&](std::string_view event) {
    stream_error = aggregator.Add(event);
    if (!stream_error.ok()) return false;
    if (hold_tool_calls && (aggregator.last_had_tool_calls() || !held.empty())) {
      held.emplace_back(event);
      return true;
    }
    ++*delivered;
    return (*on_event)(event);
  };
  HttpResponse http;
  absl::Status status = http_.Post(request, streaming ? &sink : nullptr, &http);
  result->latency_ms = http.total_ms;
  result->first_byte_ms = http.first_byte_ms;
  result->new_connections = http.new_connections;
  result->http2 = http.http2;
  if (!stream_error.ok()) return absl::DataLossError(StrCat("tier ", tier.name, ": ", FromAbsl(stream_error.message())));
  if (!status.ok()) {
    result->retryable = status.code() == absl::StatusCode::kUnavailable ||
                        status.code() == absl::StatusCode::kDeadlineExceeded;
    return absl::Status(status.code(), StrCat("tier ", tier.name, ": ", FromAbsl(status.message())));
  }
  if (http.status < 200 || http.status >= 300) {
    // Overload and server faults may pass; a request the server refuses (4xx) will be refused again.
    result->retryable = http.status >= 500 || http.status == 429;
    return absl::DataLossError(StrCat("tier ", tier.name, " answered HTTP ", http.status, ": ",
                                      std::string_view(http.body).substr(0, 200)));
  }
  if (streaming && aggregator.events() > 0) {
    if (!http.stream_done) {
      return absl::DataLossError(StrCat("tier ", tier.name, ": the stream ended before [DONE] after ",
                                        aggregator.events(), " events"));
    }
    result->document = aggregator.Response();
  } else {
    // Not streaming, or a server that answered a stream request with one JSON body.
    boost::system::error_code ec;
    result->document = boost::json::parse(http.body, ec);
    if (ec || !result->document.is_object()) {
      return absl::DataLossError(StrCat("tier ", tier.name, " answered something that is not a JSON object: ",
                                        std::string_view(http.body).substr(0, 200)));
    }
  }
  result->usage = ReadUsage(result->document);
  if (hold_tool_calls) {
    if (auto problem = ToolCallProblem(call.body, result->document)) {
      result->invalid_tool_call = *problem;
      return absl::OkStatus();
    }
  }
  for (const std::string& event : held) {
    ++*delivered;
    if (!(*on_event)(event)) return absl::CancelledError("the receiver cancelled the stream");
  }
  return absl::OkStatus();
}

absl::Status Router::ReportOutcome(const v1::Outcome& outcome) {
  auto current = snapshot();
  const RouterConfig& config = *current->config;
  int tier = -1;
  if (!outcome.tier_name().empty()) {
    tier = config.FindTier(outcome.tier_name());
    if (tier < 0) {
      return absl::InvalidArgumentError(StrCat("outcome.tier_name names no tier: \"", outcome.tier_name(), "\""));
    }
  }
  SessionTable::Counters counters;
  std::shared_ptr<Session> session =
      sessions_.Find(outcome.session_id(), LimitsOf(config), MonotonicNowNs(), &counters);
  Increment(metrics_.sessions_expired, counters.expired);
  if (session == nullptr) {
    return absl::NotFoundError(StrCat("unknown session \"", outcome.session_id().substr(0, kMaxSessionIdBytes),
                                            "\": no qc_on_step yet, ended, evicted or expired"));
  }
  std::lock_guard<std::mutex> lock(session->mutex);
  if (outcome.has_tool_call_valid() && !outcome.tool_call_valid()) {
    Increment(metrics_.invalid_tool_calls);
    if (config.policy.escalate_on_invalid_tool_call) session->policy.escalate_next = true;
  }
  if (tier >= 0) {
    SetLastTierLocked(*current, session.get(), tier);  // the tier that really served: its cache is the warm one
    metrics_.RecordCall(static_cast<uint32_t>(tier), outcome.latency_ms(), outcome.ttft_ms(), outcome.input_tokens(),
                        outcome.cached_tokens(), outcome.output_tokens());
  }
  return absl::OkStatus();
}

absl::Status Router::EndSession(std::string_view session_id) {
  if (!sessions_.Erase(session_id)) {
    return absl::NotFoundError(
        StrCat("unknown session \"", session_id.substr(0, kMaxSessionIdBytes), "\""));
  }
  Increment(metrics_.sessions_ended);
  return absl::OkStatus();
}

std::string Router::MetricsText() const {
  const std::shared_ptr<const Snapshot> current = snapshot();
  std::vector<std::string_view> tier_names;
  std::bitset<kMaxTierSlots> open_breakers;
  const int64_t now = MonotonicNowNs();
  for (size_t i = 0; i < current->config->tiers.size() && i < kMaxTiers; ++i) {
    tier_names.push_back(current->config->tiers[i].name);
    open_breakers[i] = breaker_open_until_ns_[i].load(std::memory_order_relaxed) > now;
  }
  return metrics_.PrometheusText(tier_names, sessions_.size(), open_breakers);
}

}  // namespace quantclaw
