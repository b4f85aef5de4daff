// Native dtype conversions (f32, bf16, f16, i32 in every direction; quantised blocks to f32) and
// fill: contiguous spans split over the pool, with vectorised f16 blocks.
#include "common.h"
#include "quant.h"
#include <algorithm>
#include <cmath>
#include <limits>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace llava {
namespace {

// Below this many elements a kernel runs on the calling thread (thread wake-up costs more).
constexpr int64_t kGrain = 16384;
// Blocks per task of a dequantising cast at least.
constexpr int64_t kBlockGrain = 256;
// Plain fills are cheap per element: split them more coarsely.
constexpr int64_t kCopyGrain = 65536;

// Float to i32 by value: truncate toward zero, NaN -> 0, saturate (C++ leaves these undefined).
inline int32_t to_i32(double v) {
  if (v != v) return 0;
  if (v >= 2147483647.0) return std::numeric_limits<int32_t>::max();
  if (v <= -2147483648.0) return std::numeric_limits<int32_t>::min();
  return int32_t(v);
}

// ---------------------------------------------------------------------------------------
// cast and fill
// ---------------------------------------------------------------------------------------

template <int D> struct Storage;
template <> struct Storage<F32> { using T = float; };
template <> struct Storage<BF16> { using T = uint16_t; };
template <> struct Storage<F16> { using T = uint16_t; };
template <> struct Storage<I32> { using T = int32_t; };

// Element value as float (i32 rounds to nearest f32, as the reference does).
template <int D>
inline float load_value(typename Storage<D>::T v) {
  if constexpr (D == F32) return v;
  if constexpr (D == BF16) return bf16_to_f32(v);
  if constexpr (D == F16) return f16_to_f32(v);
  if constexpr (D == I32) return float(v);
}
template <int D>
inline typename Storage<D>::T store_value(float v) {
  if constexpr (D == F32) return v;
  if constexpr (D == BF16) return f32_to_bf16(v);
  if constexpr (D == F16) return f32_to_f16(v);
  if constexpr (D == I32) return to_i32(v);
}

// f16 <-> f32 over a span. The compiler does not vectorise _Float16 conversions without
// AVX512-FP16, so with AVX-512 use the F16C instructions directly (same rounding: nearest even).
constexpr int kF16Block = 16;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive inside the intrinsics
void f16_to_f32_span(const uint16_t* s, float* d, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + kF16Block <= n; i += kF16Block)
    _mm512_storeu_ps(d + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i))));
#endif
  for (; i < n; i++) d[i] = f16_to_f32(s[i]);
}
void f32_to_f16_span(const float* s, uint16_t* d, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + kF16Block <= n; i += kF16Block)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
  for (; i < n; i++) d[i] = f32_to_f16(s[i]);
}
#pragma GCC diagnostic pop

template <int S, int D>
void cast_typed(int64_t n, const void* src, void* dst) {
  const auto* s = static_cast<const typename Storage<S>::T*>(src);
  auto* d = static_cast<typename Storage<D>::T*>(dst);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e, int) {
    if constexpr (S == D) {
      std::memcpy(d + b, s + b, size_t(e - b) * sizeof(*s));
    } else if constexpr (S == F16 && D == F32) {
      f16_to_f32_span(s + b, d + b, e - b);
    } else if constexpr (S == F32 && D == F16) {
      f32_to_f16_span(s + b, d + b, e - b);
    } else {
      for (int64_t i = b; i < e; i++) d[i] = store_value<D>(load_value<S>(s[i]));
    }
  });
}

template <int S>
bool cast_from(DType dst_dtype, int64_t n, const void* src, void* dst) {
  switch (dst_dtype) {
    case F32: cast_typed<S, F32>(n, src, dst); return true;
    case BF16: cast_typed<S, BF16>(n, src, dst); return true;
    case F16: cast_typed<S, F16>(n, src, dst); return true;
    case I32: cast_typed<S, I32>(n, src, dst); return true;
    default: return false;
  }
}

// n values (whole blocks) of a block format to f32: the blocks split over the pool.
bool dequantize(DType sd, int64_t n, const void* src, float* dst) {
  const QuantBlock b = quant_block(sd);
  if (n % b.elems != 0) return false;
  const auto* s = static_cast<const uint8_t*>(src);
  parallel_for(n / b.elems, kBlockGrain, [&](int64_t b0, int64_t b1, int) {
    dequantize_row(sd, s + b0 * b.bytes, dst + b0 * b.elems, (b1 - b0) * b.elems);
  });
  return true;
}

// cast(n, src, srcDtype, dst, dstDtype)
Napi::Value Cast(const Napi::CallbackInfo& info) {
  const int64_t n = i64(info, 0);
  const DType sd = DType(i64(info, 2)), dd = DType(i64(info, 4));
  const void* src = ptr<void>(info, 1);
  void* dst = ptr<void>(info, 3);
  if (is_quant(sd)) {
    if (sd == Q4_0X8) fail(info.Env(), "cast: q4_0x8 (q4_0 rows interleaved for the GEMM) serves only as a linear weight");
    else if (dd != F32) fail(info.Env(), "cast: quantised blocks convert to f32 only");
    else if (!dequantize(sd, n, src, static_cast<float*>(dst))) fail(info.Env(), "cast: quantised values must fill whole blocks");
    return info.Env().Undefined();
  }
  bool ok = false;
  switch (sd) {
    case F32: ok = cast_from<F32>(dd, n, src, dst); break;
    case BF16: ok = cast_from<BF16>(dd, n, src, dst); break;
    case F16: ok = cast_from<F16>(dd, n, src, dst); break;
    case I32: ok = cast_from<I32>(dd, n, src, dst); break;
    default: break;
  }
  if (!ok) fail(info.Env(), "cast: unknown dtype code");
  return info.Env().Undefined();
}

template <typename T>
void fill_typed(int64_t n, void* dst, T value) {
  T* d = static_cast<T*>(dst);
  parallel_for(n, kCopyGrain, [&](int64_t b, int64_t e, int) { std::fill(d + b, d + e, value); });
}

// fill(dtype, n, dst, value)
Napi::Value Fill(const Napi::CallbackInfo& info) {
  const int64_t n = i64(info, 1);
  void* dst = ptr<void>(info, 2);
  const double value = f64(info, 3);
  switch (DType(i64(info, 0))) {
    case F32: fill_typed<float>(n, dst, float(value)); break;
    case BF16: fill_typed<uint16_t>(n, dst, f32_to_bf16(float(value))); break;
    case F16: fill_typed<uint16_t>(n, dst, f32_to_f16(float(value))); break;
    case I32: fill_typed<int32_t>(n, dst, to_i32(value)); break;
    default: fail(info.Env(), "fill: unknown dtype code");
  }
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("cast", Napi::Function::New(env, Cast));
  exports.Set("fill", Napi::Function::New(env, Fill));
}
RegisterFamily reg(Register);

}  // namespace
}  // namespace llava
