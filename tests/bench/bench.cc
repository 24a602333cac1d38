// Benchmarks of the decision path through the C ABI, measured side by side in one run:
//   Choose/<context tokens>      qc_choose_precision after a session holds that much context: flat
//   OnStep/<new text bytes>      qc_on_step with a new message of that size: proportional to it
//   OnStepProtobuf/<bytes>       the same step in protobuf binary, side by side with JSON
//   ChooseThreads                many threads, each with its own sessions
//   SessionMemory                heap bytes per session (counter bytes_per_session)
//   ChooseLearnedVsRules/<model> qc_choose_precision with the learned scorer (0: logistic, 1: MLP
//                                163-64-32-1) and with the rules scorer, in pairs (paired.h's way):
//                                p50 and p99 of each, in microseconds
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>

#include "learned_model_file.h"
#include "quantclaw/quantclaw.h"

// Counts heap allocations in the whole process, the library's included: the executable's operator new
// replaces libstdc++'s for every shared object, so a decision that allocates shows in `allocations`.
std::atomic<uint64_t> g_allocations{0};

// GCC 12 flags free() in a replacement operator delete as mismatched; here malloc is what new used.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, size_t) noexcept { std::free(memory); }
#pragma GCC diagnostic pop

namespace {

const char* kConfig = R"({
  "tiers": [
    {"name": "bf16", "format": "bf16", "base_url": "http://127.0.0.1:8001/v1", "model": "m"},
    {"name": "fp8", "format": "fp8", "base_url": "http://127.0.0.1:8002/v1", "model": "m"},
    {"name": "w4a16", "format": "w4a16", "base_url": "http://127.0.0.1:8003/v1", "model": "m"}],
  "reference_tier": "bf16",
  "policy": {
    "force": [{"when": {"step_kind": "search"}, "tier": "bf16"}],
    "scorer": {"kind": "rules", "default_score": 0.2, "rules": [
      {"when": {"repeated_actions_ge": 1}, "score": 0.95},
      {"when": {"recent_tool_errors_ge": 1}, "score": 0.85},
      {"when": {"context_tokens_gt": 16000}, "score": 0.7},
      {"when": {"step_kind": ["read", "act"]}, "score": 0.3}]},
    "thresholds": [0.25, 0.75],
    "budget": {"high_fraction": 0.3, "window": 1000, "warmup": 20}},
  "limits": {"max_sessions": 1000000, "max_message_bytes": 67108864}
})";

qc_router* NewRouter() {
  qc_router* router = nullptr;
  if (qc_router_new(kConfig, std::strlen(kConfig), &router) != QC_OK) std::abort();
  return router;
}

qc_bytes Bytes(const std::string& text) {
  return qc_bytes{reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string StepJson(const std::string& session, const std::string& content) {
  return R"({"session_id":")" + session + R"(","messages":[{"role":"tool","content":")" + content +
         R"("}],"hints":{"step_kind":"act"}})";
}

void Feed(qc_router* router, const std::string& json) {
  qc_bytes bytes = Bytes(json);
  if (qc_on_step(router, &bytes, QC_FORMAT_JSON) != QC_OK) std::abort();
}

// Decision latency for a session holding `context` tokens (about 4 bytes a token).
void Choose(benchmark::State& state) {
  qc_router* router = NewRouter();
  const std::string session = "bench-session";
  Feed(router, StepJson(session, std::string(static_cast<size_t>(state.range(0)) * 4, 'x')));
  std::string request = R"({"session_id":"bench-session"})";
  qc_bytes request_bytes = Bytes(request);
  qc_decision decision;
  decision.struct_size = sizeof(decision);
  // One call outside the loop warms the thread's reusable buffers.
  if (qc_choose_precision(router, &request_bytes, QC_FORMAT_JSON, &decision) != QC_OK) std::abort();
  uint64_t allocations_before = g_allocations.load();
  for (auto _ : state) {
    if (qc_choose_precision(router, &request_bytes, QC_FORMAT_JSON, &decision) != QC_OK) std::abort();
    benchmark::DoNotOptimize(decision.tier_index);
  }
  state.counters["allocations_per_call"] =
      double(g_allocations.load() - allocations_before) / double(state.iterations());
  qc_router_free(router);
}
BENCHMARK(Choose)->Arg(1024)->Arg(8192)->Arg(32768)->Arg(131072);

// The same decision with the request in protobuf binary (field 1: session_id).
void ChooseProtobuf(benchmark::State& state) {
  qc_router* router = NewRouter();
  Feed(router, StepJson("bench-session", std::string(4096, 'x')));
  std::string request = std::string("\x0a\x0d", 2) + "bench-session";
  qc_bytes request_bytes = Bytes(request);
  qc_decision decision;
  decision.struct_size = sizeof(decision);
  if (qc_choose_precision(router, &request_bytes, QC_FORMAT_PROTOBUF, &decision) != QC_OK) std::abort();
  uint64_t allocations_before = g_allocations.load();
  for (auto _ : state) {
    if (qc_choose_precision(router, &request_bytes, QC_FORMAT_PROTOBUF, &decision) != QC_OK) std::abort();
    benchmark::DoNotOptimize(decision.tier_index);
  }
  state.counters["allocations_per_call"] =
      double(g_allocations.load() - allocations_before) / double(state.iterations());
  qc_router_free(router);
}
BENCHMARK(ChooseProtobuf);

// on_step cost by the size of the new text; bytes_per_second stays level if it is linear.
void OnStep(benchmark::State& state) {
  qc_router* router = NewRouter();
  std::string step = StepJson("bench-session", std::string(static_cast<size_t>(state.range(0)), 'y'));
  qc_bytes bytes = Bytes(step);
  for (auto _ : state) {
    if (qc_on_step(router, &bytes, QC_FORMAT_JSON) != QC_OK) std::abort();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
  qc_router_free(router);
}
BENCHMARK(OnStep)->Arg(1024)->Arg(16384)->Arg(262144)->Arg(1048576);

// Protobuf wire format by hand (the bench links only the C ABI): a length-delimited field.
std::string Field(int number, const std::string& payload) {
  std::string out(1, static_cast<char>((number << 3) | 2));
  size_t length = payload.size();
  do {
    uint8_t byte = length & 0x7F;
    length >>= 7;
    out.push_back(static_cast<char>(byte | (length ? 0x80 : 0)));
  } while (length);
  return out + payload;
}

std::string StepProtobuf(const std::string& session, const std::string& content) {
  std::string value = Field(3, content);                            // Value.string_value
  std::string message = Field(1, "tool") + Field(2, value);         // ChatMessage.role, .content
  return Field(1, session) + Field(3, message) + Field(5, Field(1, "act"));  // Step: id, messages, hints
}

// The same step as OnStep, in protobuf binary: side by side, the cost of the JSON mapping.
void OnStepProtobuf(benchmark::State& state) {
  qc_router* router = NewRouter();
  std::string step = StepProtobuf("bench-session", std::string(static_cast<size_t>(state.range(0)), 'y'));
  qc_bytes bytes = Bytes(step);
  for (auto _ : state) {
    if (qc_on_step(router, &bytes, QC_FORMAT_PROTOBUF) != QC_OK) std::abort();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
  qc_router_free(router);
}
BENCHMARK(OnStepProtobuf)->Arg(1024)->Arg(16384)->Arg(262144)->Arg(1048576);

// Many threads deciding for their own sessions on one router (shared, created once for the process).
void ChooseThreads(benchmark::State& state) {
  static qc_router* const shared_router = NewRouter();
  std::vector<std::string> requests;
  for (int s = 0; s < 64; ++s) {
    std::string session = "t" + std::to_string(state.thread_index()) + "-s" + std::to_string(s);
    Feed(shared_router, StepJson(session, "result"));
    requests.push_back(R"({"session_id":")" + session + "\"}");
  }
  qc_decision decision;
  decision.struct_size = sizeof(decision);
  size_t next = 0;
  for (auto _ : state) {
    qc_bytes request = Bytes(requests[next++ % requests.size()]);
    if (qc_choose_precision(shared_router, &request, QC_FORMAT_JSON, &decision) != QC_OK) std::abort();
    benchmark::DoNotOptimize(decision.tier_index);
  }
}
BENCHMARK(ChooseThreads)->Threads(1)->Threads(2)->Threads(4)->Threads(8)->UseRealTime();

// Heap bytes per session, measured with the allocator's own count over 10,000 sessions.
void SessionMemory(benchmark::State& state) {
  for (auto _ : state) {
    qc_router* router = NewRouter();
    const int sessions = 10000;
    size_t before = mallinfo2().uordblks;
    for (int s = 0; s < sessions; ++s) {
      Feed(router, StepJson("session-" + std::to_string(s), "a short tool result"));
    }
    size_t after = mallinfo2().uordblks;
    state.counters["bytes_per_session"] = double(after - before) / sessions;
    qc_router_free(router);
  }
}
BENCHMARK(SessionMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

// The same config with the scorer section replaced.
std::string ConfigWithScorer(const std::string& scorer) {
  std::string config = kConfig;
  const size_t begin = config.find(R"("scorer":)");
  const size_t end = config.find(R"("thresholds":)");
  return config.substr(0, begin) + R"("scorer": )" + scorer + ",\n    " + config.substr(end);
}

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(q * double(values.size() - 1))];
}

// The learned scorer beside the rules scorer: two routers, one session each with the same step (a tool
// result of numbers and prose, so every part of the feature vector is live), decided in pairs in
// alternating order so that drift in the machine's speed falls on both alike. Each call is timed on its
// own (two clock reads, about 40 ns, are inside every figure) for the percentiles.
void ChooseLearnedVsRules(benchmark::State& state) {
  using Clock = std::chrono::steady_clock;
  const bool mlp = state.range(0) == 1;
  quantclaw_test::ModelSpec spec = mlp ? quantclaw_test::RandomMlp({163, 64, 32, 1}) : quantclaw_test::RandomMlp({163, 1});
  if (!mlp) {
    spec.mlp = false;
    spec.logistic_weights = spec.layers[0].weights;
    spec.logistic_bias = spec.layers[0].biases[0];
    spec.layers.clear();
  }
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("quantclaw_bench_" + std::to_string(::getpid()) + (mlp ? "_mlp" : "_logistic") + ".qcmodel"))
                               .string();
  if (!quantclaw_test::WriteModelFile(path, spec)) std::abort();
  const std::string learned_config = ConfigWithScorer(R"({"kind": "learned", "model": ")" + path + R"("})");
  qc_router* learned = nullptr;
  if (qc_router_new(learned_config.data(), learned_config.size(), &learned) != QC_OK) {
    state.SkipWithError(qc_last_error());
    std::filesystem::remove(path);
    return;
  }
  std::filesystem::remove(path);  // read once, at load
  qc_router* rules = NewRouter();
  const std::string content =
      "Quarterly totals: | 12.50 | 7.25 | 1003.75 |\\n| 4.00 | 88.10 | 19.99 | as the ledger shows; "
      "the review found two entries posted twice and asked for {\\\"fix\\\": true}.";
  for (qc_router* router : {learned, rules}) Feed(router, StepJson("bench-session", content));
  std::string request = R"({"session_id":"bench-session"})";
  qc_bytes request_bytes = Bytes(request);
  qc_decision decision;
  decision.struct_size = sizeof(decision);
  auto timed = [&](qc_router* router) {
    const auto start = Clock::now();
    if (qc_choose_precision(router, &request_bytes, QC_FORMAT_JSON, &decision) != QC_OK) std::abort();
    benchmark::DoNotOptimize(decision.tier_index);
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  };
  timed(learned);  // warm the thread's reusable buffers
  timed(rules);
  std::vector<double> learned_us, rules_us, overhead_us;
  learned_us.reserve(state.max_iterations);
  rules_us.reserve(state.max_iterations);
  overhead_us.reserve(state.max_iterations);
  bool learned_first = false;
  const uint64_t allocations_before = g_allocations.load();
  for (auto _ : state) {
    double l = 0, r = 0;
    if (learned_first) {
      l = timed(learned);
      r = timed(rules);
    } else {
      r = timed(rules);
      l = timed(learned);
    }
    learned_first = !learned_first;
    learned_us.push_back(l);
    rules_us.push_back(r);
    overhead_us.push_back(l - r);
  }
  state.counters["allocations_per_call"] =
      double(g_allocations.load() - allocations_before) / double(2 * state.iterations());
  state.counters["learned_p50_us"] = Percentile(learned_us, 0.5);
  state.counters["learned_p99_us"] = Percentile(learned_us, 0.99);
  state.counters["rules_p50_us"] = Percentile(rules_us, 0.5);
  state.counters["rules_p99_us"] = Percentile(rules_us, 0.99);
  state.counters["overhead_p50_us"] = Percentile(overhead_us, 0.5);
  qc_router_free(learned);
  qc_router_free(rules);
}
BENCHMARK(ChooseLearnedVsRules)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
