// The Mix-Quant split measured side by side through qc_complete, in one run, on two real llama-server
// tiers sharing a slot folder: a long-prompt step
//   ref cold   forced onto the reference tier (f16), nothing cached: its prefill and decode
//   low cold   forced onto the quantized tier (q4_0), nothing cached
//   split      prefill on q4_0, the KV cache moved by slot file, decode on f16 (backend/handoff.h)
//   ref again  the reference once more, cold: the control (greedy decoding is deterministic, so it agrees
//              fully unless the server is not)
// Reported per mode (median of --runs): time to first token as the host sees it (qc_complete's first
// streamed chunk), total time; for the split the hand-off's own cost (prefill call, save, restore, bytes).
//
// Quality, two ways, each against the reference:
//   teacher-forced  after each mode's call its server still holds that call's prompt cache in its one
//                   slot (the split's: the prompt's KV computed on q4_0, restored into f16). Position by
//                   position along the reference's greedy answer, that server's next-token choice given
//                   the prompt and the reference's tokens before it (llama-server's /completion with the
//                   prompt as token ids, n_predict 1, the cache reused): the share of positions whose
//                   top-1 is the reference's token. Every position compares one step of decoding, so an
//                   early difference does not decide the rest. The first probe's evaluated prompt
//                   tokens show that the cache was reused (1: only the last prompt token recomputed).
//   free-running    the greedy answers themselves, position by position, and their common prefix: after
//                   the first different token the two continue from different texts, so this mostly
//                   measures where they first diverge.
// Every slot of both servers is erased before each call, so every mode starts cold.
//
//   quantclaw_handoff_measure [--ref MODEL.gguf] [--low MODEL.gguf] [--prompt-words N] [--decode N] [--runs R]
//
// Models default to the tiny ones of cmake/llama-tiers.sh (tiny-f16.gguf, tiny-q4_0.gguf); give the
// bigger model's files to measure it.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <curl/curl.h>

#include "../tiers/llama_tiers.h"
#include "quantclaw/quantclaw.h"

namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

struct Call {
  bool ok = false;
  std::string error;
  double ttft_ms = 0, total_ms = 0;
  json::value response;
  std::vector<std::string> tokens;
};

struct Stream {
  Clock::time_point start;
  double first_ms = -1;
};

int32_t OnChunk(void* user, const uint8_t*, size_t) {
  auto* stream = static_cast<Stream*>(user);
  if (stream->first_ms < 0) {
    stream->first_ms = std::chrono::duration<double, std::milli>(Clock::now() - stream->start).count();
  }
  return 0;
}

void Erase(int port, int slots) {
  for (int slot = 0; slot < slots; ++slot) {
    CURL* curl = curl_easy_init();
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/slots/" + std::to_string(slot) + "?action=erase";
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t count, void*) { return size * count; });
    curl_easy_perform(curl);
    curl_easy_cleanup(curl);
  }
}

// POST `body` to the server's native `path`; the answer parsed, or null when the call or the parse failed.
json::value PostJson(int port, const std::string& path, const json::value& body) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return nullptr;
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  const std::string text = json::serialize(body);
  std::string answer;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  });
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  boost::system::error_code ec;
  json::value parsed = status == 200 ? json::parse(answer, ec) : json::value();
  return ec ? json::value() : parsed;
}

json::array Messages(const std::string& prompt) {
  return json::array{json::object{{"role", "system"}, {"content", "You are an agent."}},
                     json::object{{"role", "user"}, {"content", prompt}}};
}

// The token ids the chat endpoint builds for `prompt`: its own template (/apply-template), then
// /tokenize with the special tokens, as the chat endpoint tokenizes. Empty on failure.
std::vector<int64_t> PromptTokens(int port, const std::string& prompt) {
  std::vector<int64_t> tokens;
  const json::value templated = PostJson(port, "/apply-template", json::object{{"messages", Messages(prompt)}});
  const json::value* text = templated.is_object() ? templated.get_object().if_contains("prompt") : nullptr;
  if (text == nullptr || !text->is_string()) return tokens;
  const json::value ids =
      PostJson(port, "/tokenize", json::object{{"content", *text}, {"add_special", true}, {"parse_special", true}});
  const json::value* list = ids.is_object() ? ids.get_object().if_contains("tokens") : nullptr;
  if (list == nullptr || !list->is_array()) return tokens;
  for (const json::value& id : list->get_array()) {
    if (id.is_int64()) tokens.push_back(id.get_int64());
  }
  return tokens;
}

// The server's greedy next token after `context` (token ids) in slot 0, reusing its prompt cache, and
// how many tokens of `context` it evaluated (the rest came from the cache). token -1: no answer.
struct NextToken {
  int64_t token = -1;
  int64_t evaluated = -1;
};

NextToken Next(int port, const std::vector<int64_t>& context) {
  json::array prompt(context.begin(), context.end());
  const json::value answer = PostJson(port, "/completion",
                                      json::object{{"prompt", std::move(prompt)}, {"n_predict", 1},
                                                   {"temperature", 0}, {"cache_prompt", true}, {"id_slot", 0},
                                                   {"return_tokens", true}});
  NextToken next;
  if (!answer.is_object()) return next;
  // return_tokens lists the generated id even when llama-server holds back text that ends inside a
  // UTF-8 character.
  if (const json::value* tokens = answer.get_object().if_contains("tokens");
      tokens != nullptr && tokens->is_array() && !tokens->get_array().empty() && tokens->get_array()[0].is_int64()) {
    next.token = tokens->get_array()[0].get_int64();
  }
  boost::system::error_code ec;
  if (const json::value* n = answer.find_pointer("/timings/prompt_n", ec); n != nullptr && n->is_int64()) {
    next.evaluated = n->get_int64();
  }
  return next;
}

// Teacher forcing along `forced` (empty: the server's own greedy answer, built as it goes, which is
// what the reference's probes make). The top-1 at each of `positions` positions, and what the first
// probe evaluated.
struct Forced {
  std::vector<int64_t> top1;
  int64_t first_evaluated = -1;
};

Forced TeacherForce(int port, const std::vector<int64_t>& prompt, const std::vector<int64_t>& forced, int positions) {
  Forced result;
  std::vector<int64_t> context = prompt;
  for (int position = 0; position < positions; ++position) {
    const NextToken next = Next(port, context);
    if (position == 0) result.first_evaluated = next.evaluated;
    result.top1.push_back(next.token);
    if (forced.empty() && next.token < 0) break;  // no greedy answer to go on from
    context.push_back(forced.empty() ? next.token : forced[size_t(position)]);
  }
  return result;
}

// The share of the reference's positions whose top-1 the other matches.
double Share(const std::vector<int64_t>& reference, const std::vector<int64_t>& other) {
  size_t same = 0, compared = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    if (reference[i] < 0) continue;
    ++compared;
    same += i < other.size() && other[i] == reference[i];
  }
  return compared == 0 ? 0 : double(same) / double(compared);
}

Call Complete(qc_router* router, const std::string& session, const std::string& prompt, const char* force_tier,
              int decode_tokens) {
  json::object body{{"model", "auto"},
                    {"messages", Messages(prompt)},
                    {"max_tokens", decode_tokens},
                    {"ignore_eos", true},
                    {"temperature", 0},
                    {"logprobs", true},
                    {"top_logprobs", 1},
                    {"stream", true}};
  json::object request{{"session_id", session}, {"body", std::move(body)}};
  if (force_tier != nullptr) request["hints"] = json::object{{"force_tier", force_tier}};
  const std::string bytes = json::serialize(request);
  qc_bytes in = {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
  qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
  Stream stream{Clock::now()};
  Call call;
  const int32_t status = qc_complete(router, &in, QC_FORMAT_JSON, &OnChunk, &stream, &out);
  call.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - stream.start).count();
  call.ttft_ms = stream.first_ms;
  if (status != QC_OK) {
    call.error = qc_last_error();
    return call;
  }
  call.response = json::parse(std::string_view(reinterpret_cast<const char*>(out.data), out.size));
  qc_buffer_free(&out);
  call.ok = true;
  const json::object& choice = call.response.at("choices").at(0).as_object();
  if (const json::value* logprobs = choice.if_contains("logprobs"); logprobs && logprobs->is_object()) {
    if (const json::value* content = logprobs->get_object().if_contains("content"); content && content->is_array()) {
      for (const json::value& entry : content->get_array()) {
        call.tokens.emplace_back(entry.at("token").as_string());
      }
    }
  }
  return call;
}

struct Agreement {
  double position_share = 0;  // positions where the two agree / the reference's length
  size_t common_prefix = 0;
};

Agreement Agree(const std::vector<std::string>& reference, const std::vector<std::string>& other) {
  Agreement agreement;
  size_t same = 0;
  bool diverged = false;
  for (size_t i = 0; i < reference.size(); ++i) {
    const bool equal = i < other.size() && other[i] == reference[i];
    same += equal;
    if (!equal) diverged = true;
    if (!diverged) ++agreement.common_prefix;
  }
  agreement.position_share = reference.empty() ? 0 : double(same) / double(reference.size());
  return agreement;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double Number(const json::value& handoff, const char* key) {
  const json::value* value = handoff.is_object() ? handoff.get_object().if_contains(key) : nullptr;
  if (value == nullptr) return -1;
  return value->is_double() ? value->get_double() : value->is_int64() ? double(value->get_int64()) : value->is_uint64() ? double(value->get_uint64()) : -1;
}

std::string Tier(const std::string& name, const std::string& format, const std::string& alias, int port,
                 const std::string& slot_dir) {
  return R"({"name":")" + name + R"(","format":")" + format + R"(","model":")" + alias +
         R"(","base_url":"http://127.0.0.1:)" + std::to_string(port) +
         R"(/v1","handoff":{"kind":"llama_slots","group":"cpu","slot_dir":")" + slot_dir + R"(","slots":1}})";
}

}  // namespace

int main(int argc, char** argv) {
  std::string ref_model, low_model;
  int prompt_words = 600, decode_tokens = 32, runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--ref") ref_model = argv[i + 1];
    else if (flag == "--low") low_model = argv[i + 1];
    else if (flag == "--prompt-words") prompt_words = std::atoi(argv[i + 1]);
    else if (flag == "--decode") decode_tokens = std::atoi(argv[i + 1]);
    else if (flag == "--runs") runs = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  quantclaw_test::LlamaPaths paths = quantclaw_test::FindLlama(QC_TIERS_SCRIPT);
  if (!paths.error.empty()) {
    std::fprintf(stderr, "%s\n", paths.error.c_str());
    return 1;
  }
  if (ref_model.empty()) ref_model = paths.models + "/tiny-f16.gguf";
  if (low_model.empty()) low_model = paths.models + "/tiny-q4_0.gguf";
  char slot_template[] = "/tmp/quantclaw-measure-slots-XXXXXX";
  if (mkdtemp(slot_template) == nullptr) return 1;
  const std::string slot_dir = slot_template;
  // One slot per server: the teacher-forced probes then find the mode's cache where its call left it.
  const std::vector<std::string> extra = {"--slot-save-path", slot_dir, "--parallel", "1"};
  quantclaw_test::LlamaServer ref(paths.server, ref_model, "ref", extra);
  quantclaw_test::LlamaServer low(paths.server, low_model, "low", extra);
  if (!ref.Start() || !low.Start()) {
    std::fprintf(stderr, "servers: %s %s\n", ref.error().c_str(), low.error().c_str());
    return 1;
  }
  const std::string config = R"({"tiers":[)" + Tier("low", "q4_0", "low", low.port(), slot_dir) + "," +
                             Tier("ref", "fp16", "ref", ref.port(), slot_dir) +
                             R"(],"policy":{"thresholds":[0.0],"phase_split":{"min_prompt_tokens":256,"prefill_tier":"low","decode_tier":"ref"}}})";
  qc_router* router = nullptr;
  if (qc_router_new(config.data(), config.size(), &router) != QC_OK) {
    std::fprintf(stderr, "config: %s\n", qc_last_error());
    return 1;
  }
  std::printf("models: ref %s, low %s\n", ref_model.c_str(), low_model.c_str());
  std::vector<double> ttft[4], total[4], prefill_ms, save_ms, restore_ms, bytes, tokens, decode_prompt_n;
  std::vector<double> split_share, low_share, split_prefix, low_prefix, control_share;
  std::vector<double> forced_share[4], first_evaluated[4];
  int64_t prompt_tokens = 0;
  const char* names[4] = {"ref cold", "low cold", "split", "ref again"};
  for (int run = 0; run < runs; ++run) {
    std::string prompt = "Run " + std::to_string(run) + ". ";
    const char* words[] = {"the", "tool", "returned", "rows", "costs", "and", "outlook", "for", "quarter", "report"};
    for (int i = 0; i < prompt_words; ++i) prompt += std::string(words[(i * 7 + run) % 10]) + (i % 12 == 11 ? ". " : " ");
    Call calls[4];
    Forced forced[4];
    std::vector<int64_t> prompt_ids;
    for (int mode = 0; mode < 4; ++mode) {
      Erase(ref.port(), 1);
      Erase(low.port(), 1);
      const std::string session = "measure-" + std::to_string(run) + "-" + std::to_string(mode);
      calls[mode] = Complete(router, session, prompt, mode == 0 || mode == 3 ? "ref" : mode == 1 ? "low" : nullptr, decode_tokens);
      if (!calls[mode].ok) {
        std::fprintf(stderr, "%s: %s\n", names[mode], calls[mode].error.c_str());
        return 1;
      }
      ttft[mode].push_back(calls[mode].ttft_ms);
      total[mode].push_back(calls[mode].total_ms);
      // Teacher forcing on the server that decoded, from the cache this call left (untimed).
      if (prompt_ids.empty()) prompt_ids = PromptTokens(ref.port(), prompt);
      if (prompt_ids.empty()) {
        std::fprintf(stderr, "cannot build the prompt's tokens (/apply-template, /tokenize)\n");
        return 1;
      }
      forced[mode] = TeacherForce(mode == 1 ? low.port() : ref.port(), prompt_ids, mode == 0 ? std::vector<int64_t>{} : forced[0].top1,
                                  decode_tokens);
      first_evaluated[mode].push_back(double(forced[mode].first_evaluated));
    }
    for (int mode = 0; mode < 4; ++mode) forced_share[mode].push_back(Share(forced[0].top1, forced[mode].top1));
    prompt_tokens = calls[0].response.at("usage").at("prompt_tokens").to_number<int64_t>();
    const json::value& handoff = calls[2].response.at("quantclaw").as_object().contains("handoff")
                                     ? calls[2].response.at("quantclaw").at("handoff")
                                     : json::value();
    if (Number(handoff, "bytes") < 0 || !handoff.at("ok").as_bool()) {
      std::fprintf(stderr, "the split did not hand off: %s\n", json::serialize(calls[2].response.at("quantclaw")).c_str());
      return 1;
    }
    prefill_ms.push_back(Number(handoff, "prefill_ms"));
    save_ms.push_back(Number(handoff, "save_ms"));
    restore_ms.push_back(Number(handoff, "restore_ms"));
    bytes.push_back(Number(handoff, "bytes"));
    tokens.push_back(Number(handoff, "tokens"));
    // Streamed, the answer carries no llama-server timings; its usage's cached tokens say the same.
    decode_prompt_n.push_back(double(prompt_tokens) - Number(handoff, "decode_cached_tokens"));
    control_share.push_back(Agree(calls[0].tokens, calls[3].tokens).position_share);
    const Agreement split = Agree(calls[0].tokens, calls[2].tokens);
    const Agreement quantized = Agree(calls[0].tokens, calls[1].tokens);
    split_share.push_back(split.position_share);
    low_share.push_back(quantized.position_share);
    split_prefix.push_back(double(split.common_prefix));
    low_prefix.push_back(double(quantized.common_prefix));
    if (calls[0].tokens.empty()) std::fprintf(stderr, "warning: no logprobs tokens in the answers\n");
  }
  std::printf("prompt %lld tokens, %d decoded tokens, %d runs (medians)\n", static_cast<long long>(prompt_tokens),
              decode_tokens, runs);
  std::printf("%-9s %12s %12s\n", "mode", "ttft_ms", "total_ms");
  for (int mode = 0; mode < 4; ++mode) {
    std::printf("%-9s %12.1f %12.1f\n", names[mode], Median(ttft[mode]), Median(total[mode]));
  }
  std::printf("split: prefill on low %.1f ms, save %.1f ms, restore %.1f ms, %.0f bytes, %.0f tokens moved; "
              "ref then computed %.0f prompt tokens\n",
              Median(prefill_ms), Median(save_ms), Median(restore_ms), Median(bytes), Median(tokens),
              Median(decode_prompt_n));
  std::printf("teacher-forced top-1 agreement with ref over %d positions (first probe evaluated N prompt tokens): "
              "split %.3f (%.0f), low %.3f (%.0f); control (ref again) %.3f (%.0f)\n",
              decode_tokens, Median(forced_share[2]), Median(first_evaluated[2]), Median(forced_share[1]),
              Median(first_evaluated[1]), Median(forced_share[3]), Median(first_evaluated[3]));
  const auto mean = [](const std::vector<double>& values) {
    double sum = 0;
    for (double value : values) sum += value;
    return values.empty() ? 0 : sum / double(values.size());
  };
  std::printf("  mean over runs: split %.3f, low %.3f; per run, split / low:", mean(forced_share[2]),
              mean(forced_share[1]));
  for (size_t run = 0; run < forced_share[2].size(); ++run) {
    std::printf(" %.2f/%.2f", forced_share[2][run], forced_share[1][run]);
  }
  std::printf("\n");
  std::printf("free-running top-1 agreement with ref (share of positions / common prefix): split %.3f / %.0f, "
              "low %.3f / %.0f; control (ref again) %.3f\n",
              Median(split_share), Median(split_prefix), Median(low_share), Median(low_prefix), Median(control_share));
  qc_router_free(router);
  std::error_code ignored;
  std::filesystem::remove_all(slot_dir, ignored);
  return 0;
}
