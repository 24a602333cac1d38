// The `quantclaw` command line. validate and route drive the router only through the C ABI, exactly as a
// host does; the learning commands (train, eval, calibrate, report: tools/learning_cli.h) read traces and
// models with the C++ inside. It links the library's static twin and the C ABI glue, not libquantclaw.so:
// the .so registers the same protobuf descriptors in the shared libprotobuf pool, and two registrations
// of one .proto file abort the process.
//   quantclaw validate CONFIG            exit 0, or one "pointer: reason" line per problem and exit 1
//   quantclaw route CONFIG EPISODE.jsonl replay an episode (one Step per line, JSON) and print decisions
//   quantclaw train|eval|calibrate|report ...   see Usage()
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>  // compiled once, in util/boost_json.cc of the static twin

#include "quantclaw/quantclaw.h"
#include "tools/learning_cli.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitInvalid = 1;  // the config or the episode is wrong
constexpr int kExitUsage = 2;
static_assert(kExitUsage == quantclaw::tools::kExitBadInput);

int Usage() {
  std::fprintf(stderr,
               "usage: quantclaw validate CONFIG.json\n"
               "       quantclaw route CONFIG.json EPISODE.jsonl\n"
               "  validate: exit 0 when the config is valid, else print each problem as\n"
               "            \"JSON-pointer: reason\" and exit 1\n"
               "  route:    replay an episode (one quantclaw.v1.Step per line, JSON; a line\n"
               "            {\"outcome\": {...}} reports a quantclaw.v1.Outcome) through the C ABI\n"
               "            and print one line per step, then a summary\n"
               "       quantclaw train TRACES... -o MODEL [--model logistic|mlp] [--seed N] [--holdout F]\n"
               "                 [--budget K] [--hidden 32[,16]] [--kl-threshold X] [--label-quantile Q]\n"
               "       quantclaw eval MODEL TRACES... --budget K\n"
               "       quantclaw calibrate MODEL TRACES... --budget K [--per-task-type] [--min-steps N] [-o MODEL2]\n"
               "       quantclaw report TRACES... [--model MODEL] [--budget K] -o DIR\n"
               "  TRACES are .qctrace files or directories of them. The learning commands print one JSON\n"
               "  object as their last stdout line; bad input exits 2 with the file (and offset) named\n");
  return kExitUsage;
}

bool ReadFile(const char* path, std::string* out) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  std::ostringstream content;
  content << file.rdbuf();
  *out = content.str();
  return true;
}

qc_bytes Bytes(const std::string& text) {
  qc_bytes bytes;
  bytes.data = reinterpret_cast<const uint8_t*>(text.data());
  bytes.size = text.size();
  return bytes;
}

int Validate(const char* config_path) {
  std::string config;
  if (!ReadFile(config_path, &config)) {
    std::fprintf(stderr, "quantclaw: cannot read %s: %s\n", config_path, std::strerror(errno));
    return kExitUsage;
  }
  qc_router* router = nullptr;
  int32_t status = qc_router_new(config.data(), config.size(), &router);
  if (status != QC_OK) {
    std::printf("%s\n", qc_last_error());
    return kExitInvalid;
  }
  qc_router_free(router);
  std::printf("%s: valid\n", config_path);
  return kExitOk;
}

std::string FlagLetters(uint32_t flags) {
  std::string letters;
  if (flags & QC_DECISION_FORCED) letters += 'F';
  if (flags & QC_DECISION_ESCALATED) letters += 'E';
  if (flags & QC_DECISION_BUDGET_HELD) letters += 'B';
  if (flags & QC_DECISION_DEFAULTED) letters += 'D';
  if (flags & QC_DECISION_PHASE_SPLIT) letters += 'P';
  if (flags & QC_DECISION_CACHE_HELD) letters += 'C';
  if (flags & QC_DECISION_SHADOW_SAMPLED) letters += 'S';
  return letters.empty() ? "-" : letters;
}

int Route(const char* config_path, const char* episode_path) {
  std::string config;
  if (!ReadFile(config_path, &config)) {
    std::fprintf(stderr, "quantclaw: cannot read %s: %s\n", config_path, std::strerror(errno));
    return kExitUsage;
  }
  std::ifstream episode(episode_path);
  if (!episode) {
    std::fprintf(stderr, "quantclaw: cannot read %s: %s\n", episode_path, std::strerror(errno));
    return kExitUsage;
  }
  qc_router* router = nullptr;
  if (qc_router_new(config.data(), config.size(), &router) != QC_OK) {
    std::printf("%s\n", qc_last_error());
    return kExitInvalid;
  }

  // What the summary compares against: the reference tier and the budget, as the config states them.
  std::string reference_tier;
  double budget = -1;
  {
    boost::system::error_code ec;
    boost::json::value document = boost::json::parse(config, ec);
    if (const auto* root = document.if_object()) {
      if (const auto* reference = root->if_contains("reference_tier"); reference && reference->is_string()) {
        reference_tier = reference->get_string().c_str();
      }
      if (const auto* fraction = document.find_pointer("/policy/budget/high_fraction", ec);
          fraction && fraction->is_number()) {
        budget = fraction->to_number<double>();
      }
    }
  }

  std::printf("%-5s %-14s %-10s %-6s %-5s %s\n", "step", "kind", "tier", "score", "flags", "reason");
  std::map<std::string, int> tier_counts;
  std::vector<std::string> tier_order;
  int decisions = 0, forced = 0, scored = 0, scored_high = 0, high = 0;
  std::string line;
  int line_number = 0;
  int exit_code = kExitOk;
  while (std::getline(episode, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    boost::system::error_code ec;
    boost::json::value record = boost::json::parse(line, ec);
    const boost::json::object* object = ec ? nullptr : record.if_object();
    if (object == nullptr) {
      std::fprintf(stderr, "%s:%d: not a JSON object\n", episode_path, line_number);
      exit_code = kExitInvalid;
      continue;
    }
    if (const auto* outcome = object->if_contains("outcome")) {
      std::string text = boost::json::serialize(*outcome);
      qc_bytes bytes = Bytes(text);
      if (qc_report_outcome(router, &bytes, QC_FORMAT_JSON) != QC_OK) {
        std::fprintf(stderr, "%s:%d: %s\n", episode_path, line_number, qc_last_error());
        exit_code = kExitInvalid;
      }
      continue;
    }
    qc_bytes step = Bytes(line);
    if (qc_on_step(router, &step, QC_FORMAT_JSON) != QC_OK) {
      std::fprintf(stderr, "%s:%d: %s\n", episode_path, line_number, qc_last_error());
      exit_code = kExitInvalid;
      continue;
    }
    const auto* session = object->if_contains("session_id");
    if (session == nullptr) session = object->if_contains("sessionId");
    boost::json::object request_object;
    request_object["session_id"] = session != nullptr && session->is_string() ? session->get_string() : "";
    std::string request = boost::json::serialize(request_object);
    qc_bytes request_bytes = Bytes(request);
    qc_decision decision;
    std::memset(&decision, 0, sizeof(decision));
    decision.struct_size = sizeof(decision);
    if (qc_choose_precision(router, &request_bytes, QC_FORMAT_JSON, &decision) != QC_OK) {
      std::fprintf(stderr, "%s:%d: %s\n", episode_path, line_number, qc_last_error());
      exit_code = kExitInvalid;
      continue;
    }
    char score[16];
    if (decision.score < 0) {
      std::snprintf(score, sizeof(score), "-");
    } else {
      std::snprintf(score, sizeof(score), "%.2f", decision.score);
    }
    std::printf("%-5llu %-14s %-10s %-6s %-5s %s\n", static_cast<unsigned long long>(decision.step_index),
                decision.step_kind, decision.tier_name, score, FlagLetters(decision.flags).c_str(), decision.reason);
    ++decisions;
    if (tier_counts[decision.tier_name]++ == 0) tier_order.emplace_back(decision.tier_name);
    bool is_high = decision.tier_name == reference_tier;
    high += is_high;
    if (decision.flags & QC_DECISION_FORCED) {
      ++forced;
    } else {
      ++scored;
      scored_high += is_high;
    }
  }

  std::printf("\nsummary: %d decisions", decisions);
  for (const std::string& tier : tier_order) {
    std::printf(", %s %d (%.0f%%)", tier.c_str(), tier_counts[tier], 100.0 * tier_counts[tier] / std::max(decisions, 1));
  }
  std::printf("\n");
  if (!reference_tier.empty()) {
    std::printf("high precision (%s): %.0f%% of all steps; %.0f%% of %d scored steps (%d forced)", reference_tier.c_str(),
                100.0 * high / std::max(decisions, 1), 100.0 * scored_high / std::max(scored, 1), scored, forced);
    if (budget >= 0) std::printf(" against a budget of %.0f%%", 100.0 * budget);
    std::printf("\n");
  }
  qc_router_free(router);
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0)) {
    Usage();
    return kExitOk;
  }
  if (argc == 3 && std::strcmp(argv[1], "validate") == 0) return Validate(argv[2]);
  if (argc == 4 && std::strcmp(argv[1], "route") == 0) return Route(argv[2], argv[3]);
  if (argc >= 2) {
    const std::vector<std::string> rest(argv + 2, argv + argc);
    if (std::strcmp(argv[1], "train") == 0) return quantclaw::tools::RunTrain(rest);
    if (std::strcmp(argv[1], "eval") == 0) return quantclaw::tools::RunEval(rest);
    if (std::strcmp(argv[1], "calibrate") == 0) return quantclaw::tools::RunCalibrate(rest);
    if (std::strcmp(argv[1], "report") == 0) return quantclaw::tools::RunReport(rest);
  }
  return Usage();
}
