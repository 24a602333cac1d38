#include "backend/shadow.h"

#include <algorithm>
#include <charconv>
#include <tuple>
#include <cmath>
#include <cstdlib>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "util/hash.h"
#include "util/json_numbers.h"
#include "util/strings.h"
#include "util/url.h"

namespace quantclaw {

namespace json = boost::json;

bool ShadowDrawn(std::string_view session_id, uint64_t step_index, double rate) {
  if (!(rate > 0)) return false;
  // Seeded apart from the budget's tie draw (Mix64(Fnv1a(id) ^ step)), so the sampled steps are not
  // the ones a tie happened to send one way.
  static constexpr uint64_t kShadowSeed = 0x5348414430575731ull;
  return UnitInterval(Mix64(Fnv1a(session_id, kShadowSeed) ^ Mix64(step_index))) < rate;
}

namespace {

constexpr double kLowFloor = 1e-10;

// One side of TopKKl over the buckets `tokens` (the union) plus "other" at the end.
void Bucketise(std::span<const TokenLogprob> listed, std::span<const int64_t> tokens, std::vector<double>* out) {
  out->assign(tokens.size() + 1, -1.0);  // -1: not listed by this side
  double listed_mass = 0;
  double least = 1;
  for (size_t i = 0; i < tokens.size(); ++i) {
    for (const TokenLogprob& entry : listed) {
      if (entry.token != tokens[i]) continue;
      const double p = std::exp(std::min(entry.logprob, 0.0));
      (*out)[i] = p;
      listed_mass += p;
      least = std::min(least, p);
      break;
    }
  }
  if (listed_mass > 1) {  // rounding in the server's logprobs
    for (size_t i = 0; i < tokens.size(); ++i) {
      if ((*out)[i] >= 0) (*out)[i] /= listed_mass;
    }
    least /= listed_mass;
    listed_mass = 1;
  }
  const double tail = 1 - listed_mass;
  size_t unlisted = 0;
  for (size_t i = 0; i < tokens.size(); ++i) unlisted += (*out)[i] < 0;
  const double share = std::min(tail / double(unlisted + 1), least);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if ((*out)[i] < 0) (*out)[i] = share;
  }
  out->back() = std::max(0.0, tail - share * double(unlisted));
}

}  // namespace

double TopKKl(std::span<const TokenLogprob> reference, std::span<const TokenLogprob> low) {
  std::vector<int64_t> tokens;
  tokens.reserve(reference.size() + low.size());
  for (const auto& side : {reference, low}) {
    for (const TokenLogprob& entry : side) {
      if (std::find(tokens.begin(), tokens.end(), entry.token) == tokens.end()) tokens.push_back(entry.token);
    }
  }
  std::vector<double> p, q;
  Bucketise(reference, tokens, &p);
  Bucketise(low, tokens, &q);
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    kl += p[i] * (std::log(p[i]) - std::log(std::max(q[i], kLowFloor)));
  }
  return std::max(kl, 0.0);
}

namespace {

// llama-server's native endpoints sit at the server's root, beside its OpenAI /v1.
std::string NativeUrl(std::string_view base_url, std::string_view path) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  if (base_url.size() >= 3 && base_url.substr(base_url.size() - 3) == "/v1") base_url.remove_suffix(3);
  return JoinUrl(base_url, path);
}

class TierSession {
 public:
  TierSession(HttpClient& http, const TierConfig& tier, const ShadowJob& job) : http_(http), tier_(tier), job_(job) {
    if (!tier.api_key_env.empty()) {
      if (const char* value = std::getenv(tier.api_key_env.c_str()); value != nullptr) key_ = value;
    }
  }

  absl::Status Post(std::string_view path, const json::value& body, json::value* answer) {
    HttpRequest request;
    request.url = NativeUrl(tier_.base_url, path);
    request.body = json::serialize(body);
    const uint32_t timeout = job_.shadow->timeout_ms;
    request.timeouts = {std::min(job_.backend->connect_timeout_ms, timeout), timeout, timeout};
    request.max_response_bytes = 4u << 20;
    request.ca_file = tier_.ca_file;
    if (!key_.empty()) request.headers.push_back(StrCat("Authorization: Bearer ", key_));
    HttpResponse response;
    if (absl::Status status = http_.Post(request, nullptr, &response); !status.ok()) {
      return absl::Status(status.code(), StrCat(tier_.name, " ", path, ": ", RedactSecret(FromAbsl(status.message()), key_)));
    }
    if (response.status != 200) {
      return absl::UnavailableError(StrCat(tier_.name, " ", path, ": HTTP ", response.status, ": ",
                                           Utf8Excerpt(RedactSecret(response.body, key_), 200)));
    }
    boost::system::error_code ec;
    *answer = json::parse(response.body, ec);
    if (ec || !answer->is_object()) {
      return absl::DataLossError(StrCat(tier_.name, " ", path, ": the answer is not a JSON object"));
    }
    return absl::OkStatus();
  }

  absl::Status Tokenize(const std::string& text, std::vector<int64_t>* tokens) {
    json::value answer;
    if (absl::Status status =
            Post("/tokenize", json::object{{"content", text}, {"add_special", true}, {"parse_special", true}}, &answer);
        !status.ok()) {
      return status;
    }
    const json::array* list = answer.get_object().contains("tokens") ? answer.at("tokens").if_array() : nullptr;
    if (list == nullptr) return absl::DataLossError(StrCat(tier_.name, " /tokenize: no \"tokens\" array"));
    tokens->clear();
    for (const json::value& token : *list) {
      int64_t id = 0;
      if (!ExactInt64(token, &id)) {
        return absl::DataLossError(StrCat(tier_.name, " /tokenize: a token is not a whole number"));
      }
      tokens->push_back(id);
    }
    return absl::OkStatus();
  }

  // The tier's top-k next-token logprobs after `prompt`.
  absl::Status NextTokenTopK(const json::array& prompt, std::vector<TokenLogprob>* top) {
    json::value answer;
    json::object body{{"prompt", prompt},
                      {"n_predict", 1},
                      {"n_probs", job_.shadow->top_logprobs},
                      {"cache_prompt", true},
                      {"temperature", 0},
                      {"post_sampling_probs", false}};
    if (absl::Status status = Post("/completion", body, &answer); !status.ok()) return status;
    boost::system::error_code ec;
    top->clear();
    const json::value* list = answer.find_pointer("/completion_probabilities/0/top_logprobs", ec);
    // llama-server holds back a token that ends inside a UTF-8 character (a byte-fallback piece) until
    // the character completes, and with n_predict 1 it never does: the answer then has no
    // probabilities. That position is skipped (an empty *top), not the whole step.
    if (list == nullptr || !list->is_array()) return absl::OkStatus();
    for (const json::value& entry : list->get_array()) {
      const json::object* object = entry.if_object();
      const json::value* id = object ? object->if_contains("id") : nullptr;
      const json::value* logprob = object ? object->if_contains("logprob") : nullptr;
      int64_t token = 0;
      if (id == nullptr || logprob == nullptr || !ExactInt64(*id, &token) || !logprob->is_number()) continue;
      top->push_back({token, logprob->to_number<double>()});
    }
    if (top->empty()) return absl::DataLossError(StrCat(tier_.name, " /completion: empty top_logprobs"));
    return absl::OkStatus();
  }

 private:
  HttpClient& http_;
  const TierConfig& tier_;
  const ShadowJob& job_;
  std::string key_;
};

// The prompt the tier's chat endpoint would have built for the request, by its own template.
absl::Status TemplatedPrompt(TierSession& tier, const ShadowJob& job, std::string* prompt) {
  if (!job.chat) {
    const json::value* text = job.request.if_contains("prompt");
    if (text == nullptr || !text->is_string()) {
      return absl::InvalidArgumentError("a legacy completion is scored only with one string prompt");
    }
    *prompt = text->get_string();
    return absl::OkStatus();
  }
  json::object body;
  for (std::string_view key : {"messages", "tools", "tool_choice", "chat_template_kwargs"}) {
    if (const json::value* value = job.request.if_contains(key)) body[key] = *value;
  }
  json::value answer;
  if (absl::Status status = tier.Post("/apply-template", body, &answer); !status.ok()) return status;
  const json::value* text = answer.get_object().if_contains("prompt");
  if (text == nullptr || !text->is_string()) return absl::DataLossError("/apply-template: no \"prompt\" string");
  *prompt = text->get_string();
  return absl::OkStatus();
}

}  // namespace

absl::Status ScoreOnLlamaServer(HttpClient& http, const ShadowJob& job, const std::atomic<bool>& stopping,
                                ShadowScore* score) {
  const TierConfig& reference_tier = job.tiers->tiers[job.reference_tier];
  const TierConfig& low_tier = job.tiers->tiers[job.low_tier];
  TierSession reference(http, reference_tier, job);
  TierSession low(http, low_tier, job);

  // The action's tokens as they follow the prompt: tokenised together, so a tokenizer that prefixes a
  // space to a text of its own does not change the action's first token.
  std::string prompt;
  if (absl::Status status = TemplatedPrompt(reference, job, &prompt); !status.ok()) return status;
  std::vector<int64_t> prompt_tokens, joint_tokens;
  if (absl::Status status = reference.Tokenize(prompt, &prompt_tokens); !status.ok()) return status;
  if (absl::Status status = reference.Tokenize(prompt + job.action, &joint_tokens); !status.ok()) return status;
  size_t common = 0;
  while (common < prompt_tokens.size() && common < joint_tokens.size() &&
         prompt_tokens[common] == joint_tokens[common]) {
    ++common;
  }
  const size_t positions = std::min<size_t>(joint_tokens.size() - common, job.shadow->action_tokens);
  if (positions == 0) return absl::InvalidArgumentError("the action has no tokens to score");

  // Position by position, reference then low: each request extends the last one's prompt by one token.
  std::vector<std::vector<TokenLogprob>> reference_top(positions), low_top(positions);
  for (auto [tier, tops] : {std::pair{&reference, &reference_top}, std::pair{&low, &low_top}}) {
    json::array context;
    context.reserve(common + positions);
    for (size_t i = 0; i < common; ++i) context.push_back(joint_tokens[i]);
    for (size_t position = 0; position < positions; ++position) {
      if (stopping.load(std::memory_order_relaxed)) return absl::CancelledError("the router is closing");
      if (absl::Status status = tier->NextTokenTopK(context, &(*tops)[position]); !status.ok()) return status;
      context.push_back(joint_tokens[common + position]);
    }
  }
  // The mean over the positions both tiers gave probabilities for; a tier that never gives any is not a
  // llama-server (or not one that reports n_probs).
  double sum = 0;
  size_t scored = 0;
  for (size_t position = 0; position < positions; ++position) {
    if (reference_top[position].empty() || low_top[position].empty()) continue;
    sum += TopKKl(reference_top[position], low_top[position]);
    ++scored;
  }
  if (scored == 0) {
    return absl::DataLossError(StrCat("no position of the action had completion_probabilities[0].top_logprobs on both ",
                                      reference_tier.name, " and ", low_tier.name, " (are the tiers llama-server?)"));
  }
  score->kl = sum / double(scored);
  score->positions = static_cast<uint32_t>(scored);
  return absl::OkStatus();
}

namespace {

// vLLM's /tokenize: {"model", "messages", "add_generation_prompt"} (its chat form, by the model's own
// template) or {"model", "prompt", "add_special_tokens"} -> {"count", "max_model_len", "tokens": [...]}.
absl::Status VllmTokenize(TierSession& tier, const TierConfig& config, json::object body, std::vector<int64_t>* tokens) {
  body["model"] = config.model;
  json::value answer;
  if (absl::Status status = tier.Post("/tokenize", body, &answer); !status.ok()) return status;
  const json::value* list = answer.get_object().if_contains("tokens");
  if (list == nullptr || !list->is_array()) {
    return absl::DataLossError(StrCat(config.name, " /tokenize: no \"tokens\" array (is the tier vLLM?)"));
  }
  tokens->clear();
  for (const json::value& token : list->get_array()) {
    int64_t id = 0;
    if (!(token.is_int64() || token.is_uint64()) || !ExactInt64(token, &id)) {
      return absl::DataLossError(StrCat(config.name, " /tokenize: a token is not an integer"));
    }
    tokens->push_back(id);
  }
  return absl::OkStatus();
}

// vLLM's top-k at every position of `prompt` from one /v1/completions call with prompt_logprobs:
// choices[0].prompt_logprobs holds, per prompt token, null (the first) or {"<token id>": {"logprob",
// "rank", "decoded_token"}}: the k likeliest next tokens there plus the prompt's own token (so up to
// k + 1 entries; an extra lower one only tightens TopKKl's cap on the unlisted). `tops` gets the
// positions from `first` on; a null or empty entry leaves its position empty (skipped).
absl::Status VllmPromptTopK(TierSession& tier, const TierConfig& config, const ShadowJob& job,
                            const std::vector<int64_t>& prompt, size_t first, std::vector<std::vector<TokenLogprob>>* tops) {
  json::array ids;
  ids.reserve(prompt.size());
  for (int64_t token : prompt) ids.push_back(token);
  json::object body{{"model", config.model},
                    {"prompt", std::move(ids)},
                    {"max_tokens", 1},
                    {"temperature", 0},
                    {"prompt_logprobs", job.shadow->top_logprobs}};
  json::value answer;
  if (absl::Status status = tier.Post("/v1/completions", body, &answer); !status.ok()) return status;
  boost::system::error_code ec;
  const json::value* list = answer.find_pointer("/choices/0/prompt_logprobs", ec);
  if (list == nullptr || !list->is_array()) {
    return absl::DataLossError(StrCat(config.name, " /v1/completions: no choices[0].prompt_logprobs array (is the tier vLLM?)"));
  }
  const json::array& positions = list->get_array();
  if (positions.size() != prompt.size()) {
    return absl::DataLossError(StrCat(config.name, " /v1/completions: prompt_logprobs has ", positions.size(),
                                      " entries for a prompt of ", prompt.size(), " tokens"));
  }
  tops->assign(prompt.size() - first, {});
  for (size_t i = first; i < prompt.size(); ++i) {
    const json::object* entries = positions[i].if_object();
    if (entries == nullptr) continue;
    std::vector<TokenLogprob>& top = (*tops)[i - first];
    for (const auto& [key, entry] : *entries) {
      const json::object* object = entry.if_object();
      const json::value* logprob = object ? object->if_contains("logprob") : nullptr;
      int64_t token = 0;
      const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), token);
      if (logprob == nullptr || !logprob->is_number() || error != std::errc() || end != key.data() + key.size()) {
        return absl::DataLossError(StrCat(config.name, " /v1/completions: prompt_logprobs[", i,
                                          "] has an entry that is not \"<token id>\": {\"logprob\": <number>}"));
      }
      top.push_back({token, logprob->to_number<double>()});
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ScoreOnVllm(HttpClient& http, const ShadowJob& job, const std::atomic<bool>& stopping, ShadowScore* score) {
  const TierConfig& reference_tier = job.tiers->tiers[job.reference_tier];
  const TierConfig& low_tier = job.tiers->tiers[job.low_tier];
  TierSession reference(http, reference_tier, job);
  TierSession low(http, low_tier, job);

  // vLLM's chat /tokenize gives the templated prompt's tokens but not its text, so the prompt and the
  // action are tokenised apart and joined: a tokenizer that would merge the prompt's last characters
  // with the action's first ones (rare after a chat template's assistant header) shifts the first
  // position by a token.
  std::vector<int64_t> prompt, action;
  json::object prompt_body;
  if (job.chat) {
    for (std::string_view key : {"messages", "tools", "chat_template_kwargs"}) {
      if (const json::value* value = job.request.if_contains(key)) prompt_body[key] = *value;
    }
    prompt_body["add_generation_prompt"] = true;
    prompt_body["add_special_tokens"] = false;
  } else {
    const json::value* text = job.request.if_contains("prompt");
    if (text == nullptr || !text->is_string()) {
      return absl::InvalidArgumentError("a legacy completion is scored only with one string prompt");
    }
    prompt_body["prompt"] = *text;
    prompt_body["add_special_tokens"] = true;
  }
  if (absl::Status status = VllmTokenize(reference, reference_tier, std::move(prompt_body), &prompt); !status.ok()) {
    return status;
  }
  if (absl::Status status = VllmTokenize(reference, reference_tier,
                                         json::object{{"prompt", job.action}, {"add_special_tokens", false}}, &action);
      !status.ok()) {
    return status;
  }
  const size_t positions = std::min<size_t>(action.size(), job.shadow->action_tokens);
  if (positions == 0) return absl::InvalidArgumentError("the action has no tokens to score");
  const size_t first = prompt.size();
  prompt.insert(prompt.end(), action.begin(), action.begin() + static_cast<std::ptrdiff_t>(positions));

  std::vector<std::vector<TokenLogprob>> reference_top, low_top;
  for (auto [tier, config, tops] : {std::tuple{&reference, &reference_tier, &reference_top},
                                    std::tuple{&low, &low_tier, &low_top}}) {
    if (stopping.load(std::memory_order_relaxed)) return absl::CancelledError("the router is closing");
    if (absl::Status status = VllmPromptTopK(*tier, *config, job, prompt, first, tops); !status.ok()) return status;
  }
  double sum = 0;
  size_t scored = 0;
  for (size_t position = 0; position < positions; ++position) {
    if (reference_top[position].empty() || low_top[position].empty()) continue;
    sum += TopKKl(reference_top[position], low_top[position]);
    ++scored;
  }
  if (scored == 0) {
    return absl::DataLossError(StrCat("no position of the action had prompt_logprobs on both ", reference_tier.name,
                                      " and ", low_tier.name));
  }
  score->kl = sum / double(scored);
  score->positions = static_cast<uint32_t>(scored);
  return absl::OkStatus();
}

absl::Status ScoreShadowJob(HttpClient& http, const ShadowJob& job, const std::atomic<bool>& stopping,
                            ShadowScore* score) {
  return job.shadow->method == ShadowMethod::kVllm ? ScoreOnVllm(http, job, stopping, score)
                                                   : ScoreOnLlamaServer(http, job, stopping, score);
}

bool ShadowSampler::Enqueue(std::unique_ptr<ShadowJob> job) {
  Increment(metrics_->shadow_sampled);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_.load(std::memory_order_relaxed) && queue_.size() < job->shadow->queue) {
      if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
      queue_.push_back(std::move(job));
      wake_.notify_one();
      return true;
    }
  }
  Increment(metrics_->shadow_dropped);
  return false;  // the job is freed here, outside the lock
}

void ShadowSampler::Stop() {
  std::deque<std::unique_ptr<ShadowJob>> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true, std::memory_order_relaxed);
    dropped.swap(queue_);
    wake_.notify_all();
  }
  if (!dropped.empty()) Increment(metrics_->shadow_dropped, dropped.size());
  if (thread_.joinable()) thread_.join();
}

bool ShadowSampler::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_.wait_for(lock, timeout, [this] { return queue_.empty() && !busy_; });
}

void ShadowSampler::Run() {
  for (;;) {
    std::unique_ptr<ShadowJob> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      busy_ = false;
      idle_.notify_all();
      wake_.wait(lock, [this] { return stopping_.load(std::memory_order_relaxed) || !queue_.empty(); });
      if (stopping_.load(std::memory_order_relaxed)) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    // This thread is the library's, not the host's: nothing thrown here may reach std::terminate, so an
    // exception (an allocation that failed, a server's bytes some parser did not foresee) fails the step.
    try {
      ShadowScore score;
      absl::Status status = scorer_(*job, stopping_, &score);
      if (status.ok()) {
        Increment(metrics_->shadow_scored);
        Finish(*job, score);
      } else if (status.code() != absl::StatusCode::kCancelled) {
        Increment(metrics_->shadow_failed);
      }
    } catch (...) {
      Increment(metrics_->shadow_failed);
    }
  }
}

void ShadowSampler::Finish(ShadowJob& job, const ShadowScore& score) {
  const ShadowConfig& shadow = *job.shadow;
  v1::TraceRecord& record = job.record;
  record.set_kl_divergence(score.kl);
  record.set_needs_high_precision(score.kl >= shadow.kl_threshold);
  record.set_reference_tier(job.tiers->tiers[job.reference_tier].name);
  record.set_low_tier(job.tiers->tiers[job.low_tier].name);
  record.set_scored_tokens(score.positions);
  if (writer_ == nullptr || writer_path_ != shadow.trace_path || writer_max_bytes_ != shadow.max_file_bytes) {
    writer_.reset();
    auto writer = TraceWriter::Open(shadow.trace_path, shadow.max_file_bytes);
    if (!writer.ok()) {
      Increment(metrics_->shadow_failed);
      return;
    }
    writer_ = *std::move(writer);
    writer_path_ = shadow.trace_path;
    writer_max_bytes_ = shadow.max_file_bytes;
  }
  if (writer_->Append(record).ok()) {
    Increment(metrics_->trace_records_written);
  } else {
    Increment(metrics_->shadow_failed);
  }
}

}  // namespace quantclaw
