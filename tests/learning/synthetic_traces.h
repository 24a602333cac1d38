// Synthetic labelled traces for the learning tests: a step's KL depends, through noise, on one feature
// (the share of digits in its text), the way a real quantized tier's KL depends on the tokens it reads.
// Everything else in the feature vector is noise the trainer has to learn to ignore.
//   high mode: log10 KL ~ N(-0.7, 0.35), low mode: N(-3.2, 0.5) (bimodal on a log scale, as DMR Fig. 3)
//   P(high mode) = 0.9 when the digit share is above 0.3, else 0.08
// The digit share is uniform on [0, 0.5], so about 41% of steps are high.
#ifndef QUANTCLAW_TESTS_LEARNING_SYNTHETIC_TRACES_H_
#define QUANTCLAW_TESTS_LEARNING_SYNTHETIC_TRACES_H_

#include <cmath>
#include <cstdint>
#include <string>

#include "features/features.h"
#include "quantclaw/v1/trace.pb.h"

namespace quantclaw::testing {

class SyntheticRandom {
 public:
  explicit SyntheticRandom(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Normal() { return std::sqrt(-2.0 * std::log(1.0 - Uniform())) * std::cos(2 * M_PI * Uniform()); }

 private:
  uint64_t state_;
};

struct SyntheticOptions {
  double labelled_share = 0.9;  // the rest have no KL (not shadow-sampled)
};

inline v1::TraceRecord SyntheticRecord(SyntheticRandom& random, const std::string& session, uint64_t step,
                                       const SyntheticOptions& options = {}) {
  static const char* kKinds[] = {"chat", "tool_result", "code", "search"};
  static const char* kTypes[] = {"coding", "research", "arithmetic"};
  v1::TraceRecord record;
  record.set_session_id(session);
  record.set_step_index(step);
  v1::StepFeatures* features = record.mutable_features();
  features->set_step_index(step);
  features->set_context_tokens(static_cast<uint64_t>(500 + 4000 * random.Uniform()));
  features->set_new_tokens(static_cast<uint64_t>(20 + 400 * random.Uniform()));
  features->set_turn_count(1 + static_cast<uint32_t>(random.Next() % 4));
  features->set_tool_calls(static_cast<uint32_t>(random.Next() % 10));
  features->set_tools_offered(static_cast<uint32_t>(random.Next() % 6));
  features->set_step_kind(kKinds[random.Next() % 4]);
  features->set_task_type(kTypes[random.Next() % 3]);
  auto unit_noise = [&](google::protobuf::RepeatedField<float>* values, int count) {
    double norm = 0;
    for (int i = 0; i < count; ++i) {
      const double v = random.Normal();
      values->Add(static_cast<float>(v));
      norm += v * v;
    }
    for (float& v : *values) v = static_cast<float>(v / std::sqrt(norm));
  };
  unit_noise(features->mutable_text_hash(), kTextHashBuckets);
  unit_noise(features->mutable_char_hash(), kCharHashBuckets);
  const double digits = 0.5 * random.Uniform();
  double shares[kCharClassCount];
  double rest = 0;
  for (double& share : shares) rest += (share = random.Uniform());
  for (double& share : shares) share *= (1 - digits) / rest;
  shares[static_cast<int>(CharClass::kDigit)] = digits;
  // Renormalise so the shares sum to 1 with the digit share exact.
  double others = 0;
  for (int i = 0; i < kCharClassCount; ++i) others += i == static_cast<int>(CharClass::kDigit) ? 0 : shares[i];
  for (int i = 0; i < kCharClassCount; ++i) {
    if (i != static_cast<int>(CharClass::kDigit)) shares[i] *= (1 - digits) / others;
    features->add_char_classes(static_cast<float>(shares[i]));
  }
  const bool high = random.Uniform() < (digits > 0.3 ? 0.9 : 0.08);
  const double log10_kl = high ? -0.7 + 0.35 * random.Normal() : -3.2 + 0.5 * random.Normal();
  if (random.Uniform() < options.labelled_share) {
    record.set_kl_divergence(std::pow(10.0, log10_kl));
    record.set_reference_tier("f16");
    record.set_low_tier("q4_0");
    record.set_scored_tokens(32);
  }
  return record;
}

}  // namespace quantclaw::testing

#endif  // QUANTCLAW_TESTS_LEARNING_SYNTHETIC_TRACES_H_
