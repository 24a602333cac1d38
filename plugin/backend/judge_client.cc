#include "backend/judge_client.h"

#include <algorithm>

#include <boost/json.hpp>

#include "util/clock.h"
#include "util/hash.h"
#include "util/strings.h"

namespace quantclaw {

std::string HttpJudge::Classify(const JudgeConfig& judge, const TaskTypeDetector& detector, std::string_view prompt) {
  const uint64_t key = Mix64(Fnv1a(prompt) ^ Fnv1a(judge.model));
  const int64_t now = MonotonicNowNs();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.expires_ns > now) {
      Increment(metrics_->judge_cache_hits);
      return it->second.task_type;
    }
  }
  Increment(metrics_->judge_calls);
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
  request.ca_file = judge.ca_file;
  if (!judge.api_key.empty()) request.headers.push_back(StrCat("Authorization: Bearer ", judge.api_key));
  HttpResponse http;
  std::string answer;
  if (http_->Post(request, nullptr, &http).ok() && http.status == 200) {
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
        if (id != nullptr && id->is_string() && detector.FindTaskType(std::string_view(id->get_string())) >= 0) {
          answer = id->get_string();
        }
      }
    }
  }
  if (answer.empty()) Increment(metrics_->judge_failures);
  std::lock_guard<std::mutex> lock(mutex_);
  if (cache_.size() >= 4096) cache_.clear();  // crude but bounded; answers are cheap to refetch
  const int64_t ttl_ns = answer.empty() ? std::min<int64_t>(int64_t(judge.cache_ttl_ms), 30000) * 1000000
                                        : int64_t(judge.cache_ttl_ms) * 1000000;
  cache_[key] = Answer{answer, now + ttl_ns};
  return answer;
}

}  // namespace quantclaw
