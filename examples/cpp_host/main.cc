// quantclaw_cpp_host: the C host's job (examples/c_host/main.c) in C++, loading the plugin with Boost.DLL.
//
//   quantclaw_cpp_host LIBRARY.so CONFIG.json EPISODE.jsonl
//
// Like every quantclaw host it knows the library only through quantclaw.h and the qc_plugin table, and
// follows the plugins convention: LIBRARY.so "-" means $QUANTCLAW_PLUGIN, else ./plugins/libquantclaw.so.1.
// One line per step ("step INDEX KIND TIER SCORE REASON"); exit 1 if any call failed, 2 if nothing ran.
#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/dll/shared_library.hpp>

#include "quantclaw/quantclaw.h"

namespace {

constexpr int kExitCallFailed = 1;
constexpr int kExitUsage = 2;
constexpr const char* kPluginEnvironmentVariable = "QUANTCLAW_PLUGIN";
constexpr const char* kPluginsDirectoryPath = "./plugins/libquantclaw.so.1";

// A table from an older library of the same major may end before a field this host knows: that field
// counts as NULL, like one the library leaves unimplemented.
#define PLUGIN_IMPLEMENTS(plugin, field) (QC_PLUGIN_HAS(&(plugin), field) && (plugin).field != nullptr)

const char* LastError(const qc_plugin& plugin) {
  return PLUGIN_IMPLEMENTS(plugin, last_error) ? plugin.last_error() : "(the library does not implement last_error)";
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

qc_bytes BytesOf(std::string_view text) {
  return qc_bytes{reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// A tiny JSON scanner: enough to find a top-level member and the extent of its value, so the host needs
// no JSON library. The library parses and validates everything it is given.
class MemberScanner {
 public:
  explicit MemberScanner(std::string_view json) : json_(json) {}

  // The value text of the top-level member `key` (compared as written), or nothing.
  std::optional<std::string_view> Find(std::string_view key) const {
    size_t p = SkipSpace(0);
    if (At(p) != '{') return std::nullopt;
    p = SkipSpace(p + 1);
    while (At(p) == '"') {
      size_t key_end = SkipString(p);
      if (key_end == kNone) return std::nullopt;
      std::string_view member = json_.substr(p + 1, key_end - p - 2);
      p = SkipSpace(key_end);
      if (At(p) != ':') return std::nullopt;
      p = SkipSpace(p + 1);
      size_t value_end = SkipValue(p);
      if (value_end == kNone || value_end == p) return std::nullopt;
      if (member == key) return json_.substr(p, value_end - p);
      p = SkipSpace(value_end);
      if (At(p) != ',') return std::nullopt;
      p = SkipSpace(p + 1);
    }
    return std::nullopt;
  }

 private:
  static constexpr size_t kNone = std::string_view::npos;

  char At(size_t p) const { return p < json_.size() ? json_[p] : '\0'; }

  size_t SkipSpace(size_t p) const {
    while (At(p) == ' ' || At(p) == '\t' || At(p) == '\n' || At(p) == '\r') ++p;
    return p;
  }

  // From an opening quote to just past the closing one; escaped quotes do not end the string.
  size_t SkipString(size_t p) const {
    for (++p; p < json_.size(); ++p) {
      if (json_[p] == '\\') {
        ++p;
      } else if (json_[p] == '"') {
        return p + 1;
      }
    }
    return kNone;
  }

  // Past a string, a bracket-matched object or array (brackets inside strings ignored), or a scalar.
  size_t SkipValue(size_t p) const {
    if (At(p) == '"') return SkipString(p);
    if (At(p) == '{' || At(p) == '[') {
      int depth = 0;
      while (p < json_.size()) {
        char c = json_[p];
        if (c == '"') {
          p = SkipString(p);
          if (p == kNone) return kNone;
          continue;
        }
        if (c == '{' || c == '[') ++depth;
        if ((c == '}' || c == ']') && --depth == 0) return p + 1;
        ++p;
      }
      return kNone;
    }
    while (p < json_.size() && std::string_view(",}] \t\r\n").find(json_[p]) == std::string_view::npos) ++p;
    return p;
  }

  std::string_view json_;
};

std::string ResolveLibraryPath(const std::string& argument) {
  if (argument != "-") return argument;
  const char* from_environment = std::getenv(kPluginEnvironmentVariable);
  if (from_environment != nullptr && from_environment[0] != '\0') return from_environment;
  return kPluginsDirectoryPath;
}

void PrintDecision(const qc_decision& decision) {
  char score[32];
  if (decision.score < 0) {
    std::snprintf(score, sizeof(score), "-");
  } else {
    std::snprintf(score, sizeof(score), "%.2f", decision.score);
  }
  std::printf("step %-3" PRIu64 " %-12s %-10s %-5s %s\n", decision.step_index, decision.step_kind,
              decision.tier_name, score, decision.reason);
}

// Replays the episode; returns how many calls failed, or nothing when the episode cannot be read.
std::optional<int> ReplayEpisode(const qc_plugin& plugin, qc_router* router, const std::string& episode_path) {
  std::ifstream episode(episode_path);
  if (!episode) {
    std::fprintf(stderr, "quantclaw_cpp_host: cannot read %s\n", episode_path.c_str());
    return std::nullopt;
  }
  int failed_calls = 0;
  int line_number = 0;
  std::string line;
  std::string request;
  auto report_failure = [&](const char* function, int32_t status) {
    std::fprintf(stderr, "%s:%d: %s failed (status %d): %s\n", episode_path.c_str(), line_number, function,
                 static_cast<int>(status), LastError(plugin));
    ++failed_calls;
  };
  while (std::getline(episode, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    MemberScanner scanner(line);

    if (auto outcome = scanner.Find("outcome"); outcome && outcome->front() == '{') {
      if (!PLUGIN_IMPLEMENTS(plugin, report_outcome)) {
        std::fprintf(stderr, "%s:%d: outcome skipped: the library does not implement report_outcome\n",
                     episode_path.c_str(), line_number);
        continue;
      }
      qc_bytes bytes = BytesOf(*outcome);
      if (int32_t status = plugin.report_outcome(router, &bytes, QC_FORMAT_JSON); status != QC_OK) {
        report_failure("report_outcome", status);
      }
      continue;
    }

    qc_bytes step = BytesOf(line);
    if (int32_t status = plugin.on_step(router, &step, QC_FORMAT_JSON); status != QC_OK) {
      report_failure("on_step", status);
      continue;
    }
    // The session id is copied as the step wrote it, escapes included, so the request stays valid JSON.
    std::optional<std::string_view> session_id = scanner.Find("session_id");
    if (!session_id) session_id = scanner.Find("sessionId");
    request.assign("{\"session_id\":").append(session_id ? *session_id : "\"\"").append("}");
    qc_bytes request_bytes = BytesOf(request);
    qc_decision decision;
    std::memset(&decision, 0, sizeof(decision));
    decision.struct_size = sizeof(decision);
    if (int32_t status = plugin.choose_precision(router, &request_bytes, QC_FORMAT_JSON, &decision);
        status != QC_OK) {
      report_failure("choose_precision", status);
      continue;
    }
    PrintDecision(decision);
  }
  return failed_calls;
}

int Run(const std::string& library_path, const std::string& config_path, const std::string& episode_path) {
  // rtld_local keeps the library's symbols out of the global namespace; rtld_now fails on a missing
  // dependency here rather than mid-episode. Both throw on failure, caught by main.
  boost::dll::shared_library library(library_path,
                                     boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
  auto& entry = library.get<const qc_plugin*(uint32_t)>(QC_PLUGIN_ENTRY_SYMBOL);
  const qc_plugin* table = entry(QC_ABI_VERSION_MAJOR);
  if (table == nullptr) {
    // No table to ask for the message: look qc_last_error up directly.
    const char* message = library.has("qc_last_error") ? library.get<const char*()>("qc_last_error")() : "";
    std::fprintf(stderr, "quantclaw_cpp_host: %s refused ABI major %d: %s\n", library_path.c_str(),
                 QC_ABI_VERSION_MAJOR, message);
    return kExitUsage;
  }
  const qc_plugin& plugin = *table;
  if (plugin.struct_size < offsetof(qc_plugin, abi_version) + sizeof(plugin.abi_version) ||
      (plugin.abi_version >> 16) != QC_ABI_VERSION_MAJOR) {
    std::fprintf(stderr, "quantclaw_cpp_host: %s returned a table of another ABI major\n", library_path.c_str());
    return kExitUsage;
  }
  if (!PLUGIN_IMPLEMENTS(plugin, router_new) || !PLUGIN_IMPLEMENTS(plugin, router_free) ||
      !PLUGIN_IMPLEMENTS(plugin, on_step) || !PLUGIN_IMPLEMENTS(plugin, choose_precision)) {
    std::fprintf(stderr,
                 "quantclaw_cpp_host: %s lacks a function this host needs (router_new, router_free, on_step, "
                 "choose_precision)\n",
                 library_path.c_str());
    return kExitUsage;
  }

  std::optional<std::string> config = ReadFile(config_path);
  if (!config) {
    std::fprintf(stderr, "quantclaw_cpp_host: cannot read %s\n", config_path.c_str());
    return kExitUsage;
  }
  qc_router* router = nullptr;
  if (int32_t status = plugin.router_new(config->data(), config->size(), &router); status != QC_OK) {
    std::fprintf(stderr, "quantclaw_cpp_host: router_new failed (status %d):\n%s\n", static_cast<int>(status),
                 LastError(plugin));
    return kExitCallFailed;
  }
  std::optional<int> failed_calls = ReplayEpisode(plugin, router, episode_path);
  int exit_code = !failed_calls ? kExitUsage : *failed_calls > 0 ? kExitCallFailed : 0;
  // Before `library` unloads at scope exit: nothing from the library may be used after that.
  if (int32_t status = plugin.router_free(router); status != QC_OK) {
    std::fprintf(stderr, "quantclaw_cpp_host: router_free failed (status %d): %s\n", static_cast<int>(status),
                 LastError(plugin));
    exit_code = kExitCallFailed;
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr,
                 "usage: %s LIBRARY.so CONFIG.json EPISODE.jsonl\n"
                 "  LIBRARY.so \"-\" means $%s, else %s\n",
                 argc > 0 ? argv[0] : "quantclaw_cpp_host", kPluginEnvironmentVariable, kPluginsDirectoryPath);
    return kExitUsage;
  }
  std::string library_path = ResolveLibraryPath(argv[1]);
  try {
    return Run(library_path, argv[2], argv[3]);
  } catch (const std::system_error& error) {
    // Boost.DLL reports a library that will not load, or a missing symbol, as a system_error.
    std::fprintf(stderr, "quantclaw_cpp_host: cannot use plugin %s: %s\n", library_path.c_str(), error.what());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "quantclaw_cpp_host: %s: %s\n", library_path.c_str(), error.what());
  }
  return kExitUsage;
}
