// Native embedding lookup (weights f32/bf16/f16 widened to f32, quantised rows dequantised) and its
// backward, a scatter-add into dweight whose order is fixed: columns split over threads, rows in order.
#include "common.h"
#include "quant.h"
#include <algorithm>
#include <string>

namespace llava {
namespace {

// Below this many elements a kernel runs on the calling thread.
constexpr int64_t kGrain = 16384;
// Narrowest column block of the backward pass (a cache line of f32).
constexpr int64_t kMinColumns = 16;

template <typename T, typename Widen>
void gather_rows(int64_t n, int64_t dim, const T* weight, const int32_t* ids, float* out, Widen widen) {
  parallel_for(n, std::max<int64_t>(1, kGrain / std::max<int64_t>(dim, 1)), [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; t++) {
      const T* row = weight + int64_t(ids[t]) * dim;
      float* o = out + t * dim;
      for (int64_t c = 0; c < dim; c++) o[c] = widen(row[c]);
    }
  });
}

// Rows of a quantised table (each dim / block blocks) dequantised into out.
void gather_quant_rows(int64_t n, int64_t dim, DType dt, const uint8_t* weight, const int32_t* ids, float* out) {
  const int64_t row_bytes = quant_row_bytes(dt, dim);
  parallel_for(n, std::max<int64_t>(1, kGrain / std::max<int64_t>(dim, 1)), [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; t++) dequantize_row(dt, weight + int64_t(ids[t]) * row_bytes, out + t * dim, dim);
  });
}

// embedding(n, dim, vocab, weight, weightDtype, ids, out): out (n, dim) = weight[ids] as f32.
Napi::Value Embedding(const Napi::CallbackInfo& info) {
  const int64_t n = i64(info, 0), dim = i64(info, 1), vocab = i64(info, 2);
  const void* weight = ptr<void>(info, 3);
  const DType dt = DType(i64(info, 4));
  const int32_t* ids = ptr<int32_t>(info, 5);
  float* out = ptr<float>(info, 6);
  // Validate every id before writing anything, so a bad batch leaves out untouched.
  for (int64_t t = 0; t < n; t++) {
    if (ids[t] < 0 || ids[t] >= vocab) {
      fail(info.Env(), ("embedding: id " + std::to_string(ids[t]) + " at position " + std::to_string(t) +
                        " is out of range for vocab size " + std::to_string(vocab))
                           .c_str());
      return info.Env().Undefined();
    }
  }
  if (is_quant(dt)) {
    if (dt == Q4_0X8) fail(info.Env(), "embedding: q4_0x8 (q4_0 rows interleaved for the GEMM) serves only as a linear weight");
    else if (dim % quant_block(dt).elems != 0) fail(info.Env(), "embedding: a quantised table's rows must be whole blocks");
    else gather_quant_rows(n, dim, dt, static_cast<const uint8_t*>(weight), ids, out);
    return info.Env().Undefined();
  }
  switch (dt) {
    case F32: gather_rows(n, dim, static_cast<const float*>(weight), ids, out, [](float v) { return v; }); break;
    // Lambdas, not function pointers, so the widening inlines and the row loop vectorises.
    case BF16: gather_rows(n, dim, static_cast<const uint16_t*>(weight), ids, out, [](uint16_t h) { return bf16_to_f32(h); }); break;
    case F16: gather_rows(n, dim, static_cast<const uint16_t*>(weight), ids, out, [](uint16_t h) { return f16_to_f32(h); }); break;
    default: fail(info.Env(), "embedding: weight dtype must be f32, bf16 or f16");
  }
  return info.Env().Undefined();
}

// embeddingBackward(n, dim, ids, dy, dweight): dweight[ids[t], :] += dy[t, :] for t in order.
// Threads own disjoint column ranges, so repeated ids never race and sums keep row order.
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  const int64_t n = i64(info, 0), dim = i64(info, 1);
  const int32_t* ids = ptr<int32_t>(info, 2);
  const float* dy = ptr<float>(info, 3);
  float* dweight = ptr<float>(info, 4);
  for (int64_t t = 0; t < n; t++) {
    if (ids[t] < 0) {
      fail(info.Env(), ("embeddingBackward: id " + std::to_string(ids[t]) + " at position " + std::to_string(t) +
                        " is negative")
                           .c_str());
      return info.Env().Undefined();
    }
  }
  const int64_t grain = std::max<int64_t>(kMinColumns, kGrain / std::max<int64_t>(n, 1));
  parallel_for(dim, grain, [&](int64_t c0, int64_t c1, int) {
    for (int64_t t = 0; t < n; t++) {
      float* dst = dweight + int64_t(ids[t]) * dim;
      const float* src = dy + t * dim;
      for (int64_t c = c0; c < c1; c++) dst[c] += src[c];
    }
  });
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("embedding", Napi::Function::New(env, Embedding));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward));
}
RegisterFamily reg(Register);

}  // namespace
}  // namespace llava
