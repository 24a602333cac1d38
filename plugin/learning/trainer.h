// Training the step scorer (DMR's KL-ST stage, with our fixed-size step features instead of its
// Transformer over the trajectory): class-weighted cross-entropy, mini-batch Adam with L2, early stopping
// on a validation split. A logistic model is the network with no hidden layer. Deterministic for a seed:
// our own generator draws (no std:: distributions, whose output differs between standard libraries),
// and the arithmetic runs in one fixed order on one thread.
#ifndef QUANTCLAW_PLUGIN_LEARNING_TRAINER_H_
#define QUANTCLAW_PLUGIN_LEARNING_TRAINER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "learning/dataset.h"
#include "quantclaw/v1/learned_model.pb.h"

namespace quantclaw::learning {

// Rows split by group (session), never by row: steps of one session share context and often text, so a
// session on both sides would let the held-out figure measure memory rather than learning.
struct Split {
  std::vector<size_t> train, validation, holdout;
  size_t train_groups = 0, validation_groups = 0, holdout_groups = 0;
};
// Shares of the groups (not rows) held out and set aside for early stopping; at least one group each.
// Fewer than three groups is an error: there is nothing to hold out.
absl::StatusOr<Split> SplitByGroup(const std::vector<std::string>& group, double holdout, double validation,
                                   uint64_t seed);

struct TrainOptions {
  std::vector<int> hidden;  // hidden layer widths; empty: logistic
  uint64_t seed = 1;
  int max_epochs = 150;
  int patience = 12;  // epochs without a better validation loss before stopping
  int batch = 64;
  double learning_rate = 3e-3;
  double l2 = 1e-4;
};

struct TrainResult {
  v1::LearnedModel model;  // feature set, standardisation and weights; no label threshold or provenance
  int epochs = 0;          // run
  int best_epoch = 0;      // whose weights were kept
  double validation_loss = 0;
};

// Called after each epoch with its number and validation loss.
using EpochFn = std::function<void(int epoch, double validation_loss)>;

// `train` and `validation` are rows of the same feature set; labels are true for "needs high precision".
TrainResult Train(const StepTable& train, const std::vector<bool>& train_labels, const StepTable& validation,
                  const std::vector<bool>& validation_labels, const TrainOptions& options, const EpochFn& on_epoch);

}  // namespace quantclaw::learning

#endif  // QUANTCLAW_PLUGIN_LEARNING_TRAINER_H_
