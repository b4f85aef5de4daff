// Row math shared by the fused kernels (softmax, norms, attention, loss): an exp for the
// shifted scores of a stable softmax and NaN-aware row reductions that GCC vectorises without -ffast-math.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include "vecmath.h"

namespace llava {
namespace fused {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Independent partial sums per reduction: the compiler may vectorise over them without
// reassociating a single accumulator, and the summation order stays fixed.
constexpr int kLanes = 16;

// exp(x) for x <= 0 (the shifted scores of a stable softmax): -inf gives 0, NaN stays NaN,
// and results under 2^-126 flush to 0 so later products never meet slow subnormals.
inline float exp_nonpos(float x) {
  constexpr float kMinArg = -87.33654475f;  // ln(2^-126)
  const float y = vec::exp_f32(x);
  return x < kMinArg ? 0.0f : y;
}

// Max of n floats ignoring NaN (-inf when n == 0 or all are -inf/NaN).
inline float row_max(const float* x, int64_t n) {
  float m[kLanes];
  for (int l = 0; l < kLanes; l++) m[l] = kNegInf;
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; l++) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
  for (; j < n; j++) m[0] = x[j] > m[0] ? x[j] : m[0];
  float out = kNegInf;
  for (int l = 0; l < kLanes; l++) out = m[l] > out ? m[l] : out;
  return out;
}

inline bool row_has_nan(const float* x, int64_t n) {
  for (int64_t j = 0; j < n; j++)
    if (x[j] != x[j]) return true;
  return false;
}

// Sum of n floats in f64 with a fixed order.
inline double sum_f64(const float* x, int64_t n) {
  double s[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; l++) s[l] += double(x[j + l]);
  for (; j < n; j++) s[0] += double(x[j]);
  double out = 0;
  for (int l = 0; l < kLanes; l++) out += s[l];
  return out;
}

// Dot product of n floats in f64 with a fixed order.
inline double dot_f64(const float* a, const float* b, int64_t n) {
  double s[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; l++) s[l] += double(a[j + l]) * double(b[j + l]);
  for (; j < n; j++) s[0] += double(a[j]) * double(b[j]);
  double out = 0;
  for (int l = 0; l < kLanes; l++) out += s[l];
  return out;
}

// Sum of (x - c)^2 in f64 (the second pass of a two-pass variance).
inline double sumsq_dev_f64(const float* x, int64_t n, double c) {
  double s[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; l++) {
      const double d = double(x[j + l]) - c;
      s[l] += d * d;
    }
  for (; j < n; j++) {
    const double d = double(x[j]) - c;
    s[0] += d * d;
  }
  double out = 0;
  for (int l = 0; l < kLanes; l++) out += s[l];
  return out;
}

// y[j] = exp(x[j] - m) for a row whose max is m (y may equal x); returns the f64 sum.
inline double exp_shifted_sum(const float* x, float* y, int64_t n, float m) {
  for (int64_t j = 0; j < n; j++) y[j] = exp_nonpos(x[j] - m);
  return sum_f64(y, n);
}

}  // namespace fused
}  // namespace llava
