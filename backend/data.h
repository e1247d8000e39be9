#pragma once
// Deterministic synthetic data: for the MLP, Gaussian features through a fixed random teacher,
// targets scaled to unit variance, then raw features distorted by the recipe's scale and
// offset. Same seed, same bytes, on any device. The other workloads' data come in their natural
// shape: one-channel images of oriented stripes ([n, 1, s, s], class targets), token sequences
// with a period to learn ([n, seq_len] tokens, next-token targets), sequences of features for
// the LSTM ([n, seq_len, features], a decaying sum through tanh), or a scripted model's file.
#include "backend/recipe.h"
#include "backend/torch_includes.h"

namespace tw {

class Dataset {
 public:
  Dataset(const Recipe& recipe, uint64_t seed, c10::Device device);
  // The micro-th of `micro_count` slices of step `step`'s batch of `batch_size` examples.
  std::pair<at::Tensor, at::Tensor> batch(int64_t step, int64_t batch_size, int64_t micro = 0,
                                          int64_t micro_count = 1) const;
  std::pair<at::Tensor, at::Tensor> eval() const { return {eval_x_, eval_y_}; }
  int64_t size() const { return size_; }

 private:
  std::pair<at::Tensor, at::Tensor> generate(int64_t n, uint64_t seed) const;  // raw x (cpu), y
  std::pair<at::Tensor, at::Tensor> generate_workload(int64_t n, uint64_t seed) const;
  void workload_teacher(at::Generator& g, uint64_t seed);  // every model but the MLP family
  at::Tensor represent(const at::Tensor& raw) const;  // as the source delivers it (float64)
  at::Tensor transform(at::Tensor raw) const;

  Recipe recipe_;
  uint64_t seed_;
  c10::Device device_;
  int64_t size_;
  at::Tensor w1_, w2_, linear_, scale_, offset_;  // teacher and distortion (cpu)
  double target_std_ = 1;
  bool tokens_ = false;                    // integer token inputs: no distortion, no preprocessing
  at::Tensor scripted_eval_x_, scripted_eval_y_;  // scripted: the held-out tail of its file
  at::Tensor mean_, std_, min_, max_;      // preprocessing statistics from the training data
  at::Tensor x_, y_;                       // whole training set (memory source)
  at::Tensor eval_x_, eval_y_;
};

}  // namespace tw
