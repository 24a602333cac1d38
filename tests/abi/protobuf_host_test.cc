// A host that itself uses protobuf (Debian's shared libprotobuf.so) and has compiled the very same
// quantclaw/v1/*.proto files into itself, then loads the plugin. The host's generated descriptors are in
// libprotobuf.so's global pool before the plugin arrives; the plugin's, of the same file names, must go
// into the plugin's own pool (its private protobuf), or protobuf aborts the host on the second
// registration. Afterwards both sides keep working: the plugin parses the host's bytes, the host's pool
// still answers with the host's descriptors.
//   protobuf_host_test LIBRARY.so
// Prints "OK: ..." on success.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include "quantclaw/quantclaw.h"
#include "quantclaw/v1/decision.pb.h"
#include "quantclaw/v1/step.pb.h"

namespace {

int Fail(const char* what) {
  std::fprintf(stderr, "%s\n", what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s LIBRARY.so\n", argv[0]);
    return 2;
  }
  // The host's messages, through the host's protobuf (reflection included) before the plugin loads.
  quantclaw::v1::Step step;
  step.set_session_id("host-session");
  quantclaw::v1::ChatMessage* message = step.add_messages();
  message->set_role("user");
  message->mutable_content()->set_string_value("hello from a host with its own protobuf");
  std::string step_bytes;
  if (!step.SerializeToString(&step_bytes)) return Fail("host: Step did not serialize");
  std::string host_json;
  if (!google::protobuf::util::MessageToJsonString(step, &host_json).ok()) return Fail("host: Step to JSON failed");
  const google::protobuf::FileDescriptor* host_file =
      google::protobuf::DescriptorPool::generated_pool()->FindFileByName("quantclaw/v1/step.proto");
  if (host_file == nullptr) return Fail("host: quantclaw/v1/step.proto is not in the host's generated pool");

  void* library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    std::fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
    return 1;
  }
  auto entry = reinterpret_cast<qc_plugin_entry_fn>(dlsym(library, QC_PLUGIN_ENTRY_SYMBOL));
  const qc_plugin* plugin = entry != nullptr ? entry(QC_ABI_VERSION_MAJOR) : nullptr;
  if (plugin == nullptr) return Fail("qc_plugin_entry gave no table");
  const char* config = R"({"tiers":[{"name":"a","format":"bf16","base_url":"http://h/v1","model":"m"}]})";
  qc_router* router = nullptr;
  if (plugin->router_new(config, std::strlen(config), &router) != QC_OK) return Fail(plugin->last_error());

  // The host's bytes, parsed by the plugin's own copy of the same messages.
  qc_bytes bytes{reinterpret_cast<const uint8_t*>(step_bytes.data()), step_bytes.size()};
  if (plugin->on_step(router, &bytes, QC_FORMAT_PROTOBUF) != QC_OK) return Fail(plugin->last_error());
  // And the host's JSON, through the plugin's reflection (its own pool, its own google.protobuf.Value).
  bytes = {reinterpret_cast<const uint8_t*>(host_json.data()), host_json.size()};
  if (plugin->on_step(router, &bytes, QC_FORMAT_JSON) != QC_OK) return Fail(plugin->last_error());
  quantclaw::v1::DecisionRequest request;
  request.set_session_id("host-session");
  std::string request_bytes = request.SerializeAsString();
  bytes = {reinterpret_cast<const uint8_t*>(request_bytes.data()), request_bytes.size()};
  qc_decision decision;
  std::memset(&decision, 0, sizeof(decision));
  decision.struct_size = sizeof(decision);
  if (plugin->choose_precision(router, &bytes, QC_FORMAT_PROTOBUF, &decision) != QC_OK) {
    return Fail(plugin->last_error());
  }
  if (std::strcmp(decision.tier_name, "a") != 0 || decision.step_index != 1) {
    std::fprintf(stderr, "decision: tier %s, step %llu (want a, 1)\n", decision.tier_name,
                 static_cast<unsigned long long>(decision.step_index));
    return 1;
  }
  plugin->router_free(router);

  // The host's pool is the host's alone: the same descriptor as before, and its messages still work.
  if (google::protobuf::DescriptorPool::generated_pool()->FindFileByName("quantclaw/v1/step.proto") != host_file) {
    return Fail("host: quantclaw/v1/step.proto changed in the host's pool after the plugin loaded");
  }
  quantclaw::v1::Step again;
  if (!google::protobuf::util::JsonStringToMessage(host_json, &again).ok() ||
      again.messages(0).content().string_value() != message->content().string_value()) {
    return Fail("host: its own JSON no longer round-trips after the plugin loaded");
  }
  dlclose(library);
  std::printf("OK: a host with its own protobuf and the same .proto files loaded the plugin; both sides work\n");
  return 0;
}
