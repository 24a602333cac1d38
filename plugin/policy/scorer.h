// The scorer interface: one step's features and session state -> a score on [0, 1] (held against the
// thresholds), a tier named outright, or "decline" (the next scorer in the chain decides). Each kind
// lives in its own file and parses its own config section; scorer_kinds.cc lists the kinds.
#ifndef QUANTCLAW_PLUGIN_POLICY_SCORER_H_
#define QUANTCLAW_PLUGIN_POLICY_SCORER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "config/config.h"
#include "features/features.h"
#include "policy/decision.h"
#include "util/validator.h"

namespace quantclaw {

struct ScoringContext {
  const TierTable& tiers;
  const SessionFeatures& features;
  const SessionPolicyState& state;
};

struct ScorerVerdict {
  enum class Kind : uint8_t {
    kDeclined,  // the chain goes on
    kScore,     // `score` is held against the thresholds (and the budget, the governor)
    kTier,      // `tier` serves the step; `score` places it on the same scale, for traces
  };
  Kind kind = Kind::kDeclined;
  double score = -1;
  uint32_t tier = 0;
};

class Scorer {
 public:
  virtual ~Scorer() = default;

  // Scores the latest step, or declines. A verdict that is not a decline writes its reason (and any
  // flags, such as kDecisionEscalated) into `decision`. `position` is the scorer's place in the chain,
  // for the reason. Runs on every step: no allocation, no blocking.
  virtual ScorerVerdict Score(const ScoringContext& context, size_t position, RoutingDecision* decision) const = 0;

  // The last resort when every scorer of the chain declined (QuantClaw's default task type); a kind
  // without one declines here too, and then the policy's default_tier serves.
  virtual ScorerVerdict Fallback(const ScoringContext& context, RoutingDecision* decision) const {
    (void)context;
    (void)decision;
    return {};
  }
};

// What a kind's parser gets: its section (an object; "kind" already read), where it is, and the tiers
// it may name. Problems go to `v`; the parser still returns a scorer (or null) so that validation
// goes on and reports everything at once.
struct ScorerSection {
  const boost::json::value& value;    // the section
  const boost::json::object& object;  // the same, as an object
  const std::string& pointer;
  const TierTable& tiers;
  Validator& v;
};

struct ScorerKind {
  std::string_view name;  // the section's "kind"
  std::unique_ptr<const Scorer> (*parse)(const ScorerSection& section);
};

// Every scorer kind (scorer_kinds.cc).
std::span<const ScorerKind> ScorerKinds();

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_SCORER_H_
