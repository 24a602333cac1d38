// Shadow sampling for qc_complete: a share of the steps quantclaw served is scored afterwards, off the
// host's path, on the reference tier and on a low tier, and labelled by how far apart the two are
// (DMR's KL-ST labels, section 4.2). Each labelled step is appended to the trace files
// (telemetry/trace_file.h) for `quantclaw train`.
//
// A sampled step goes into a bounded queue (dropped and counted when it is full: the host never waits)
// served by one thread. The worker teacher-forces the action the serving tier produced: for each of its
// first N tokens, each tier's top-k next-token logprobs at that position, given the prompt and the
// action before it. On llama-server (its native API, next to the OpenAI one):
//   POST /apply-template  the request's messages -> the prompt the chat endpoint would have built
//   POST /tokenize        prompt, and prompt + action: the action's tokens as they follow the prompt
//   POST /completion      {"prompt": [token ids], "n_predict": 1, "n_probs": k, "cache_prompt": true}
//                         once per position: completion_probabilities[0].top_logprobs is the model's
//                         next-token distribution there (from the raw logits, not after sampling), and
//                         the prompt cache makes each request evaluate one new token.
// llama-server gives logprobs only for tokens it generates (no prompt_logprobs), hence N requests per
// tier; they are cheap, and the tokenisation is done once, on the reference tier (tiers are one model).
// On vLLM (shadow.method "vllm") one /v1/completions call per tier with prompt_logprobs gives every
// position at once (ScoreOnVllm).
//
// Steps come from qc_complete (the router builds the job from the call it served) and from hosts that
// make their own calls (the decision says QC_DECISION_SHADOW_SAMPLED and the step's outcome brings the
// request and the action; router/shadow_step.cc).
#ifndef QUANTCLAW_PLUGIN_BACKEND_SHADOW_H_
#define QUANTCLAW_PLUGIN_BACKEND_SHADOW_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include <boost/json/value.hpp>

#include "absl/status/status.h"
#include "backend/backend_config.h"
#include "backend/http_client.h"
#include "backend/shadow_config.h"
#include "config/config.h"
#include "telemetry/metrics.h"
#include "telemetry/trace_file.h"
#include "quantclaw/v1/trace.pb.h"

namespace quantclaw {

// Whether a step is shadow-sampled: a draw from the session id and step index against `rate`, so that
// replaying the same episodes samples the same steps. Independent of the budget's tie draw.
bool ShadowDrawn(std::string_view session_id, uint64_t step_index, double rate);

// One entry of a tier's top-k at one position.
struct TokenLogprob {
  int64_t token = 0;
  double logprob = 0;
};

// KL(reference || low) in nats at one position, from each side's top-k logprobs only.
//
// The tail each server truncated: both sides are made distributions over the same buckets, every token
// in the union of the two top-k lists plus one "other" bucket for the rest of the vocabulary. A side's
// own top-k tokens keep their probabilities; its tail mass (1 - their sum) is spread evenly over the
// union tokens it did not list and the "other" bucket, each share capped at its k-th probability (a
// token outside its top-k cannot be likelier than the least one in it), what the cap cuts going to
// "other". Both sides then sum to 1, so the estimate is never negative, and it is 0 for identical lists.
//
// Bias: the buckets coarse-grain the vocabulary, and KL can only shrink under coarse-graining, so when
// the spread guesses the unlisted tokens right the estimate is a lower bound of the true KL; the
// even spread itself can err either way for a token only one side listed. It is exact when both top-k
// lists hold (nearly) all the mass, and biased low when the distributions differ mainly in their tails.
// A bucket the low side gives nothing (its top-k holds all its mass) counts as 1e-10.
double TopKKl(std::span<const TokenLogprob> reference, std::span<const TokenLogprob> low);

// A step to score, with everything the worker needs: it holds the config it was sampled under, so a
// reload frees nothing it uses.
struct ShadowJob {
  std::shared_ptr<const TierTable> tiers;
  std::shared_ptr<const ShadowConfig> shadow;
  std::shared_ptr<const BackendConfig> backend;
  uint32_t reference_tier = 0;
  uint32_t low_tier = 0;
  bool chat = true;
  boost::json::object request;  // the host's request body, as sent (messages, tools, ...; or prompt)
  std::string action;           // what the serving tier answered: its content, or its tool calls' arguments
  v1::TraceRecord record;       // features, decision and outcome; the worker adds the KL and the label
};

struct ShadowScore {
  double kl = 0;             // mean over the scored positions
  uint32_t positions = 0;
};

// Scores a job: KL(reference || low) over the first shadow->action_tokens tokens of the action.
// `stopping` is read between requests: once it is set the scoring gives up (Cancelled).
using ShadowScorer = std::function<absl::Status(const ShadowJob& job, const std::atomic<bool>& stopping,
                                                ShadowScore* score)>;

// The scorer for llama-server tiers, over `http`.
absl::Status ScoreOnLlamaServer(HttpClient& http, const ShadowJob& job, const std::atomic<bool>& stopping,
                                ShadowScore* score);

// The scorer for vLLM tiers: per tier, one /v1/completions call whose prompt is the templated
// conversation plus the action's first N tokens, with prompt_logprobs = k (every position at once).
// Untested against a real vLLM: written to its documented wire shapes and tested on a loopback double.
absl::Status ScoreOnVllm(HttpClient& http, const ShadowJob& job, const std::atomic<bool>& stopping,
                         ShadowScore* score);

// The one of the two that job->shadow->method names.
absl::Status ScoreShadowJob(HttpClient& http, const ShadowJob& job, const std::atomic<bool>& stopping,
                            ShadowScore* score);

// The queue and its thread, started on the first step enqueued. Counts in `metrics`: shadow_sampled
// (every Enqueue), shadow_dropped, shadow_scored, shadow_failed, trace_records_written.
class ShadowSampler {
 public:
  ShadowSampler(RouterMetrics* metrics, ShadowScorer scorer) : metrics_(metrics), scorer_(std::move(scorer)) {}
  ~ShadowSampler() { Stop(); }
  ShadowSampler(const ShadowSampler&) = delete;
  ShadowSampler& operator=(const ShadowSampler&) = delete;

  // Never blocks on the worker: false (and counted as dropped) when job->shadow->queue steps already
  // wait, or after Stop.
  bool Enqueue(std::unique_ptr<ShadowJob> job);
  // Drops what waits, lets the step being scored give up at its next request, and joins the thread.
  void Stop();
  // Until nothing waits or is being scored (tests); false on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  void Run();
  void Finish(ShadowJob& job, const ShadowScore& score);

  RouterMetrics* metrics_;
  ShadowScorer scorer_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::unique_ptr<ShadowJob>> queue_;
  bool busy_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  // The worker's alone: the writer for the trace_path and file size of the last job.
  std::unique_ptr<TraceWriter> writer_;
  std::string writer_path_;
  uint64_t writer_max_bytes_ = 0;
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_BACKEND_SHADOW_H_
