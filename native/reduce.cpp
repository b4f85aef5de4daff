// Native reductions over the middle axis of an (outer, r, inner) block: sum, max, min,
// sumsq, argmax, and per-row top-k. Every output's summation order is fixed, never timing-dependent.
#include "common.h"
#include <algorithm>
#include <numeric>
#include <string>

namespace llava {
namespace {

// Below this many input elements a kernel runs on the calling thread.
constexpr int64_t kGrain = 16384;
// A contiguous row (inner == 1) is reduced in fixed blocks of this many elements; block
// partials are combined in order. The split never depends on the thread count, so long
// rows can be spread over threads with bit-identical results.
constexpr int64_t kRowBlock = 65536;
// Independent accumulators per block: four AVX-512 vectors, enough to hide add latency.
constexpr int kLanes = 64;

// Op codes; the order matches REDUCE_CODE in src/backend/native/elementwise.ts.
enum ReduceCode : int { R_SUM, R_MAX, R_MIN, R_SUMSQ, R_COUNT };

template <int Op>
constexpr float reduce_init() {
  if constexpr (Op == R_MAX) return -__builtin_inff();
  if constexpr (Op == R_MIN) return __builtin_inff();
  return 0.0f;
}

// One accumulation step. max/min let NaN win and keep it (as torch.amax does).
template <int Op>
inline float reduce_step(float acc, float x) {
  if constexpr (Op == R_SUM) return acc + x;
  if constexpr (Op == R_SUMSQ) return acc + x * x;
  if constexpr (Op == R_MAX) return (x > acc || x != x) ? x : acc;
  if constexpr (Op == R_MIN) return (x < acc || x != x) ? x : acc;
  return acc;
}

// Combines two partial results of the same op (partials, not raw elements: no squaring).
template <int Op>
inline float reduce_merge(float a, float b) {
  if constexpr (Op == R_SUMSQ) return a + b;
  return reduce_step<Op>(a, b);
}

// Reduces one contiguous block of at most kRowBlock elements: kLanes interleaved
// accumulators (lane l takes elements l, l + kLanes, ...), the tail, then lanes in order.
template <int Op>
float reduce_block(const float* x, int64_t n) {
  if (n < kLanes) {  // short rows (e.g. r = 3): the lanes would only add init/merge work
    float acc = reduce_init<Op>();
    for (int64_t j = 0; j < n; j++) acc = reduce_step<Op>(acc, x[j]);
    return acc;
  }
  float lanes[kLanes];
  for (int l = 0; l < kLanes; l++) lanes[l] = reduce_init<Op>();
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; l++) lanes[l] = reduce_step<Op>(lanes[l], x[j + l]);
  float tail = reduce_init<Op>();
  for (; j < n; j++) tail = reduce_step<Op>(tail, x[j]);
  float acc = reduce_init<Op>();
  for (int l = 0; l < kLanes; l++) acc = reduce_merge<Op>(acc, lanes[l]);
  return reduce_merge<Op>(acc, tail);
}

template <int Op>
float reduce_row(const float* x, int64_t r) {
  float acc = reduce_init<Op>();
  for (int64_t b = 0; b < r; b += kRowBlock) acc = reduce_merge<Op>(acc, reduce_block<Op>(x + b, std::min(kRowBlock, r - b)));
  return acc;
}

// inner == 1: rows of length r. Few long rows spread their blocks over threads; many rows
// spread the rows. Both give reduce_row's exact result.
template <int Op>
void reduce_rows(int64_t rows, int64_t r, const float* x, float* out) {
  const int64_t blocks = (r + kRowBlock - 1) / kRowBlock;
  if (rows < pool_threads() && blocks > 1) {
    std::vector<float> partial(size_t(rows * blocks));
    parallel_for(rows * blocks, 1, [&](int64_t b, int64_t e, int) {
      for (int64_t t = b; t < e; t++) {
        const int64_t row = t / blocks, blk = t % blocks;
        const int64_t start = blk * kRowBlock;
        partial[t] = reduce_block<Op>(x + row * r + start, std::min(kRowBlock, r - start));
      }
    });
    for (int64_t row = 0; row < rows; row++) {
      float acc = reduce_init<Op>();
      for (int64_t blk = 0; blk < blocks; blk++) acc = reduce_merge<Op>(acc, partial[row * blocks + blk]);
      out[row] = acc;
    }
    return;
  }
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(r, 1)), [&](int64_t b, int64_t e, int) {
    for (int64_t row = b; row < e; row++) out[row] = reduce_row<Op>(x + row * r, r);
  });
}

// inner > 1: out[o, i] accumulates x[o, k, i] for k = 0, 1, ... in order, vectorised over i.
// Work is split over (o, i) so column sums (outer == 1, e.g. bias gradients) use all threads.
template <int Op>
void reduce_columns(int64_t outer, int64_t r, int64_t inner, const float* x, float* out) {
  parallel_for(outer * inner, std::max<int64_t>(1, kGrain / std::max<int64_t>(r, 1)), [&](int64_t b, int64_t e, int) {
    for (int64_t pos = b; pos < e;) {
      const int64_t o = pos / inner, i0 = pos % inner;
      const int64_t i1 = std::min(inner, i0 + (e - pos));
      float* acc = out + o * inner;
      const float* xo = x + o * r * inner;
      for (int64_t i = i0; i < i1; i++) acc[i] = reduce_init<Op>();
      for (int64_t k = 0; k < r; k++) {
        const float* row = xo + k * inner;
        for (int64_t i = i0; i < i1; i++) acc[i] = reduce_step<Op>(acc[i], row[i]);
      }
      pos += i1 - i0;
    }
  });
}

template <int Op>
void reduce_typed(int64_t outer, int64_t r, int64_t inner, const float* x, float* out) {
  if (inner == 1) reduce_rows<Op>(outer, r, x, out);
  else reduce_columns<Op>(outer, r, inner, x, out);
}

// reduce(op, outer, r, inner, x, out)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  const int64_t outer = i64(info, 1), r = i64(info, 2), inner = i64(info, 3);
  const float* x = ptr<float>(info, 4);
  float* out = ptr<float>(info, 5);
  if (outer * inner == 0) return info.Env().Undefined();
  switch (int(i64(info, 0))) {
    case R_SUM: reduce_typed<R_SUM>(outer, r, inner, x, out); break;
    case R_MAX: reduce_typed<R_MAX>(outer, r, inner, x, out); break;
    case R_MIN: reduce_typed<R_MIN>(outer, r, inner, x, out); break;
    case R_SUMSQ: reduce_typed<R_SUMSQ>(outer, r, inner, x, out); break;
    default: fail(info.Env(), "reduce: unknown op code");
  }
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------
// argmax and top-k: NaN ranks above every number (as in PyTorch), ties go to the lower index
// ---------------------------------------------------------------------------------------

inline bool ranks_above(float a, float b) { return a != a ? b == b : a > b; }

// First index of the row's maximum: a vectorisable max pass, then a scan for its first match.
int32_t argmax_row(const float* x, int64_t r) {
  const float m = reduce_row<R_MAX>(x, r);
  if (m != m) {
    for (int64_t k = 0; k < r; k++)
      if (x[k] != x[k]) return int32_t(k);
  }
  for (int64_t k = 0; k < r; k++)
    if (x[k] == m) return int32_t(k);
  return 0;
}

// argmax(outer, r, inner, x, out)
Napi::Value Argmax(const Napi::CallbackInfo& info) {
  const int64_t outer = i64(info, 0), r = i64(info, 1), inner = i64(info, 2);
  const float* x = ptr<float>(info, 3);
  int32_t* out = ptr<int32_t>(info, 4);
  if (r < 1) {
    fail(info.Env(), ("argmax: the reduced axis is empty (r = " + std::to_string(r) + ")").c_str());
    return info.Env().Undefined();
  }
  const int64_t grain = std::max<int64_t>(1, kGrain / r);
  if (inner == 1) {
    parallel_for(outer, grain, [&](int64_t b, int64_t e, int) {
      for (int64_t o = b; o < e; o++) out[o] = argmax_row(x + o * r, r);
    });
    return info.Env().Undefined();
  }
  parallel_for(outer * inner, grain, [&](int64_t b, int64_t e, int) {
    for (int64_t pos = b; pos < e;) {
      const int64_t o = pos / inner, i0 = pos % inner;
      const int64_t i1 = std::min(inner, i0 + (e - pos));
      const float* xo = x + o * r * inner;
      int32_t* idx = out + o * inner;
      std::vector<float> best(xo + i0, xo + i1);
      for (int64_t i = i0; i < i1; i++) idx[i] = 0;
      for (int64_t k = 1; k < r; k++) {
        const float* row = xo + k * inner;
        for (int64_t i = i0; i < i1; i++) {
          const bool above = ranks_above(row[i], best[i - i0]);
          best[i - i0] = above ? row[i] : best[i - i0];
          idx[i] = above ? int32_t(k) : idx[i];
        }
      }
      pos += i1 - i0;
    }
  });
  return info.Env().Undefined();
}

// topk(rows, cols, k, x, values, indices)
Napi::Value Topk(const Napi::CallbackInfo& info) {
  const int64_t rows = i64(info, 0), cols = i64(info, 1), k = i64(info, 2);
  const float* x = ptr<float>(info, 3);
  float* values = ptr<float>(info, 4);
  int32_t* indices = ptr<int32_t>(info, 5);
  if (k < 0 || k > cols) {
    fail(info.Env(), ("topk: k = " + std::to_string(k) + " must be an integer in [0, cols = " + std::to_string(cols) + "]").c_str());
    return info.Env().Undefined();
  }
  if (k == 0) return info.Env().Undefined();
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1)), [&](int64_t b, int64_t e, int) {
    std::vector<int32_t> order(static_cast<size_t>(cols));
    for (int64_t row = b; row < e; row++) {
      const float* xr = x + row * cols;
      std::iota(order.begin(), order.end(), 0);
      // A strict total order (value rank, then index), so partial_sort's result is unique.
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [xr](int32_t p, int32_t q) {
        if (ranks_above(xr[p], xr[q])) return true;
        if (ranks_above(xr[q], xr[p])) return false;
        return p < q;
      });
      for (int64_t j = 0; j < k; j++) {
        values[row * k + j] = xr[order[j]];
        indices[row * k + j] = order[j];
      }
    }
  });
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("argmax", Napi::Function::New(env, Argmax));
  exports.Set("topk", Napi::Function::New(env, Topk));
}
RegisterFamily reg(Register);

}  // namespace
}  // namespace llava
