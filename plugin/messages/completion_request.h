// What qc_complete is asked, and the step it makes: the OpenAI request body decoded from a
// quantclaw.v1.CompleteRequest, and the request -> Step translation (only the messages new since the
// last step go in).
#ifndef QUANTCLAW_PLUGIN_MESSAGES_COMPLETION_REQUEST_H_
#define QUANTCLAW_PLUGIN_MESSAGES_COMPLETION_REQUEST_H_

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "absl/status/status.h"

namespace quantclaw {

namespace v1 {
class Step;
}

// What qc_complete is asked: the session, the OpenAI request body as the host would send it, and the
// host's hints for the step.
struct CompletionCall {
  std::string session_id;
  boost::json::object body;
  bool chat = true;  // POST /chat/completions; false: the legacy /completions
  std::string step_kind, task_type, force_tier;
};

// Decodes a quantclaw.v1.CompleteRequest (protobuf binary, or its JSON mapping).
absl::Status DecodeCompletionCall(std::string_view bytes, bool json, CompletionCall* call);

// The step a full OpenAI request makes, given how many of its messages earlier steps carried: only
// the new ones go in. OpenAI messages carry fields quantclaw does not read; those are skipped.
// Assumes CheckCompletionCall passed.
void StepFromRequest(const CompletionCall& call, size_t messages_seen, v1::Step* step);

// What the body must hold for quantclaw to read it, checked before any session or tier is touched:
// each token limit (max_tokens, max_completion_tokens) absent, null, or a whole number from 0 to
// 2^32-1. InvalidArgument names the offending field by its pointer (/body/max_tokens).
absl::Status CheckCompletionCall(const CompletionCall& call);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_MESSAGES_COMPLETION_REQUEST_H_
