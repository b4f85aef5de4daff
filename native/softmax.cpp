// Row-wise softmax and log-softmax over the last dim of (R, C) f32, forward and backward.
// Stable (max subtraction); a fully masked (all -inf) row gives zeros (log: -inf), NaN propagates.
#include "common.h"
#include "fused_math.h"

namespace llava {
namespace {

using namespace fused;

// Rows per parallel chunk are at least this many elements of work.
constexpr int64_t kGrainElems = 1 << 14;

int64_t row_grain(int64_t cols) { return cols >= kGrainElems ? 1 : kGrainElems / cols; }

// One row of softmax / log-softmax; scratch holds cols floats (x may equal y).
void softmax_row(const float* x, float* y, int64_t cols, bool log, float* scratch) {
  const float m = row_max(x, cols);
  if (m == kNegInf) {
    const float fill_value = row_has_nan(x, cols) ? kNaN : (log ? kNegInf : 0.0f);
    for (int64_t j = 0; j < cols; j++) y[j] = fill_value;
    return;
  }
  if (log) {
    const float log_sum = float(std::log(exp_shifted_sum(x, scratch, cols, m)));
    for (int64_t j = 0; j < cols; j++) y[j] = (x[j] - m) - log_sum;
  } else {
    const float inv_sum = float(1.0 / exp_shifted_sum(x, y, cols, m));
    for (int64_t j = 0; j < cols; j++) y[j] *= inv_sum;
  }
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const int64_t rows = i64(info, 0), cols = i64(info, 1);
  const float* x = ptr(info, 2);
  float* y = ptr(info, 3);
  const bool log = info[4].As<Napi::Boolean>().Value();
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1, int) {
    std::vector<float> scratch(log ? cols : 0);
    for (int64_t r = r0; r < r1; r++) softmax_row(x + r * cols, y + r * cols, cols, log, scratch.data());
  });
  return info.Env().Undefined();
}

// softmax: dx = y (dy - <dy, y>); log-softmax: dx = dy - exp(y) sum(dy).
void softmax_backward_row(const float* y, const float* dy, float* dx, int64_t cols, bool log) {
  if (log) {
    const float total = float(sum_f64(dy, cols));
    for (int64_t j = 0; j < cols; j++) dx[j] = dy[j] - exp_nonpos(y[j]) * total;
  } else {
    const float dot = float(dot_f64(dy, y, cols));
    for (int64_t j = 0; j < cols; j++) dx[j] = y[j] * (dy[j] - dot);
  }
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  const int64_t rows = i64(info, 0), cols = i64(info, 1);
  const float* y = ptr(info, 2);
  const float* dy = ptr(info, 3);
  float* dx = ptr(info, 4);
  const bool log = info[5].As<Napi::Boolean>().Value();
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; r++) softmax_backward_row(y + r * cols, dy + r * cols, dx + r * cols, cols, log);
  });
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward));
}

RegisterFamily registered(Register);

}  // namespace
}  // namespace llava
