// quantclaw_agent_host: an agent's loop that lets quantclaw make every LLM call (qc_complete). The main
// job of `cmake/quantclaw-dev.sh demo`.
//
//   quantclaw_agent_host LIBRARY.so CONFIG.json EPISODE.jsonl [--max-tokens N] [--routed-only]
//                        [--shadow-wait SECONDS] [--response-format]
//
// It replays a recorded episode: each step line's messages (the observations: user turns, tool
// results, the agent's own recorded actions) extend the conversation, and each step is one OpenAI chat
// request handed to qc_complete, which decides the tier, sends it there and streams the answer back.
// The replay follows the recorded trajectory, so both passes below see the same steps. A recorded
// {"outcome": ...} line is the host's verdict on a step (an invalid tool call) and goes to
// qc_report_outcome, as a live host would report it.
//
// It runs the episode three times: with every step forced onto the reference tier, routed, and with every
// step forced onto the cheapest tier (the lowest output price; skipped when that is the reference), and
// prints per step the tier, tokens and latency, then the cost and latency of each pass against the
// reference. The routed pass has a router of its own, fresh as a host's would be: the forced passes
// teach their router's latency model nothing that the routed pass's governor would read.
//
// Each pass starts cold. Where every tier declares a llama_slots hand-off (so is a llama-server whose
// slots this host can erase), the host erases every slot before a pass and the passes send identical
// prompts; start the servers with --cache-ram 0 (LLAMA_ARG_CACHE_RAM=0), or llama-server's RAM prompt
// cache hands a pass the previous one's prompts. Elsewhere each pass opens its conversation with its own
// first words, which keeps the caches apart. Costs are the config's tiers[].cost (per million tokens).
// --routed-only skips the other passes: what collecting shadow-sampled traces needs
// (`cmake/quantclaw-dev.sh learn`).
//
// The quality proxy, where every tier is a llama-server with one slot (a llama_slots hand-off without
// "slots", or "slots": 1): teacher-forced top-1 agreement with the reference. After each step's call,
// untimed, the server that answered is asked position by position for its next token (/completion with
// the prompt as token ids, n_predict 1, the prompt cache reused) from the cache the call left (for a
// step that arrived by hand-off, the KV another tier computed): along its own greedy answer in the
// reference pass, which makes the reference's tokens, and along the reference's tokens in the other
// passes. A step's agreement is the share of positions whose top-1 is the reference's token; the slot is
// saved before the probes and restored after, so the pass goes on from the cache its call left. Each
// position compares one step of decoding from the same text: free-running greedy answers part at their
// first different token, after which they agree only by chance.
//
// The file may hold many episodes (examples/episodes/make_episodes.py writes a corpus): each session id
// has its own conversation. A step line's request carries its tools and tool_choice into the body, and
// with --response-format its response_format (off by default: llama-server turns it into a grammar, and
// a tier that cannot build one, as the tests' tiny generated model cannot, answers HTTP 400 "Failed to
// initialize samplers"); max_tokens is this host's --max-tokens (short answers keep CPU tiers quick).
//
// With shadow sampling configured, the router scores sampled steps on its own thread after the step
// returned; freeing the router drops what still waits. So before freeing it this host waits (at most
// --shadow-wait seconds, default 600) until every sampled step was scored, failed or dropped, reading
// the counters from qc_metrics, and prints them: the traces are then complete.
//
// LIBRARY.so "-" means $QUANTCLAW_PLUGIN, else ./plugins/libquantclaw.so.1 (the plugins convention).
// Exit 1 if a call failed, 2 on a usage or set-up problem.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <unistd.h>

#include <boost/dll/shared_library.hpp>
#include <boost/json.hpp>
#include <boost/json/src.hpp>  // Boost.JSON compiled into this host (header-only mode)
#include <curl/curl.h>

#include "quantclaw/quantclaw.h"

namespace {

namespace json = boost::json;

constexpr int kExitCallFailed = 1;
constexpr int kExitUsage = 2;
constexpr const char* kPluginEnvironmentVariable = "QUANTCLAW_PLUGIN";
constexpr const char* kPluginsDirectoryPath = "./plugins/libquantclaw.so.1";

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

struct TierCost {
  double input_per_mtok = 0, output_per_mtok = 0;
};

// What one step cost, as the tier's usage reported it.
struct StepResult {
  std::string tier;
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  double first_byte_ms = 0, latency_ms = 0;
  int chunks = 0;  // streamed events that reached this host
  double cost = 0;
  std::string reason;
  std::vector<int64_t> top1;  // teacher-forced top-1 per position (the quality proxy); empty without it
};

struct PassTotals {
  int steps = 0;
  double cost = 0, latency_ms = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::map<std::string, int> steps_by_tier;
  std::vector<std::vector<int64_t>> top1;  // per step, in episode order
  int probes_found_cache = 0, probes_missed_cache = 0;  // steps whose probes found the call's cache, or not
};

// Top-1 entries that are not a token: the answer ended there, or the server gave no token.
constexpr int64_t kEnded = -2;
constexpr int64_t kUnknown = -1;

// The share of the reference's positions whose top-1 `other` matches; -1 when none can be compared.
double Agreement(const std::vector<int64_t>& reference, const std::vector<int64_t>& other) {
  size_t same = 0, compared = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    if (reference[i] == kUnknown) continue;
    ++compared;
    same += i < other.size() && other[i] == reference[i];
  }
  return compared == 0 ? -1 : double(same) / double(compared);
}

// The mean agreement over the steps that had positions to compare; -1 when none had.
double MeanAgreement(const PassTotals& reference, const PassTotals& other) {
  double sum = 0;
  int steps = 0;
  for (size_t i = 0; i < reference.top1.size() && i < other.top1.size(); ++i) {
    const double agreement = Agreement(reference.top1[i], other.top1[i]);
    if (agreement < 0) continue;
    sum += agreement;
    ++steps;
  }
  return steps == 0 ? -1 : sum / steps;
}

int64_t Int(const json::value* value) {
  if (value == nullptr) return 0;
  if (value->is_int64()) return value->get_int64();
  if (value->is_uint64()) return static_cast<int64_t>(value->get_uint64());
  if (value->is_double()) return static_cast<int64_t>(value->get_double());
  return 0;
}

double Number(const json::value* value) {
  return value != nullptr && value->is_number() ? value->to_number<double>() : 0.0;
}

const json::value* Find(const json::value& value, std::initializer_list<std::string_view> path) {
  const json::value* at = &value;
  for (std::string_view key : path) {
    const json::object* object = at->if_object();
    at = object != nullptr ? object->if_contains(key) : nullptr;
    if (at == nullptr) return nullptr;
  }
  return at;
}

// Streamed chunks arrive here as the tier produces them; a real host would show them to its user.
// This one counts them, and never cancels (returning non-zero would).
int32_t OnChunk(void* chunks, const uint8_t*, size_t) {
  ++*static_cast<int*>(chunks);
  return 0;
}

// A POST with a JSON body; the HTTP status (0 when none came), the answer into `answer` if given.
long Post(const std::string& url, const std::string& body, std::string* answer) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return 0;
  std::string ignored;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, answer != nullptr ? answer : &ignored);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  });
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  return status;
}

// The JSON answer of a POST; null when the call failed or the answer is not JSON.
json::value PostJson(const std::string& url, const json::value& body) {
  std::string answer;
  if (Post(url, json::serialize(body), &answer) != 200) return nullptr;
  boost::system::error_code ec;
  json::value parsed = json::parse(answer, ec);
  return ec ? json::value() : parsed;
}

// The quality proxy's probes on llama-server tiers of one slot each (see the top of this file). Servers
// are named by their root URL (the base URL less /v1); the reference's template and tokenizer make every
// step's prompt tokens, as its chat endpoint makes them (one model, one tokenizer for every tier).
class QualityProbe {
 public:
  // `roots` and `slot_dirs` by tier name: each server's root URL and its --slot-save-path folder.
  QualityProbe(std::map<std::string, std::string> roots, std::map<std::string, std::string> slot_dirs,
               std::string reference, int positions)
      : roots_(std::move(roots)), slot_dirs_(std::move(slot_dirs)), reference_(std::move(reference)),
        positions_(positions) {}

  // The prompt's token ids for a chat body (its messages, tools and tool_choice); empty on failure.
  std::vector<int64_t> PromptTokens(const json::object& body) const {
    std::vector<int64_t> tokens;
    json::object request;
    for (const char* key : {"messages", "tools", "tool_choice"}) {
      if (const json::value* value = body.if_contains(key)) request[key] = *value;
    }
    const std::string& root = Root(reference_);
    const json::value templated = PostJson(root + "/apply-template", request);
    const json::value* text = Find(templated, {"prompt"});
    if (text == nullptr || !text->is_string()) return tokens;
    const json::value ids =
        PostJson(root + "/tokenize", json::object{{"content", *text}, {"add_special", true}, {"parse_special", true}});
    const json::value* list = Find(ids, {"tokens"});
    if (list == nullptr || !list->is_array()) return tokens;
    for (const json::value& id : list->get_array()) {
      if (id.is_int64()) tokens.push_back(id.get_int64());
    }
    return tokens;
  }

  // On `tier`'s slot 0, from the cache the step's call left: the top-1 at each position after `prompt`,
  // along `forced` (empty: the server's own greedy answer, which is how the reference's tokens are made).
  // The slot is saved first and restored after. Empty when the tier is unknown or the save failed.
  // `*cache_missed`: the first probe evaluated more than the prompt's last token, so it did not find the
  // call's cache as it was (the prompt's tokens differ from what the chat endpoint built): the step's
  // agreement then measures a prefill of the probing tier's own, and is counted as such.
  std::vector<int64_t> TopOne(const std::string& tier, const std::vector<int64_t>& prompt,
                              const std::vector<int64_t>& forced, bool* cache_missed) const {
    *cache_missed = false;
    std::vector<int64_t> top1;
    const std::string& root = Root(tier);
    if (root.empty() || prompt.empty()) return top1;
    const std::string file = "quantclaw-probe-" + std::to_string(getpid()) + ".bin";
    const std::string body = json::serialize(json::object{{"filename", file}});
    if (Post(root + "/slots/0?action=save", body, nullptr) != 200) return top1;
    std::vector<int64_t> context = prompt;
    for (int position = 0; position < positions_; ++position) {
      const bool own = forced.empty();
      if (!own && size_t(position) >= forced.size()) break;
      int64_t evaluated = 0;
      const int64_t token = Next(root, context, &evaluated);
      if (position == 0 && evaluated > 1) *cache_missed = true;
      top1.push_back(token);
      const int64_t follow = own ? token : forced[size_t(position)];
      if (follow < 0) break;  // the answer ended (or the server gave no token): nothing follows
      context.push_back(follow);
    }
    Post(root + "/slots/0?action=restore", body, nullptr);
    if (auto dir = slot_dirs_.find(tier); dir != slot_dirs_.end()) {
      std::error_code ignored;
      std::filesystem::remove(dir->second + "/" + file, ignored);
    }
    return top1;
  }

 private:
  const std::string& Root(const std::string& tier) const {
    static const std::string kNone;
    auto found = roots_.find(tier);
    return found == roots_.end() ? kNone : found->second;
  }

  // The server's greedy next token after `context`, reusing slot 0's cache; kEnded at the end of the
  // answer, kUnknown when the server gave none. `*evaluated`: the context tokens it had to compute.
  static int64_t Next(const std::string& root, const std::vector<int64_t>& context, int64_t* evaluated) {
    json::array prompt(context.begin(), context.end());
    const json::value answer = PostJson(root + "/completion", json::object{{"prompt", std::move(prompt)},
                                                                            {"n_predict", 1},
                                                                            {"temperature", 0},
                                                                            {"cache_prompt", true},
                                                                            {"id_slot", 0},
                                                                            {"return_tokens", true}});
    const json::value* computed = Find(answer, {"timings", "prompt_n"});
    *evaluated = Int(computed);
    // return_tokens lists the id even where llama-server holds back text ending inside a UTF-8
    // character; an end-of-generation token is not listed, stopped_eos says it.
    const json::value* tokens = Find(answer, {"tokens"});
    if (tokens != nullptr && tokens->is_array() && !tokens->get_array().empty() && tokens->get_array()[0].is_int64()) {
      return tokens->get_array()[0].get_int64();
    }
    const json::value* eos = Find(answer, {"stopped_eos"});
    return eos != nullptr && eos->is_bool() && eos->get_bool() ? kEnded : kUnknown;
  }

  std::map<std::string, std::string> roots_, slot_dirs_;
  std::string reference_;
  int positions_;
};

class Agent {
 public:
  Agent(const qc_plugin& plugin, std::map<std::string, TierCost> costs, int max_tokens, bool mark_passes,
        bool send_response_format)
      : plugin_(plugin), costs_(std::move(costs)), max_tokens_(max_tokens), mark_passes_(mark_passes),
        send_response_format_(send_response_format) {}

  // One pass over the episode through `router`. `force_tier` empty: routed; else every step goes there.
  // The reference pass makes the tokens the quality proxy compares the other passes with.
  std::optional<PassTotals> Run(qc_router* router, const std::vector<json::object>& lines, const std::string& pass,
                                const std::string& session_suffix, const std::string& force_tier,
                                bool reference_pass) {
    router_ = router;
    if (reference_pass) reference_top1_.clear();
    PassTotals totals;
    // Each pass starts cold. Where every tier is a llama-server whose slots this host can erase, the passes
    // send identical prompts (what the quality proxy needs); elsewhere each opens with its own first words.
    const bool mark = mark_passes_ && !EraseSlots();
    std::map<std::string, json::array> conversations;  // by session id
    std::map<std::string, std::map<int64_t, std::string>> tier_of_step;  // by session id, then step
    std::printf("%4s %-7s %-6s %7s %7s %5s %6s %8s %9s  %s\n", "step", "kind", "tier", "prompt", "cached", "out",
                "chunks", "ttfb ms", "total ms", "reason");
    for (const json::object& line : lines) {
      if (const json::value* outcome = line.if_contains("outcome"); outcome != nullptr && outcome->is_object()) {
        if (!ReportOutcome(outcome->get_object(), session_suffix, tier_of_step)) return std::nullopt;
        continue;
      }
      const std::string session = SessionId(line, session_suffix);
      json::array& conversation = conversations[session];
      const json::value* messages = line.if_contains("messages");
      if (messages != nullptr && messages->is_array()) {
        for (const json::value& message : messages->get_array()) conversation.push_back(message);
        // Each pass opens its conversation with its own first words, so that neither pass finds the
        // other's prompts in a tier's prefix cache: the comparison starts cold both times.
        if (mark && !conversation.empty() && conversation.size() == messages->get_array().size()) {
          MarkPass(conversation, pass);
        }
      }
      json::object body;
      if (const json::value* request = line.if_contains("request"); request != nullptr && request->is_object()) {
        for (const char* key : {"tools", "response_format", "tool_choice"}) {
          if (!send_response_format_ && std::string_view(key) == "response_format") continue;
          if (const json::value* value = request->get_object().if_contains(key)) body[key] = *value;
        }
      }
      body["model"] = "auto";  // quantclaw rewrites it to the tier's model
      body["messages"] = conversation;
      body["max_tokens"] = max_tokens_;
      body["temperature"] = 0;
      json::object hints;
      std::string kind;
      if (const json::value* given = line.if_contains("hints"); given != nullptr && given->is_object()) {
        hints = given->get_object();
        if (const json::value* step_kind = hints.if_contains("step_kind"); step_kind && step_kind->is_string()) {
          kind = step_kind->get_string();
        }
      }
      if (!force_tier.empty()) hints["force_tier"] = force_tier;
      const size_t ordinal = size_t(totals.steps);
      std::vector<int64_t> prompt_tokens;
      if (probe_ != nullptr) prompt_tokens = probe_->PromptTokens(body);
      json::object request{{"session_id", session}, {"body", std::move(body)}, {"hints", std::move(hints)}};
      std::optional<StepResult> step = Complete(json::serialize(request));
      if (!step) return std::nullopt;
      // Untimed: the quality proxy's probes, from the cache this call left.
      bool cache_missed = false;
      if (probe_ != nullptr && reference_pass) {
        step->top1 = probe_->TopOne(step->tier, prompt_tokens, {}, &cache_missed);
        reference_top1_.push_back(step->top1);
      } else if (probe_ != nullptr && ordinal < reference_top1_.size() && !reference_top1_[ordinal].empty()) {
        step->top1 = probe_->TopOne(step->tier, prompt_tokens, reference_top1_[ordinal], &cache_missed);
      }
      if (!step->top1.empty()) ++(cache_missed ? totals.probes_missed_cache : totals.probes_found_cache);
      const int64_t step_index = Int(line.if_contains("step_index"));
      tier_of_step[session][step_index] = step->tier;
      std::printf("%4" PRId64 " %-7s %-6s %7" PRId64 " %7" PRId64 " %5" PRId64 " %6d %8.1f %9.1f  %s\n", step_index,
                  kind.c_str(), step->tier.c_str(), step->prompt_tokens, step->cached_tokens,
                  step->completion_tokens, step->chunks, step->first_byte_ms, step->latency_ms, step->reason.c_str());
      ++totals.steps;
      totals.cost += step->cost;
      totals.latency_ms += step->latency_ms;
      totals.prompt_tokens += step->prompt_tokens;
      totals.completion_tokens += step->completion_tokens;
      ++totals.steps_by_tier[step->tier];
      totals.top1.push_back(std::move(step->top1));
    }
    return totals;
  }

 private:
  static void MarkPass(json::array& conversation, const std::string& pass) {
    json::object* first = conversation.front().if_object();
    if (first == nullptr) return;
    json::value& content = (*first)["content"];
    content = "(" + pass + ") " + (content.is_string() ? std::string(content.get_string()) : std::string());
  }

  static std::string SessionId(const json::object& line, const std::string& suffix) {
    const json::value* id = line.if_contains("session_id");
    return (id != nullptr && id->is_string() ? std::string(id->get_string()) : std::string("episode")) + suffix;
  }

  std::optional<StepResult> Complete(const std::string& request) {
    qc_bytes bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
    qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
    int chunks = 0;
    if (int32_t status = plugin_.complete(router_, &bytes, QC_FORMAT_JSON, &OnChunk, &chunks, &out);
        status != QC_OK) {
      std::fprintf(stderr, "quantclaw_agent_host: complete failed (status %d): %s\n", static_cast<int>(status),
                   plugin_.last_error());
      return std::nullopt;
    }
    json::value response = json::parse(std::string_view(reinterpret_cast<const char*>(out.data), out.size));
    plugin_.buffer_free(&out);
    StepResult step;
    step.chunks = chunks;
    const json::value* tier = Find(response, {"quantclaw", "tier"});
    step.tier = tier != nullptr && tier->is_string() ? std::string(tier->get_string()) : "?";
    const json::value* reason = Find(response, {"quantclaw", "reason"});
    step.reason = reason != nullptr && reason->is_string() ? std::string(reason->get_string()) : "";
    // What a hand-off moved and what it cost, beside the reason that names it.
    if (const json::value* handoff = Find(response, {"quantclaw", "handoff"}); handoff != nullptr && handoff->is_object()) {
      const json::value* ok = Find(*handoff, {"ok"});
      char text[160];
      std::snprintf(text, sizeof text, " [hand-off %s: %.1f MB, save %.1f ms, restore %.1f ms]",
                    ok != nullptr && ok->is_bool() && ok->get_bool() ? "arrived" : "failed",
                    Number(Find(*handoff, {"bytes"})) / 1e6, Number(Find(*handoff, {"save_ms"})),
                    Number(Find(*handoff, {"restore_ms"})));
      step.reason += text;
    }
    step.prompt_tokens = Int(Find(response, {"usage", "prompt_tokens"}));
    step.cached_tokens = Int(Find(response, {"usage", "prompt_tokens_details", "cached_tokens"}));
    step.completion_tokens = Int(Find(response, {"usage", "completion_tokens"}));
    step.first_byte_ms = Number(Find(response, {"quantclaw", "time_to_first_byte_ms"}));
    step.latency_ms = Number(Find(response, {"quantclaw", "latency_ms"}));
    const TierCost& cost = costs_[step.tier];
    step.cost = (double(step.prompt_tokens) * cost.input_per_mtok + double(step.completion_tokens) * cost.output_per_mtok) / 1e6;
    return step;
  }

  // The recorded verdict on a step, for the tier that served that step in this pass.
  bool ReportOutcome(json::object outcome, const std::string& session_suffix,
                     std::map<std::string, std::map<int64_t, std::string>>& tier_of_step) {
    if (plugin_.report_outcome == nullptr) return true;  // a library without it: nothing to tell
    const json::value* id = outcome.if_contains("session_id");
    const std::string session =
        (id != nullptr && id->is_string() ? std::string(id->get_string()) : "episode") + session_suffix;
    outcome["session_id"] = session;
    // Tokens and latency of the call were recorded by qc_complete itself; only the verdict is news.
    for (const char* measured : {"tier_name", "input_tokens", "output_tokens", "latency_ms"}) outcome.erase(measured);
    const std::map<int64_t, std::string>& served_by = tier_of_step[session];
    auto served = served_by.find(Int(outcome.if_contains("step_index")));
    if (served != served_by.end()) outcome["tier_name"] = served->second;
    const std::string text = json::serialize(outcome);
    qc_bytes bytes = {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
    if (int32_t status = plugin_.report_outcome(router_, &bytes, QC_FORMAT_JSON); status != QC_OK) {
      std::fprintf(stderr, "quantclaw_agent_host: report_outcome failed (status %d): %s\n", static_cast<int>(status),
                   plugin_.last_error());
      return false;
    }
    const json::value* valid = outcome.if_contains("tool_call_valid");
    if (valid != nullptr && valid->is_bool() && !valid->get_bool()) {
      std::printf("     outcome: the tool call of step %" PRId64 " was invalid (reported)\n",
                  Int(outcome.if_contains("step_index")));
    }
    return true;
  }

  // POST /slots/{i}?action=erase on every slot of every tier; whether all of them answered 200.
  bool EraseSlots() const {
    if (erase_urls_.empty()) return false;
    bool all = true;
    for (const std::string& url : erase_urls_) all = Post(url, "{}", nullptr) == 200 && all;
    return all;
  }

 public:
  // llama-server's slot-erase URLs of every tier (empty: a tier is not known to be llama-server).
  void set_erase_urls(std::vector<std::string> urls) { erase_urls_ = std::move(urls); }
  // The quality proxy's probes (null: none).
  void set_probe(QualityProbe* probe) { probe_ = probe; }

 private:
  std::vector<std::string> erase_urls_;
  QualityProbe* probe_ = nullptr;
  std::vector<std::vector<int64_t>> reference_top1_;  // the reference pass's, per step
  const qc_plugin& plugin_;
  qc_router* router_ = nullptr;
  std::map<std::string, TierCost> costs_;
  int max_tokens_;
  bool mark_passes_;
  bool send_response_format_;
};

// One counter from qc_metrics' Prometheus text (an unlabelled sample), or -1 when it is not there.
double Counter(const std::string& text, std::string_view name) {
  size_t at = 0;
  while ((at = text.find(name, at)) != std::string::npos) {
    const bool line_start = at == 0 || text[at - 1] == '\n';
    const size_t after = at + name.size();
    if (line_start && after < text.size() && text[after] == ' ') return std::strtod(text.c_str() + after + 1, nullptr);
    at = after;
  }
  return -1;
}

struct ShadowCounts {
  double sampled = -1, scored = 0, failed = 0, dropped = 0, written = 0;
};

std::optional<ShadowCounts> ReadShadowCounts(const qc_plugin& plugin, qc_router* router) {
  if (plugin.metrics == nullptr) return std::nullopt;
  qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
  if (plugin.metrics(router, &out) != QC_OK) return std::nullopt;
  std::string text(reinterpret_cast<const char*>(out.data), out.size);
  plugin.buffer_free(&out);
  ShadowCounts counts;
  counts.sampled = Counter(text, "quantclaw_shadow_sampled_total");
  counts.scored = Counter(text, "quantclaw_shadow_scored_total");
  counts.failed = Counter(text, "quantclaw_shadow_failed_total");
  counts.dropped = Counter(text, "quantclaw_shadow_dropped_total");
  counts.written = Counter(text, "quantclaw_trace_records_written_total");
  return counts;
}

// Until every sampled step was scored, failed or dropped (a failed trace write after a good score counts
// once in each, so this can end one job early only when writes fail), or `seconds` passed.
void WaitForShadow(const qc_plugin& plugin, qc_router* router, double seconds) {
  const auto start = std::chrono::steady_clock::now();
  std::optional<ShadowCounts> counts = ReadShadowCounts(plugin, router);
  if (!counts || counts->sampled <= 0) return;  // shadow sampling is off, or sampled nothing
  bool done = false;
  for (;;) {
    done = counts->scored + counts->failed + counts->dropped >= counts->sampled;
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (done || waited >= seconds) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    counts = ReadShadowCounts(plugin, router);
    if (!counts) return;
  }
  std::printf("shadow: %.0f sampled, %.0f scored, %.0f failed, %.0f dropped, %.0f trace records written (waited %.1f s%s)\n",
              counts->sampled, counts->scored, counts->failed, counts->dropped, counts->written,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
              done ? "" : ", gave up: the rest is dropped");
}

void PrintTotals(const char* label, const PassTotals& totals) {
  std::printf("%-22s %2d steps  %7" PRId64 " prompt + %5" PRId64 " output tokens  cost $%.6f  latency %7.1f ms  tiers:",
              label, totals.steps, totals.prompt_tokens, totals.completion_tokens, totals.cost, totals.latency_ms);
  for (const auto& [tier, steps] : totals.steps_by_tier) std::printf(" %s %d", tier.c_str(), steps);
  std::printf("\n");
}

struct Options {
  int max_tokens = 64;
  bool routed_only = false;
  double shadow_wait_seconds = 600;
  bool send_response_format = false;
};

int Run(const std::string& library_path, const std::string& config_path, const std::string& episode_path,
        const Options& options) {
  boost::dll::shared_library library(library_path,
                                     boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
  auto& entry = library.get<const qc_plugin*(uint32_t)>(QC_PLUGIN_ENTRY_SYMBOL);
  const qc_plugin* table = entry(QC_ABI_VERSION_MAJOR);
  // qc_complete arrived in ABI 1.1, at the end of the table: an older library's table is shorter.
  if (table == nullptr || table->struct_size < offsetof(qc_plugin, complete) + sizeof(table->complete) ||
      table->complete == nullptr) {
    std::fprintf(stderr, "quantclaw_agent_host: %s does not implement qc_complete (ABI 1.1)\n", library_path.c_str());
    return kExitUsage;
  }
  const qc_plugin& plugin = *table;

  std::optional<std::string> config_text = ReadFile(config_path);
  std::optional<std::string> episode_text = ReadFile(episode_path);
  if (!config_text || !episode_text) {
    std::fprintf(stderr, "quantclaw_agent_host: cannot read %s\n", !config_text ? config_path.c_str() : episode_path.c_str());
    return kExitUsage;
  }
  // The host reads its own config for the prices; the library validates it (router_new below).
  boost::system::error_code ec;
  json::value config = json::parse(*config_text, ec);
  std::map<std::string, TierCost> costs;
  std::string reference, cheapest;
  std::map<std::string, std::string> base_urls;
  // The servers' roots (base URL less /v1) and slot counts: llama-server tiers declare their slots with
  // a llama_slots hand-off; a tier without one makes the passes mark their prompts instead.
  std::vector<std::string> erase_urls;
  bool erasable = true;
  bool one_slot_each = true;                        // what the quality proxy's probes need
  std::map<std::string, std::string> slot_dirs;     // by tier: the llama_slots hand-off's slot_dir
  const auto root_of = [](std::string url) {
    if (url.size() >= 3 && url.compare(url.size() - 3, 3, "/v1") == 0) url.resize(url.size() - 3);
    return url;
  };
  if (!ec) {
    if (const json::value* tiers = Find(config, {"tiers"}); tiers != nullptr && tiers->is_array()) {
      for (const json::value& tier : tiers->get_array()) {
        const json::value* name = Find(tier, {"name"});
        if (name == nullptr || !name->is_string()) continue;
        costs[std::string(name->get_string())] = {Number(Find(tier, {"cost", "input_per_mtok"})),
                                                  Number(Find(tier, {"cost", "output_per_mtok"}))};
        reference = name->get_string();  // without reference_tier: the last listed, as a fallback only
        if (const json::value* url = Find(tier, {"base_url"}); url != nullptr && url->is_string()) {
          base_urls[reference] = url->get_string();
        }
        const json::value* kind = Find(tier, {"handoff", "kind"});
        if (kind == nullptr || !kind->is_string() || kind->get_string() != "llama_slots") {
          erasable = false;
        } else {
          const int64_t slots = std::max<int64_t>(1, Int(Find(tier, {"handoff", "slots"})));
          one_slot_each = one_slot_each && slots == 1;
          if (const json::value* dir = Find(tier, {"handoff", "slot_dir"}); dir != nullptr && dir->is_string()) {
            slot_dirs[reference] = dir->get_string();
          }
          for (int64_t i = 0; i < slots; ++i) {
            erase_urls.push_back(root_of(base_urls[reference]) + "/slots/" + std::to_string(i) + "?action=erase");
          }
        }
        const TierCost& cost = costs[reference];
        if (cheapest.empty() || cost.output_per_mtok < costs[cheapest].output_per_mtok) cheapest = reference;
      }
    }
    if (const json::value* named = Find(config, {"reference_tier"}); named != nullptr && named->is_string()) {
      reference = named->get_string();
    }
  }
  std::vector<json::object> lines;
  std::istringstream episode(*episode_text);
  std::string text;
  int line_number = 0;
  while (std::getline(episode, text)) {
    ++line_number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    json::value line = json::parse(text, ec);
    if (ec || !line.is_object()) {
      std::fprintf(stderr, "quantclaw_agent_host: %s:%d is not a JSON object\n", episode_path.c_str(), line_number);
      return kExitUsage;
    }
    lines.push_back(std::move(line.get_object()));
  }

  // Two routers: the routed pass's, fresh as a host's would be, and the forced passes'.
  qc_router* router = nullptr;
  qc_router* forced_router = nullptr;
  for (qc_router** made : {&router, &forced_router}) {
    if (made == &forced_router && options.routed_only) break;
    if (int32_t status = plugin.router_new(config_text->data(), config_text->size(), made); status != QC_OK) {
      std::fprintf(stderr, "quantclaw_agent_host: router_new failed (status %d):\n%s\n", static_cast<int>(status),
                   plugin.last_error());
      if (router != nullptr) plugin.router_free(router);
      return kExitCallFailed;
    }
  }
  const auto free_routers = [&] {
    WaitForShadow(plugin, router, options.shadow_wait_seconds);
    plugin.router_free(router);
    if (forced_router != nullptr) plugin.router_free(forced_router);
  };
  Agent agent(plugin, costs, options.max_tokens, !options.routed_only, options.send_response_format);
  if (erasable && !options.routed_only) agent.set_erase_urls(std::move(erase_urls));
  std::optional<QualityProbe> probe;
  if (erasable && one_slot_each && !options.routed_only) {
    std::map<std::string, std::string> roots;
    for (const auto& [tier, url] : base_urls) roots[tier] = root_of(url);
    probe.emplace(std::move(roots), std::move(slot_dirs), reference, options.max_tokens);
    agent.set_probe(&*probe);
  }

  std::optional<PassTotals> all_reference;
  if (!options.routed_only) {
    std::printf("== every step on the reference tier (%s)\n", reference.c_str());
    all_reference = agent.Run(forced_router, lines, "reference", "-reference", reference, true);
    if (!all_reference) {
      free_routers();
      return kExitCallFailed;
    }
    std::printf("\n");
  }
  std::printf("== routed by quantclaw\n");
  const auto start = std::chrono::steady_clock::now();
  std::optional<PassTotals> routed = agent.Run(router, lines, "routed", "", "", false);
  const double routed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (routed) {
    std::printf("routed pass: %d steps in %.1f s, %.2f steps/s\n", routed->steps, routed_seconds,
                routed_seconds > 0 ? routed->steps / routed_seconds : 0.0);
  }
  if (options.routed_only) {
    if (routed) {
      std::printf("\n");
      PrintTotals("routed", *routed);
    }
    free_routers();
    return routed ? 0 : kExitCallFailed;
  }
  std::optional<PassTotals> all_cheapest;
  if (routed && !cheapest.empty() && cheapest != reference) {
    std::printf("\n== every step on the cheapest tier (%s)\n", cheapest.c_str());
    all_cheapest = agent.Run(forced_router, lines, "cheapest", "-cheapest", cheapest, false);
    if (!all_cheapest) {
      free_routers();
      return kExitCallFailed;
    }
  }
  if (routed) {
    const auto ratio = [](double part, double whole) { return whole > 0 ? part / whole : 0.0; };
    std::printf("\n");
    PrintTotals("routed", *routed);
    PrintTotals(("all on " + reference).c_str(), *all_reference);
    if (all_cheapest) PrintTotals(("all on " + cheapest).c_str(), *all_cheapest);
    const double routed_agreement = probe ? MeanAgreement(*all_reference, *routed) : -1;
    if (probe && routed_agreement < 0) {
      std::printf("quality proxy: none (no step's probes answered: the servers need --slot-save-path for the probes' "
                  "slot save, and /completion with return_tokens)\n");
    } else if (probe) {
      std::printf("quality proxy: teacher-forced top-1 agreement with all on %s (mean over steps): routed %.3f",
                  reference.c_str(), routed_agreement);
      if (all_cheapest) std::printf(", all on %s %.3f", cheapest.c_str(), MeanAgreement(*all_reference, *all_cheapest));
      std::printf("\n");
      int found = 0, missed = 0;
      for (const PassTotals* pass : {&*all_reference, &*routed, all_cheapest ? &*all_cheapest : nullptr}) {
        if (pass != nullptr) found += pass->probes_found_cache, missed += pass->probes_missed_cache;
      }
      std::printf("  the probes found the call's cache in %d of %d steps%s\n", found, found + missed,
                  missed > 0 ? " (the rest were prefilled again by the probing tier: read those with care)" : "");
      // Per step, so that a mean is not read alone.
      for (const auto& [label, pass] : {std::pair<std::string, const PassTotals*>{"routed", &*routed},
                                        {"all on " + cheapest, all_cheapest ? &*all_cheapest : nullptr}}) {
        if (pass == nullptr) continue;
        std::printf("  per step, %s:", label.c_str());
        for (size_t i = 0; i < all_reference->top1.size() && i < pass->top1.size(); ++i) {
          std::printf(" %.2f", Agreement(all_reference->top1[i], pass->top1[i]));
        }
        std::printf("\n");
      }
    } else {
      std::printf("quality proxy: none (it needs every tier a llama-server with one slot, declared by a llama_slots "
                  "hand-off)\n");
    }
    if (all_cheapest) {
      std::printf("all on %s / all on %s: cost %.2f, latency %.2f\n", cheapest.c_str(), reference.c_str(),
                  ratio(all_cheapest->cost, all_reference->cost), ratio(all_cheapest->latency_ms, all_reference->latency_ms));
    }
    std::printf("routed / all on %s: cost %.2f, latency %.2f\n", reference.c_str(),
                ratio(routed->cost, all_reference->cost), ratio(routed->latency_ms, all_reference->latency_ms));
  }
  free_routers();
  return routed ? 0 : kExitCallFailed;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string_view argument = argv[i];
    if (argument == "--max-tokens" && i + 1 < argc) {
      options.max_tokens = std::atoi(argv[++i]);
    } else if (argument == "--shadow-wait" && i + 1 < argc) {
      options.shadow_wait_seconds = std::atof(argv[++i]);
    } else if (argument == "--routed-only") {
      options.routed_only = true;
    } else if (argument == "--response-format") {
      options.send_response_format = true;
    } else {
      positional.emplace_back(argument);
    }
  }
  if (positional.size() != 3 || options.max_tokens <= 0 || options.shadow_wait_seconds < 0) {
    std::fprintf(stderr,
                 "usage: %s LIBRARY.so CONFIG.json EPISODE.jsonl [--max-tokens N] [--routed-only]\n"
                 "                            [--shadow-wait SECONDS] [--response-format]\n"
                 "  LIBRARY.so \"-\" means $%s, else %s\n",
                 argc > 0 ? argv[0] : "quantclaw_agent_host", kPluginEnvironmentVariable, kPluginsDirectoryPath);
    return kExitUsage;
  }
  std::string library_path = positional[0];
  if (library_path == "-") {
    const char* from_environment = std::getenv(kPluginEnvironmentVariable);
    library_path = from_environment != nullptr && *from_environment != '\0' ? from_environment : kPluginsDirectoryPath;
  }
  try {
    return Run(library_path, positional[1], positional[2], options);
  } catch (const std::exception& error) {
    // Boost.DLL reports a library that will not load, or a missing symbol, as a system_error.
    std::fprintf(stderr, "quantclaw_agent_host: %s: %s\n", library_path.c_str(), error.what());
  }
  return kExitUsage;
}
