// Vector helpers shared by the built-in GEMM's packed kernel (gemm_kernel.cpp) and its streaming
// small-M path (gemm_small.cpp): the vector width of the machine it is built on, loads of B in
// f32, bf16 or f16 widened to f32, a fixed-order horizontal sum, and per-thread scratch buffers.
#pragma once
#include "common.h"
#include <cstdlib>
#include <new>
#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace llava {
namespace gemmvec {

#if defined(__AVX512F__)
constexpr int VL = 16;  // floats per vector
#elif defined(__AVX__)
constexpr int VL = 8;
#else
constexpr int VL = 4;
#endif
constexpr size_t ALIGN = 64;

typedef float vfloat __attribute__((vector_size(VL * sizeof(float))));

inline vfloat load_aligned(const float* p) { return *reinterpret_cast<const vfloat*>(p); }
inline vfloat load_unaligned(const float* p) {
  vfloat v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_unaligned(float* p, vfloat v) { std::memcpy(p, &v, sizeof v); }
// One broadcast instruction (`vfloat{} + x` would add 0 first; a lane loop may be split).
inline vfloat broadcast(float x) {
#if defined(__AVX512F__)
  return _mm512_set1_ps(x);
#elif defined(__AVX__)
  return _mm256_set1_ps(x);
#else
  vfloat v;
  for (int l = 0; l < VL; l++) v[l] = x;
  return v;
#endif
}

// The lanes of v summed as a fixed tree (the upper half added onto the lower until one lane is
// left): the same order on every call, a few shuffles instead of VL dependent scalar adds.
typedef float vfloat4 __attribute__((vector_size(4 * sizeof(float))));
inline float hsum(vfloat v) {
#if defined(__AVX512F__)
  typedef float vfloat8 __attribute__((vector_size(8 * sizeof(float))));
  const vfloat8 s8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const vfloat4 s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) + __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
#elif defined(__AVX__)
  const vfloat4 s4 = __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
#else
  const vfloat4 s4 = v;
#endif
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// Dot product of two f32 rows: two accumulators taking VL-wide strides in turn, hsum, then the
// scalar tail. A fixed order: the same bits for the same rows on every call.
inline float dot_f32(const float* a, const float* b, int64_t k) {
  vfloat acc0 = {}, acc1 = {};
  int64_t p = 0;
  for (; p + 2 * VL <= k; p += 2 * VL) {
    acc0 += load_unaligned(a + p) * load_unaligned(b + p);
    acc1 += load_unaligned(a + p + VL) * load_unaligned(b + p + VL);
  }
  if (p + VL <= k) {
    acc0 += load_unaligned(a + p) * load_unaligned(b + p);
    p += VL;
  }
  float sum = hsum(acc0 + acc1);
  for (; p < k; p++) sum += a[p] * b[p];
  return sum;
}

// ---- B element access: f32, bf16 or f16, widened to f32 ----
template <DType D>
inline float load_b(const void* b, int64_t i);
template <>
inline float load_b<F32>(const void* b, int64_t i) {
  return static_cast<const float*>(b)[i];
}
template <>
inline float load_b<BF16>(const void* b, int64_t i) {
  return bf16_to_f32(static_cast<const uint16_t*>(b)[i]);
}
template <>
inline float load_b<F16>(const void* b, int64_t i) {
  return static_cast<float>(static_cast<const _Float16*>(b)[i]);
}

// VL consecutive elements of B widened to f32 (bf16: a shift of each 16-bit value into
// the high half; f16: the hardware conversion), one vector load instead of VL scalar ones.
template <DType D>
inline vfloat load_b_vec(const void* b, int64_t i) {
  if constexpr (D == F32) {
    return load_unaligned(static_cast<const float*>(b) + i);
  } else {
#if defined(__AVX512F__)
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(b) + i));
    const __m512 w = D == BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)) : _mm512_cvtph_ps(h);
    vfloat v;
    std::memcpy(&v, &w, sizeof v);
    return v;
#elif defined(__AVX2__) && defined(__F16C__)
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(b) + i));
    __m256 w;
    if constexpr (D == BF16)
      w = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    else
      w = _mm256_cvtph_ps(h);
    vfloat v;
    std::memcpy(&v, &w, sizeof v);
    return v;
#else
    alignas(ALIGN) float bw[VL];
    for (int t = 0; t < VL; t++) bw[t] = load_b<D>(b, i + t);
    return load_aligned(bw);
#endif
  }
}

// A per-thread scratch buffer, grown on demand (gemm_serial runs on pool threads).
struct PackBuffer {
  float* data = nullptr;
  size_t capacity = 0;
  ~PackBuffer() { std::free(data); }
  float* ensure(size_t floats) {
    if (floats > capacity) {
      std::free(data);
      size_t bytes = (floats * sizeof(float) + ALIGN - 1) / ALIGN * ALIGN;
      data = static_cast<float*>(std::aligned_alloc(ALIGN, bytes));
      if (!data) throw std::bad_alloc();
      capacity = floats;
    }
    return data;
  }
};

}  // namespace gemmvec
}  // namespace llava
