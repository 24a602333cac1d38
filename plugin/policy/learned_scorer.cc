// The learned scorer: a model `quantclaw train` wrote (policy/learned_model.h) scores every step; the
// score, its probability that the step needs the high tier, is held against the thresholds and budget
// like any other. It never declines.
//   {"kind": "learned", "model": "PATH"}
// PATH is opened as given (a relative path from the host process's working directory, as
// shadow.trace_path is). The model is read when the config is loaded, so qc_router_reload with the same
// config picks up a new file at PATH; a missing or damaged file fails that load (the running config
// stays) with the error at /policy/scorer/model.
#include <memory>
#include <string>

#include <boost/json.hpp>

#include "features/feature_vector.h"
#include "policy/learned_model.h"
#include "policy/scorer.h"
#include "util/strings.h"

namespace quantclaw {
namespace {

class LearnedScorer final : public Scorer {
 public:
  LearnedScorer(std::shared_ptr<const LearnedModel> model, std::string description)
      : model_(std::move(model)), description_(std::move(description)) {}

  ScorerVerdict Score(const ScoringContext& context, size_t position, RoutingDecision* decision) const override {
    float features[kStepFeaturesV1Size];
    StepFeatureVector(context.features, context.state.task_type.view(), features);
    const double score = model_->Score(features);
    SetReason(decision, "learned: scorer %zu %s scored %.3f", position, description_.c_str(), score);
    return {ScorerVerdict::Kind::kScore, score, 0};
  }

 private:
  const std::shared_ptr<const LearnedModel> model_;
  const std::string description_;  // "mlp 163-64-32-1", for the reason
};

}  // namespace

std::unique_ptr<const Scorer> ParseLearnedScorer(const ScorerSection& section) {
  Validator& v = section.v;
  v.AsObject(section.value, section.pointer, {"kind", "model"});
  std::optional<std::string> path = v.String(section.object, "model", section.pointer, true);
  if (!path) return nullptr;
  if (path->empty()) return nullptr;  // the validator said so
  const std::string pointer = JoinPointer(section.pointer, "model");
  absl::StatusOr<std::shared_ptr<const LearnedModel>> model = LearnedModel::Load(*path);
  if (!model.ok()) {
    v.Error(pointer, std::string(model.status().message()));
    return nullptr;
  }
  // The live vector below is quantclaw.step.v1; a set this build also knew but the scorer did not
  // compute would score garbage, so it is refused here rather than trusted.
  if ((*model)->feature_set() != kStepFeaturesV1) {
    v.Error(pointer, StrCat(*path, ": feature_set ", Quote((*model)->feature_set()), ": the learned scorer computes ",
                            Quote(kStepFeaturesV1), " only"));
    return nullptr;
  }
  std::string description = (*model)->is_mlp() ? "mlp " : "logistic ";
  for (size_t i = 0; i < (*model)->widths().size(); ++i) {
    StrAppend(&description, i == 0 ? "" : "-", (*model)->widths()[i]);
  }
  return std::make_unique<LearnedScorer>(*std::move(model), std::move(description));
}

}  // namespace quantclaw
