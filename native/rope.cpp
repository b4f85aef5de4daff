// Rotary position embedding (HF "rotate_half" layout) over strided (B, H, T, D) f32 views;
// inverse = true rotates by -angle, which is the backward pass. Angles are computed in f64.
#include "common.h"
#include "heads.h"
#include <algorithm>
#include <cmath>

namespace llava {
namespace {

// Rotated elements per parallel chunk at least: a decode step's few rows (a handful of heads
// each) are cheaper to rotate on one thread than to hand to another.
constexpr int64_t kGrainElems = 1 << 14;

// y[d] = x[d] cos - x[d + half] sin, y[d + half] = x[d + half] cos + x[d] sin for d < half;
// dims from 2 half on are copied. x is read into `saved` first so y may alias x.
void rotate_row(const float* x, float* y, int64_t head_dim, int64_t half, const float* cos_t, const float* sin_t,
                float* saved) {
  for (int64_t d = 0; d < 2 * half; d++) saved[d] = x[d];
  for (int64_t d = 0; d < half; d++) {
    y[d] = saved[d] * cos_t[d] - saved[d + half] * sin_t[d];
    y[d + half] = saved[d + half] * cos_t[d] + saved[d] * sin_t[d];
  }
  if (x != y)
    for (int64_t d = 2 * half; d < head_dim; d++) y[d] = x[d];
}

Napi::Value Rope(const Napi::CallbackInfo& info) {
  const int64_t batch = i64(info, 0), heads = i64(info, 1), t = i64(info, 2), head_dim = i64(info, 3),
                rot_dim = i64(info, 4);
  const Heads x = heads_arg(info, 5), y = heads_arg(info, 6);
  const int32_t* positions = ptr<int32_t>(info, 7);
  const double theta = f64(info, 8);
  const double sign = info[9].As<Napi::Boolean>().Value() ? -1.0 : 1.0;
  const int64_t half = rot_dim / 2;
  std::vector<double> inv_freq(half);
  for (int64_t d = 0; d < half; d++) inv_freq[d] = std::pow(theta, -2.0 * double(d) / double(rot_dim));
  const int64_t grain_rows = std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, heads * head_dim));
  parallel_for(batch * t, grain_rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> cos_t(half), sin_t(half), saved(2 * half);
    for (int64_t r = r0; r < r1; r++) {
      const int64_t b = r / t, i = r % t;
      const double pos = double(positions[r]);
      for (int64_t d = 0; d < half; d++) {
        const double angle = sign * pos * inv_freq[d];
        cos_t[d] = float(std::cos(angle));
        sin_t[d] = float(std::sin(angle));
      }
      for (int64_t h = 0; h < heads; h++)
        rotate_row(x.row(b, h, i), y.row(b, h, i), head_dim, half, cos_t.data(), sin_t.data(), saved.data());
    }
  });
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) { exports.Set("rope", Napi::Function::New(env, Rope)); }

RegisterFamily registered(Register);

}  // namespace
}  // namespace llava
