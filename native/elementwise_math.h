// Scalar math of the native elementwise kernels: op codes, a vectorisable exp (and expm1,
// tanh, erfc built on it), and each unary op's value and derivative, binary ops too.
#pragma once
#include <cmath>
#include <cstdint>
#include "vecmath.h"

namespace llava {
namespace elementwise {

// Op codes; the order matches UNARY_CODE / BINARY_CODE in src/backend/native/elementwise.ts.
enum UnaryCode : int {
  U_AFFINE, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_TANH, U_SIGMOID, U_RELU, U_GELU, U_GELU_TANH,
  U_QUICK_GELU, U_SILU, U_ABS, U_SQUARE, U_POW, U_SIN, U_COS, U_COUNT
};
enum BinaryCode : int { B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_EQ, B_LT, B_GT, B_COUNT };

constexpr float kSqrt1_2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kGeluTanhScale = 0.79788456080286536f;  // sqrt(2 / pi)
constexpr float kGeluTanhCubic = 0.044715f;
constexpr float kQuickGeluSlope = 1.702f;
constexpr float kHalfLn2 = 0.34657359027997264f;
constexpr float kTanhSaturate = 9.0f;  // tanh(9) rounds to 1 in f32

using vec::exp_f32;

inline float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

// e^y - 1 without the cancellation near 0: there its own Taylor series (degree 8, exact
// to well under an ulp for |y| <= ln2/2), elsewhere exp_f32(y) - 1 (a few ulp at worst).
inline float expm1_f32(float y) {
  float p = 1.0f / 40320.0f;
  p = std::fma(p, y, 1.0f / 5040.0f);
  p = std::fma(p, y, 1.0f / 720.0f);
  p = std::fma(p, y, 1.0f / 120.0f);
  p = std::fma(p, y, 1.0f / 24.0f);
  p = std::fma(p, y, 1.0f / 6.0f);
  p = std::fma(p, y, 0.5f);
  p = std::fma(p, y, 1.0f);
  const float near_zero = p * y;
  const float elsewhere = exp_f32(y) - 1.0f;
  return std::fabs(y) <= kHalfLn2 ? near_zero : elsewhere;
}

// tanh(x) = (e^2x - 1) / (e^2x + 1), vectorisable; beyond |x| = 9 it is +-1 in f32.
inline float tanh_f32(float x) {
  x = x < -kTanhSaturate ? -kTanhSaturate : x;
  x = x > kTanhSaturate ? kTanhSaturate : x;
  const float e = expm1_f32(2.0f * x);
  return e / (e + 2.0f);
}

// erfc(z) for z >= 0 as t exp(-z^2 + h(t)) with t = 1 / (1 + z/2). h is a degree-10
// polynomial in u = 2t - 1, fitted for this file by Chebyshev interpolation of the exact
// h over t in [0, 1]: relative error < 3e-7, plus ~ulp(z^2)/2 from rounding the exponent.
inline float erfc_nonneg(float z) {
  const float t = 1.0f / std::fma(0.5f, z, 1.0f);
  const float u = std::fma(2.0f, t, -1.0f);
  float h = 4.657888439396629e-06f;
  h = std::fma(h, u, 0.000332440686179325f);
  h = std::fma(h, u, -0.00021942693274468184f);
  h = std::fma(h, u, -0.0020458060316741467f);
  h = std::fma(h, u, 0.0017864968394860625f);
  h = std::fma(h, u, 0.008701601065695286f);
  h = std::fma(h, u, -0.009877244010567665f);
  h = std::fma(h, u, -0.0468742698431015f);
  h = std::fma(h, u, 0.047343526035547256f);
  h = std::fma(h, u, 0.672642171382904f);
  h = std::fma(h, u, -0.671794056892395f);
  return t * exp_f32(std::fma(-z, z, h));
}

// Standard normal CDF: the erfc tail is used on the side where it is small, so no cancellation.
inline float normal_cdf(float x) {
  const float half_tail = 0.5f * erfc_nonneg(std::fabs(x) * kSqrt1_2);
  return x < 0.0f ? half_tail : 1.0f - half_tail;
}
// gelu_tanh(x) = 0.5 x (1 + tanh(u)) = x * sigmoid(2u): no cancellation for negative x.
inline float gelu_tanh_arg(float x) { return kGeluTanhScale * (x + kGeluTanhCubic * x * x * x); }
// Forward value of each unary op.
template <int Op>
inline float unary_fwd(float x, float alpha, float beta) {
  if constexpr (Op == U_AFFINE) return std::fma(alpha, x, beta);
  if constexpr (Op == U_EXP) return exp_f32(x);
  if constexpr (Op == U_LOG) return std::log(x);
  if constexpr (Op == U_SQRT) return std::sqrt(x);
  if constexpr (Op == U_RSQRT) return 1.0f / std::sqrt(x);
  if constexpr (Op == U_TANH) return tanh_f32(x);
  if constexpr (Op == U_SIGMOID) return sigmoid_f32(x);
  if constexpr (Op == U_RELU) return x < 0.0f ? 0.0f : x;
  if constexpr (Op == U_GELU) return x * normal_cdf(x);
  if constexpr (Op == U_GELU_TANH) return x * sigmoid_f32(2.0f * gelu_tanh_arg(x));
  if constexpr (Op == U_QUICK_GELU) return x * sigmoid_f32(kQuickGeluSlope * x);
  if constexpr (Op == U_SILU) return x * sigmoid_f32(x);
  if constexpr (Op == U_ABS) return std::fabs(x);
  if constexpr (Op == U_SQUARE) return x * x;
  if constexpr (Op == U_POW) return std::pow(x, alpha);
  if constexpr (Op == U_SIN) return std::sin(x);
  if constexpr (Op == U_COS) return std::cos(x);
  return 0.0f;
}

// Derivative of each unary op; kinks follow PyTorch (relu'(0) = 0, abs'(0) = 0, d x^0 = 0).
template <int Op>
inline float unary_grad(float x, float alpha, float beta) {
  if constexpr (Op == U_AFFINE) return alpha;
  if constexpr (Op == U_EXP) return exp_f32(x);
  if constexpr (Op == U_LOG) return 1.0f / x;
  if constexpr (Op == U_SQRT) return 0.5f / std::sqrt(x);
  if constexpr (Op == U_RSQRT) return -0.5f / (x * std::sqrt(x));
  // tanh' = 1 - tanh^2 and sigmoid' = s (1 - s) cancel in the tails; these forms do not.
  if constexpr (Op == U_TANH) {
    const float e = exp_f32(-2.0f * std::fabs(x));
    return 4.0f * e / ((1.0f + e) * (1.0f + e));
  }
  if constexpr (Op == U_SIGMOID) {
    const float e = exp_f32(-std::fabs(x));
    return e / ((1.0f + e) * (1.0f + e));
  }
  if constexpr (Op == U_RELU) return x > 0.0f ? 1.0f : (x != x ? x : 0.0f);
  if constexpr (Op == U_GELU) return normal_cdf(x) + x * kInvSqrt2Pi * exp_f32(-0.5f * x * x);
  if constexpr (Op == U_GELU_TANH) {
    float s = sigmoid_f32(2.0f * gelu_tanh_arg(x));  // = 0.5 (1 + tanh u)
    float du = kGeluTanhScale * (1.0f + 3.0f * kGeluTanhCubic * x * x);
    return s + 2.0f * x * s * (1.0f - s) * du;
  }
  if constexpr (Op == U_QUICK_GELU) {
    float s = sigmoid_f32(kQuickGeluSlope * x);
    return s + kQuickGeluSlope * x * s * (1.0f - s);
  }
  if constexpr (Op == U_SILU) {
    float s = sigmoid_f32(x);
    return s * (1.0f + x * (1.0f - s));
  }
  if constexpr (Op == U_ABS) return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : (x != x ? x : 0.0f));
  if constexpr (Op == U_SQUARE) return 2.0f * x;
  if constexpr (Op == U_POW) return alpha == 0.0f ? 0.0f : alpha * std::pow(x, alpha - 1.0f);
  if constexpr (Op == U_SIN) return std::cos(x);
  if constexpr (Op == U_COS) return -std::sin(x);
  return 0.0f;
}

// a op b. max/min propagate NaN and keep a on ties; comparisons give 1 or 0.
template <int Op>
inline float binary_op(float a, float b) {
  if constexpr (Op == B_ADD) return a + b;
  if constexpr (Op == B_SUB) return a - b;
  if constexpr (Op == B_MUL) return a * b;
  if constexpr (Op == B_DIV) return a / b;
  if constexpr (Op == B_MAX) return b != b ? b : (a < b ? b : a);
  if constexpr (Op == B_MIN) return b != b ? b : (a > b ? b : a);
  if constexpr (Op == B_EQ) return a == b ? 1.0f : 0.0f;
  if constexpr (Op == B_LT) return a < b ? 1.0f : 0.0f;
  if constexpr (Op == B_GT) return a > b ? 1.0f : 0.0f;
  return 0.0f;
}

}  // namespace elementwise
}  // namespace llava
