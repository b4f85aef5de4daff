// Cross-entropy over rows of logits (R, V) against i32 targets with an ignore index,
// forward (loss and lse per row) and backward (softmax minus one-hot, scaled by dloss).
#include "common.h"
#include "fused_math.h"
#include <string>

namespace llava {
namespace {

using namespace fused;

// Rows per parallel chunk are at least this many logits of work.
constexpr int64_t kGrainElems = 1 << 15;

int64_t row_grain(int64_t vocab) { return vocab >= kGrainElems ? 1 : kGrainElems / vocab; }

// Throws a JS error (returns false) unless every target is the ignore index or in [0, vocab).
bool check_targets(const Napi::Env& env, const char* kernel, const int32_t* targets, int64_t rows, int64_t vocab,
                   int64_t ignore_index) {
  for (int64_t r = 0; r < rows; r++) {
    const int64_t t = targets[r];
    if (t != ignore_index && (t < 0 || t >= vocab)) {
      const std::string msg = std::string(kernel) + ": target " + std::to_string(t) + " at row " + std::to_string(r) +
                              " is outside [0, " + std::to_string(vocab) + ") and is not the ignore index " +
                              std::to_string(ignore_index);
      fail(env, msg.c_str());
      return false;
    }
  }
  return true;
}

// log(sum(exp(x))) of one row: -inf when all are -inf, NaN when any is NaN.
float row_log_sum_exp(const float* x, int64_t vocab, float* scratch) {
  const float m = row_max(x, vocab);
  if (m == kNegInf) return row_has_nan(x, vocab) ? kNaN : kNegInf;
  return m + float(std::log(exp_shifted_sum(x, scratch, vocab, m)));
}

Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  const int64_t rows = i64(info, 0), vocab = i64(info, 1);
  const float* logits = ptr(info, 2);
  const int32_t* targets = ptr<int32_t>(info, 3);
  const int64_t ignore_index = i64(info, 4);
  float* loss = ptr(info, 5);
  float* lse = ptr(info, 6);
  if (!check_targets(info.Env(), "crossEntropy", targets, rows, vocab, ignore_index)) return info.Env().Undefined();
  parallel_for(rows, row_grain(vocab), [&](int64_t r0, int64_t r1, int) {
    std::vector<float> scratch(vocab);
    for (int64_t r = r0; r < r1; r++) {
      const float* x = logits + r * vocab;
      lse[r] = row_log_sum_exp(x, vocab, scratch.data());
      loss[r] = targets[r] == ignore_index ? 0.0f : lse[r] - x[targets[r]];
    }
  });
  int64_t counted = 0;
  for (int64_t r = 0; r < rows; r++) counted += targets[r] != ignore_index;
  return Napi::Number::New(info.Env(), double(counted));
}

Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const int64_t rows = i64(info, 0), vocab = i64(info, 1);
  const float* logits = ptr(info, 2);
  const int32_t* targets = ptr<int32_t>(info, 3);
  const int64_t ignore_index = i64(info, 4);
  const float* lse = ptr(info, 5);
  const float* dloss = ptr(info, 6);
  float* dlogits = ptr(info, 7);
  if (!check_targets(info.Env(), "crossEntropyBackward", targets, rows, vocab, ignore_index))
    return info.Env().Undefined();
  parallel_for(rows, row_grain(vocab), [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; r++) {
      const float* x = logits + r * vocab;
      float* dx = dlogits + r * vocab;
      if (targets[r] == ignore_index) {
        for (int64_t j = 0; j < vocab; j++) dx[j] = 0.0f;
        continue;
      }
      const float row_lse = lse[r], scale = dloss[r];
      for (int64_t j = 0; j < vocab; j++) dx[j] = exp_nonpos(x[j] - row_lse) * scale;
      dx[targets[r]] = (exp_nonpos(x[targets[r]] - row_lse) - 1.0f) * scale;
    }
  });
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("crossEntropy", Napi::Function::New(env, CrossEntropy));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward));
}

RegisterFamily registered(Register);

}  // namespace
}  // namespace llava
