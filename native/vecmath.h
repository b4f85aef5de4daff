// The one vectorisable exp of the native kernels (libm's expf is a scalar call without
// -ffast-math), shared by the elementwise and the fused families.
#pragma once
#include <cmath>
#include <cstdint>

namespace llava {
namespace vec {

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693147182464599609375f;   // float(ln 2)
constexpr float kLn2Lo = -1.904654323148236e-09f;    // ln 2 - float(ln 2)
constexpr float kExpLo = -104.0f;  // e^x rounds to 0 below this
constexpr float kExpHi = 89.0f;    // e^x overflows to inf above this

// e^x in a form the compiler vectorises (libm's expf is a scalar call without -ffast-math):
// x = n ln2 + r with |r| <= ln2/2, e^r by its degree-7 Taylor polynomial (truncation
// error ~5e-9, under an ulp), and 2^n applied as two factors so subnormal results and
// overflow to inf come out right. NaN propagates through r.
inline float exp_f32(float x) {
  x = x < kExpLo ? kExpLo : x;  // comparisons (not fmin/fmax) keep NaN
  x = x > kExpHi ? kExpHi : x;
  float n = std::nearbyint(x * kLog2e);
  n = n == n ? n : 0.0f;
  float r = std::fma(-n, kLn2Hi, x);
  r = std::fma(-n, kLn2Lo, r);
  float p = 1.0f / 5040.0f;
  p = std::fma(p, r, 1.0f / 720.0f);
  p = std::fma(p, r, 1.0f / 120.0f);
  p = std::fma(p, r, 1.0f / 24.0f);
  p = std::fma(p, r, 1.0f / 6.0f);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  int32_t ni = int32_t(n);
  int32_t n1 = ni / 2, n2 = ni - n1;
  float s1 = __builtin_bit_cast(float, uint32_t(n1 + 127) << 23);
  float s2 = __builtin_bit_cast(float, uint32_t(n2 + 127) << 23);
  return p * s1 * s2;
}

}  // namespace vec
}  // namespace llava
