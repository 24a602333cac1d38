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
void StepFromRequest(const CompletionCall& call, size_t messages_seen, v1::Step* step);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_MESSAGES_COMPLETION_REQUEST_H_
