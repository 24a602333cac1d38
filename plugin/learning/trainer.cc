#include "learning/trainer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "features/feature_vector.h"
#include "learning/model_file.h"

namespace quantclaw::learning {
namespace {

// splitmix64: a tiny generator whose sequence is the same on every platform.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed ^ 0x9E3779B97F4A7C15ull) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Normal() {  // Box-Muller
    const double u = 1.0 - Uniform(), v = Uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2 * M_PI * v);
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
  template <typename T>
  void Shuffle(std::vector<T>& values) {
    for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[Below(i)]);
  }

 private:
  uint64_t state_;
};

struct Layer {
  int inputs = 0, outputs = 0;
  std::vector<float> weights, biases;            // weights row-major, outputs x inputs
  std::vector<float> grad_weights, grad_biases;  // this batch
  std::vector<float> m_weights, v_weights, m_biases, v_biases;  // Adam moments
};

class Network {
 public:
  Network(int inputs, const std::vector<int>& hidden, Random& random) {
    int in = inputs;
    std::vector<int> widths(hidden);
    widths.push_back(1);
    for (size_t l = 0; l < widths.size(); ++l) {
      Layer layer;
      layer.inputs = in;
      layer.outputs = widths[l];
      const size_t count = static_cast<size_t>(in) * widths[l];
      layer.weights.resize(count);
      // He initialisation for layers feeding a ReLU; a logistic model starts at zero (its loss is convex).
      const bool logistic = hidden.empty();
      const double spread = std::sqrt((l + 1 < widths.size() ? 2.0 : 1.0) / in);
      for (float& w : layer.weights) w = logistic ? 0.0f : static_cast<float>(random.Normal() * spread);
      layer.biases.assign(widths[l], 0.0f);
      for (auto* v : {&layer.grad_weights, &layer.m_weights, &layer.v_weights}) v->assign(count, 0.0f);
      for (auto* v : {&layer.grad_biases, &layer.m_biases, &layer.v_biases}) v->assign(widths[l], 0.0f);
      layers_.push_back(std::move(layer));
      in = widths[l];
    }
    activations_.resize(layers_.size() + 1);
    deltas_.resize(layers_.size());
    for (size_t l = 0; l < layers_.size(); ++l) {
      activations_[l + 1].resize(layers_[l].outputs);
      deltas_[l].resize(layers_[l].outputs);
    }
  }

  // The logit for standardised input x; keeps the activations for Backward.
  double Forward(const float* x) {
    activations_[0].assign(x, x + layers_[0].inputs);
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& layer = layers_[l];
      const std::vector<float>& in = activations_[l];
      std::vector<float>& out = activations_[l + 1];
      const bool last = l + 1 == layers_.size();
      for (int o = 0; o < layer.outputs; ++o) {
        const float* row = layer.weights.data() + static_cast<size_t>(o) * layer.inputs;
        float sum = layer.biases[o];
        for (int i = 0; i < layer.inputs; ++i) sum += row[i] * in[i];
        out[o] = last ? sum : std::max(0.0f, sum);
      }
    }
    return activations_.back()[0];
  }

  // Adds this sample's gradient, given d(loss)/d(logit), to the batch's.
  void Backward(float d_logit) {
    deltas_.back()[0] = d_logit;
    for (size_t l = layers_.size(); l-- > 0;) {
      Layer& layer = layers_[l];
      const std::vector<float>& in = activations_[l];
      const std::vector<float>& delta = deltas_[l];
      for (int o = 0; o < layer.outputs; ++o) {
        if (delta[o] == 0.0f) continue;
        float* grad = layer.grad_weights.data() + static_cast<size_t>(o) * layer.inputs;
        for (int i = 0; i < layer.inputs; ++i) grad[i] += delta[o] * in[i];
        layer.grad_biases[o] += delta[o];
      }
      if (l == 0) break;
      std::vector<float>& below = deltas_[l - 1];
      std::fill(below.begin(), below.end(), 0.0f);
      for (int o = 0; o < layer.outputs; ++o) {
        if (delta[o] == 0.0f) continue;
        const float* row = layer.weights.data() + static_cast<size_t>(o) * layer.inputs;
        for (int i = 0; i < layer.inputs; ++i) below[i] += row[i] * delta[o];
      }
      for (int i = 0; i < layer.inputs; ++i) {
        if (in[i] <= 0.0f) below[i] = 0.0f;  // ReLU
      }
    }
  }

  void AdamStep(int batch_size, double learning_rate, double l2) {
    ++step_;
    constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEpsilon = 1e-8;
    const double correction1 = 1 - std::pow(kBeta1, step_), correction2 = 1 - std::pow(kBeta2, step_);
    auto update = [&](std::vector<float>& params, std::vector<float>& grads, std::vector<float>& m,
                      std::vector<float>& v, double decay) {
      for (size_t i = 0; i < params.size(); ++i) {
        const double g = grads[i] / batch_size + decay * params[i];
        m[i] = static_cast<float>(kBeta1 * m[i] + (1 - kBeta1) * g);
        v[i] = static_cast<float>(kBeta2 * v[i] + (1 - kBeta2) * g * g);
        params[i] -= static_cast<float>(learning_rate * (m[i] / correction1) / (std::sqrt(v[i] / correction2) + kEpsilon));
        grads[i] = 0.0f;
      }
    };
    for (Layer& layer : layers_) {
      update(layer.weights, layer.grad_weights, layer.m_weights, layer.v_weights, l2);
      update(layer.biases, layer.grad_biases, layer.m_biases, layer.v_biases, 0.0);  // biases are not shrunk
    }
  }

  const std::vector<Layer>& layers() const { return layers_; }
  void Restore(const std::vector<Layer>& layers) { layers_ = layers; }

 private:
  std::vector<Layer> layers_;
  std::vector<std::vector<float>> activations_, deltas_;
  int step_ = 0;
};

// log(1 + exp(-|z|)) + max(z, 0) - y z: cross-entropy with logits, stable for large |z|.
double CrossEntropy(double logit, bool label) {
  return std::log1p(std::exp(-std::fabs(logit))) + std::max(logit, 0.0) - (label ? logit : 0.0);
}

std::vector<float> Standardised(const StepTable& table, const std::vector<float>& mean, const std::vector<float>& scale) {
  std::vector<float> out(table.features.size());
  const int count = table.feature_count;
  for (size_t r = 0; r < table.rows(); ++r) {
    for (int i = 0; i < count; ++i) {
      const size_t at = r * count + i;
      out[at] = (table.features[at] - mean[i]) / scale[i];
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<Split> SplitByGroup(const std::vector<std::string>& group, double holdout, double validation,
                                   uint64_t seed) {
  std::map<std::string, int> index;  // sorted, so the order (and the split) does not depend on file order
  for (const std::string& name : group) index.emplace(name, 0);
  if (index.size() < 3) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the labelled steps come from ", index.size(),
        " session(s); a held-out split by session needs at least 3 (records without a session_id are grouped by "
        "file and blocks of 64)"));
  }
  std::vector<std::string> names;
  for (auto& [name, unused] : index) names.push_back(name);
  Random random(seed);
  random.Shuffle(names);
  const size_t groups = names.size();
  auto share = [&](double fraction) {
    return std::clamp<size_t>(static_cast<size_t>(std::llround(fraction * static_cast<double>(groups))), 1, groups - 2);
  };
  Split split;
  split.holdout_groups = share(holdout);
  split.validation_groups = std::min(share(validation), groups - 1 - split.holdout_groups);
  split.train_groups = groups - split.holdout_groups - split.validation_groups;
  for (size_t i = 0; i < groups; ++i) {
    index[names[i]] = i < split.holdout_groups ? 2 : (i < split.holdout_groups + split.validation_groups ? 1 : 0);
  }
  for (size_t row = 0; row < group.size(); ++row) {
    const int side = index[group[row]];
    (side == 2 ? split.holdout : side == 1 ? split.validation : split.train).push_back(row);
  }
  return split;
}

TrainResult Train(const StepTable& train, const std::vector<bool>& train_labels, const StepTable& validation,
                  const std::vector<bool>& validation_labels, const TrainOptions& options, const EpochFn& on_epoch) {
  const int count = train.feature_count;
  const size_t rows = train.rows();
  // Standardise on the training rows only: the held-out rows must not leak into anything learned.
  std::vector<float> mean(count, 0.0f), scale(count, 1.0f);
  for (int i = 0; i < count; ++i) {
    double sum = 0, squares = 0;
    for (size_t r = 0; r < rows; ++r) sum += train.features[r * count + i];
    const double mu = rows > 0 ? sum / static_cast<double>(rows) : 0;
    for (size_t r = 0; r < rows; ++r) {
      const double d = train.features[r * count + i] - mu;
      squares += d * d;
    }
    const double sd = rows > 1 ? std::sqrt(squares / static_cast<double>(rows - 1)) : 0;
    mean[i] = static_cast<float>(mu);
    // A feature constant over the training rows (an unused hash slot) keeps its scale 1: dividing by a tiny
    // spread would turn a stray live value into an enormous input.
    scale[i] = sd > 1e-6 ? static_cast<float>(sd) : 1.0f;
  }
  const std::vector<float> x_train = Standardised(train, mean, scale);
  const std::vector<float> x_validation = Standardised(validation, mean, scale);

  // Class weights inversely proportional to frequency (DMR eq. 6), normalised so they average 1.
  size_t positives = 0;
  for (bool label : train_labels) positives += label;
  const size_t negatives = rows - positives;
  const double weight_positive = positives > 0 ? static_cast<double>(rows) / (2.0 * positives) : 1.0;
  const double weight_negative = negatives > 0 ? static_cast<double>(rows) / (2.0 * negatives) : 1.0;
  auto weight = [&](bool label) { return label ? weight_positive : weight_negative; };

  Random random(options.seed);
  Network network(count, options.hidden, random);
  auto validation_loss = [&] {
    double total = 0, weights = 0;
    for (size_t r = 0; r < validation.rows(); ++r) {
      const bool label = validation_labels[r];
      total += weight(label) * CrossEntropy(network.Forward(x_validation.data() + r * count), label);
      weights += weight(label);
    }
    return weights > 0 ? total / weights : 0.0;
  };

  TrainResult result;
  double best_loss = std::numeric_limits<double>::infinity();
  std::vector<Layer> best = network.layers();
  std::vector<size_t> order(rows);
  for (size_t r = 0; r < rows; ++r) order[r] = r;
  for (int epoch = 1; epoch <= options.max_epochs; ++epoch) {
    random.Shuffle(order);
    for (size_t start = 0; start < rows; start += options.batch) {
      const size_t end = std::min(rows, start + options.batch);
      for (size_t k = start; k < end; ++k) {
        const size_t r = order[k];
        const bool label = train_labels[r];
        const double logit = network.Forward(x_train.data() + r * count);
        const double probability = 1.0 / (1.0 + std::exp(-logit));
        network.Backward(static_cast<float>(weight(label) * (probability - (label ? 1.0 : 0.0))));
      }
      network.AdamStep(static_cast<int>(end - start), options.learning_rate, options.l2);
    }
    const double loss = validation_loss();
    result.epochs = epoch;
    if (on_epoch) on_epoch(epoch, loss);
    if (loss < best_loss - 1e-6) {
      best_loss = loss;
      best = network.layers();
      result.best_epoch = epoch;
    } else if (epoch - result.best_epoch >= options.patience) {
      break;
    }
  }
  network.Restore(best);
  result.validation_loss = best_loss;

  v1::LearnedModel& model = result.model;
  model.set_format_version(kLearnedModelFormatVersion);
  model.set_feature_set(std::string(kStepFeaturesV1));
  model.set_feature_count(static_cast<uint32_t>(count));
  for (int i = 0; i < count; ++i) {
    model.add_feature_mean(mean[i]);
    model.add_feature_scale(scale[i]);
  }
  const std::vector<Layer>& layers = network.layers();
  if (options.hidden.empty()) {
    v1::LogisticModel* logistic = model.mutable_logistic();
    logistic->mutable_weights()->Add(layers[0].weights.begin(), layers[0].weights.end());
    logistic->set_bias(layers[0].biases[0]);
  } else {
    for (const Layer& layer : layers) {
      v1::DenseLayer* dense = model.mutable_mlp()->add_layers();
      dense->set_inputs(static_cast<uint32_t>(layer.inputs));
      dense->set_outputs(static_cast<uint32_t>(layer.outputs));
      dense->mutable_weights()->Add(layer.weights.begin(), layer.weights.end());
      dense->mutable_biases()->Add(layer.biases.begin(), layer.biases.end());
    }
  }
  return result;
}

}  // namespace quantclaw::learning
