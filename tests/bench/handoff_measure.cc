// The Mix-Quant split measured side by side through qc_complete, in one run, on two real llama-server
// tiers sharing a slot folder: a long-prompt step
//   ref cold   forced onto the reference tier (f16), nothing cached: its prefill and decode
//   low cold   forced onto the quantized tier (q4_0), nothing cached
//   split      prefill on q4_0, the KV cache moved by slot file, decode on f16 (backend/handoff.h)
//   ref again  the reference once more, cold: the control for the agreement (greedy decoding is
//              deterministic, so it agrees fully unless the server is not)
// Reported per mode (median of --runs): time to first token as the host sees it (qc_complete's first
// streamed chunk), total time; for the split the hand-off's own cost (prefill call, save, restore, bytes);
// and the greedy tokens' top-1 agreement with the reference's (position by position, and the length of
// the common prefix), the split's against the quantized tier's. Every slot of both servers is erased
// before each call, so every mode starts cold.
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

Call Complete(qc_router* router, const std::string& session, const std::string& prompt, const char* force_tier,
              int decode_tokens) {
  json::object body{{"model", "auto"},
                    {"messages", json::array{json::object{{"role", "system"}, {"content", "You are an agent."}},
                                             json::object{{"role", "user"}, {"content", prompt}}}},
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
         R"(/v1","handoff":{"kind":"llama_slots","group":"cpu","slot_dir":")" + slot_dir + R"(","slots":2}})";
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
  const std::vector<std::string> extra = {"--slot-save-path", slot_dir};
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
  int64_t prompt_tokens = 0;
  const char* names[4] = {"ref cold", "low cold", "split", "ref again"};
  for (int run = 0; run < runs; ++run) {
    std::string prompt = "Run " + std::to_string(run) + ". ";
    const char* words[] = {"the", "tool", "returned", "rows", "costs", "and", "outlook", "for", "quarter", "report"};
    for (int i = 0; i < prompt_words; ++i) prompt += std::string(words[(i * 7 + run) % 10]) + (i % 12 == 11 ? ". " : " ");
    Call calls[4];
    for (int mode = 0; mode < 4; ++mode) {
      Erase(ref.port(), 2);
      Erase(low.port(), 2);
      const std::string session = "measure-" + std::to_string(run) + "-" + std::to_string(mode);
      calls[mode] = Complete(router, session, prompt, mode == 0 || mode == 3 ? "ref" : mode == 1 ? "low" : nullptr, decode_tokens);
      if (!calls[mode].ok) {
        std::fprintf(stderr, "%s: %s\n", names[mode], calls[mode].error.c_str());
        return 1;
      }
      ttft[mode].push_back(calls[mode].ttft_ms);
      total[mode].push_back(calls[mode].total_ms);
    }
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
  std::printf("top-1 agreement with ref (share of positions / common prefix): split %.3f / %.0f, low %.3f / %.0f; "
              "control (ref again) %.3f\n",
              Median(split_share), Median(split_prefix), Median(low_share), Median(low_prefix), Median(control_share));
  qc_router_free(router);
  std::error_code ignored;
  std::filesystem::remove_all(slot_dir, ignored);
  return 0;
}
