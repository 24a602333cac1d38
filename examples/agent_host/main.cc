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
// It runs the episode three times: routed, with every step forced onto the reference tier, and with every
// step forced onto the cheapest tier (the lowest output price; skipped when that is the reference), and
// prints per step the tier, tokens and latency, then the cost and latency of each pass against the
// reference and a quality proxy: the top-1 agreement of each step's generated tokens with the reference
// pass's (greedy decoding at temperature 0; position by position, the share of the reference's tokens
// matched, averaged over steps). llama-server refuses logprobs on a streamed request with tools, so the
// tokens are the answer's text (content and tool calls) tokenized by the reference tier's /tokenize:
// one tokenizer for every tier of the model, and for greedy output the tokens it generated.
//
// Each pass starts cold. Where every tier declares a llama_slots hand-off (so is a llama-server with a
// known slot count), the host erases every slot before a pass and the passes send identical prompts;
// start the servers with --cache-ram 0 (LLAMA_ARG_CACHE_RAM=0), or llama-server's RAM prompt cache
// hands a pass the previous one's prompts. Elsewhere each pass opens its conversation with its own first
// words, which keeps the caches apart but makes the quality proxy compare different prompts. Costs are the config's tiers[].cost (per million
// tokens). --routed-only skips the other passes: what collecting shadow-sampled traces needs
// (`cmake/quantclaw-dev.sh learn`).
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
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

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
  std::vector<std::string> tokens;  // the generated tokens, from the answer's logprobs
};

struct PassTotals {
  int steps = 0;
  double cost = 0, latency_ms = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::map<std::string, int> steps_by_tier;
  std::vector<std::vector<std::string>> tokens;  // per step, in episode order
};

// The share of `reference`'s tokens that `other` matches position by position (greedy decoding: where the
// two tiers' top-1 choices agree until they diverge, and by chance after).
double Agreement(const std::vector<std::string>& reference, const std::vector<std::string>& other) {
  if (reference.empty()) return 1;
  size_t same = 0;
  for (size_t i = 0; i < reference.size(); ++i) same += i < other.size() && other[i] == reference[i];
  return double(same) / double(reference.size());
}

// The mean agreement over the steps both passes generated tokens for; -1 when none had tokens.
double MeanAgreement(const PassTotals& reference, const PassTotals& other) {
  double sum = 0;
  int steps = 0;
  for (size_t i = 0; i < reference.tokens.size() && i < other.tokens.size(); ++i) {
    if (reference.tokens[i].empty() && other.tokens[i].empty()) continue;
    sum += Agreement(reference.tokens[i], other.tokens[i]);
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

class Agent {
 public:
  Agent(const qc_plugin& plugin, qc_router* router, std::map<std::string, TierCost> costs, int max_tokens,
        bool mark_passes, bool send_response_format)
      : plugin_(plugin), router_(router), costs_(std::move(costs)), max_tokens_(max_tokens),
        mark_passes_(mark_passes), send_response_format_(send_response_format) {}

  // One pass over the episode. `force_tier` empty: routed; else every step goes there.
  std::optional<PassTotals> Run(const std::vector<json::object>& lines, const std::string& pass,
                                const std::string& session_suffix, const std::string& force_tier) {
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
      json::object request{{"session_id", session}, {"body", std::move(body)}, {"hints", std::move(hints)}};
      std::optional<StepResult> step = Complete(json::serialize(request));
      if (!step) return std::nullopt;
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
      totals.tokens.push_back(std::move(step->tokens));
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
    step.prompt_tokens = Int(Find(response, {"usage", "prompt_tokens"}));
    step.cached_tokens = Int(Find(response, {"usage", "prompt_tokens_details", "cached_tokens"}));
    step.completion_tokens = Int(Find(response, {"usage", "completion_tokens"}));
    step.first_byte_ms = Number(Find(response, {"quantclaw", "time_to_first_byte_ms"}));
    step.latency_ms = Number(Find(response, {"quantclaw", "latency_ms"}));
    if (!tokenize_url_.empty()) step.tokens = Tokenize(tokenize_url_, GeneratedText(response));
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

  // A POST with a JSON body; the HTTP status (0 when none came), the answer into `answer` if given.
  static long Post(const std::string& url, const std::string& body, std::string* answer) {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return 0;
    std::string ignored;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
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

  // What the model generated: the message's content, then each tool call's name and arguments.
  static std::string GeneratedText(const json::value& response) {
    const json::value* choices = Find(response, {"choices"});
    if (choices == nullptr || !choices->is_array() || choices->get_array().empty()) return "";
    const json::value& choice = choices->get_array()[0];
    std::string text;
    if (const json::value* content = Find(choice, {"message", "content"}); content && content->is_string()) {
      text = content->get_string();
    }
    if (const json::value* calls = Find(choice, {"message", "tool_calls"}); calls && calls->is_array()) {
      for (const json::value& call : calls->get_array()) {
        for (const char* key : {"name", "arguments"}) {
          if (const json::value* part = Find(call, {"function", key}); part && part->is_string()) {
            text += part->get_string();
          }
        }
      }
    }
    return text;
  }

  // llama-server's POST /tokenize: the ids of `text`, as strings; empty when the server cannot.
  static std::vector<std::string> Tokenize(const std::string& url, const std::string& text) {
    std::vector<std::string> tokens;
    if (text.empty()) return tokens;
    std::string answer;
    if (Post(url, json::serialize(json::object{{"content", text}}), &answer) != 200) return tokens;
    boost::system::error_code ec;
    json::value parsed = json::parse(answer, ec);
    const json::value* ids = ec ? nullptr : Find(parsed, {"tokens"});
    if (ids == nullptr || !ids->is_array()) return tokens;
    for (const json::value& id : ids->get_array()) tokens.push_back(json::serialize(id));
    return tokens;
  }

 public:
  // The reference tier's /tokenize (its base URL less a trailing /v1); empty: no quality proxy.
  void set_tokenize_url(std::string url) { tokenize_url_ = std::move(url); }
  // llama-server's slot-erase URLs of every tier (empty: a tier is not known to be llama-server).
  void set_erase_urls(std::vector<std::string> urls) { erase_urls_ = std::move(urls); }

 private:
  std::string tokenize_url_;
  std::vector<std::string> erase_urls_;
  const qc_plugin& plugin_;
  qc_router* router_;
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

  qc_router* router = nullptr;
  if (int32_t status = plugin.router_new(config_text->data(), config_text->size(), &router); status != QC_OK) {
    std::fprintf(stderr, "quantclaw_agent_host: router_new failed (status %d):\n%s\n", static_cast<int>(status),
                 plugin.last_error());
    return kExitCallFailed;
  }
  Agent agent(plugin, router, costs, options.max_tokens, !options.routed_only,
              options.send_response_format);
  if (const std::string url = base_urls[reference]; !url.empty() && !options.routed_only) {
    agent.set_tokenize_url(root_of(url) + "/tokenize");
  }
  if (erasable && !options.routed_only) agent.set_erase_urls(std::move(erase_urls));
  std::printf("== routed by quantclaw\n");
  const auto start = std::chrono::steady_clock::now();
  std::optional<PassTotals> routed = agent.Run(lines, "routed", "", "");
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
    WaitForShadow(plugin, router, options.shadow_wait_seconds);
    plugin.router_free(router);
    return routed ? 0 : kExitCallFailed;
  }
  std::optional<PassTotals> all_reference;
  if (routed) {
    std::printf("\n== every step on the reference tier (%s)\n", reference.c_str());
    all_reference = agent.Run(lines, "reference", "-reference", reference);
  }
  std::optional<PassTotals> all_cheapest;
  if (routed && all_reference && !cheapest.empty() && cheapest != reference) {
    std::printf("\n== every step on the cheapest tier (%s)\n", cheapest.c_str());
    all_cheapest = agent.Run(lines, "cheapest", "-cheapest", cheapest);
    if (!all_cheapest) return kExitCallFailed;
  }
  if (routed && all_reference) {
    const auto ratio = [](double part, double whole) { return whole > 0 ? part / whole : 0.0; };
    std::printf("\n");
    PrintTotals("routed", *routed);
    PrintTotals(("all on " + reference).c_str(), *all_reference);
    if (all_cheapest) PrintTotals(("all on " + cheapest).c_str(), *all_cheapest);
    std::printf("quality proxy: top-1 agreement of the generated tokens with all on %s (mean over steps): routed %.3f",
                reference.c_str(), MeanAgreement(*all_reference, *routed));
    if (all_cheapest) std::printf(", all on %s %.3f", cheapest.c_str(), MeanAgreement(*all_reference, *all_cheapest));
    std::printf("\n");
    // Per step, so that a mean is not read alone.
    for (const auto& [label, pass] : {std::pair<std::string, const PassTotals*>{"routed", &*routed},
                                      {"all on " + cheapest, all_cheapest ? &*all_cheapest : nullptr}}) {
      if (pass == nullptr) continue;
      std::printf("  per step, %s:", label.c_str());
      for (size_t i = 0; i < all_reference->tokens.size() && i < pass->tokens.size(); ++i) {
        std::printf(" %.2f", Agreement(all_reference->tokens[i], pass->tokens[i]));
      }
      std::printf("\n");
    }
    if (all_cheapest) {
      std::printf("all on %s / all on %s: cost %.2f, latency %.2f\n", cheapest.c_str(), reference.c_str(),
                  ratio(all_cheapest->cost, all_reference->cost), ratio(all_cheapest->latency_ms, all_reference->latency_ms));
    }
    std::printf("routed / all on %s: cost %.2f, latency %.2f\n", reference.c_str(),
                ratio(routed->cost, all_reference->cost), ratio(routed->latency_ms, all_reference->latency_ms));
  }
  WaitForShadow(plugin, router, options.shadow_wait_seconds);
  plugin.router_free(router);
  return routed && all_reference ? 0 : kExitCallFailed;
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
