// Native elementwise kernels: strided copy, unary ops (forward and backward side by side),
// broadcasting binary ops and where. Loops are written to vectorise. Casts and fill: cast.cpp.
#include "common.h"
#include "elementwise_math.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

namespace llava {
namespace {

using namespace elementwise;

// Below this many elements a kernel runs on the calling thread (thread wake-up costs more).
constexpr int64_t kGrain = 16384;
// Plain memcpy-like moves are cheap per element: split them more coarsely.
constexpr int64_t kCopyGrain = 65536;
// Side of the square tiles of the transposing copy (measured: 16 beats 8, 32 and 64 here).
constexpr int64_t kTile = 16;

// ---------------------------------------------------------------------------------------
// N-d iteration: dims collapsed, then walked as runs along the innermost dim
// ---------------------------------------------------------------------------------------

// Most dims a strided kernel takes (the TS wrapper checks this before calling).
constexpr int kMaxDims = 16;

// A shape with K strided operands, after dropping size-1 dims and merging adjacent dims
// that are contiguous with each other in every operand. Never empty (a scalar is [1]).
// Fixed arrays, not vectors: small ops are dominated by per-call overhead.
template <int K>
struct Collapsed {
  int nd = 0;
  int64_t shape[kMaxDims];
  int64_t strides[K][kMaxDims];
  int64_t count = 1;
  int ndim() const { return nd; }
  int64_t inner() const { return shape[nd - 1]; }
  int64_t inner_stride(int k) const { return strides[k][nd - 1]; }
};

// Decodes the packed layout the TS wrapper sends as one Float64Array,
// [ndim, shape[ndim], strides of operand 0 [ndim], ..., strides of operand K-1 [ndim]],
// and collapses it. Returns false (with a JS error) on a malformed layout.
template <int K>
bool read_layout(const Napi::CallbackInfo& info, size_t arg, const char* kernel, Collapsed<K>& c) {
  const Napi::Float64Array packed = info[arg].As<Napi::Float64Array>();
  const double* v = packed.Data();
  const int64_t nd = packed.ElementLength() > 0 ? int64_t(v[0]) : -1;
  if (nd < 0 || nd > kMaxDims || int64_t(packed.ElementLength()) < 1 + nd * (K + 1)) {
    fail(info.Env(), (std::string(kernel) + ": malformed layout argument").c_str());
    return false;
  }
  const double* shape = v + 1;
  for (int64_t d = 0; d < nd; d++) {
    const int64_t size = int64_t(shape[d]);
    if (size < 0) {
      fail(info.Env(), (std::string(kernel) + ": shape[" + std::to_string(d) + "] is negative").c_str());
      return false;
    }
    c.count *= size;
    if (size == 1) continue;
    bool merge = c.nd > 0;
    for (int k = 0; k < K && merge; k++) merge = c.strides[k][c.nd - 1] == int64_t(shape[(k + 1) * nd + d]) * size;
    if (merge) {
      c.shape[c.nd - 1] *= size;
    } else {
      c.shape[c.nd] = size;
      c.nd++;
    }
    for (int k = 0; k < K; k++) c.strides[k][c.nd - 1] = int64_t(shape[(k + 1) * nd + d]);
  }
  if (c.nd == 0) {
    c.shape[0] = 1;
    for (int k = 0; k < K; k++) c.strides[k][0] = 0;
    c.nd = 1;
  }
  return true;
}

// Calls run(offsets, pos, len) for each run of consecutive flat indices [pos, pos + len)
// inside [begin, end) that share all dims but the innermost; offsets[k] is operand k's
// element offset at pos (its innermost stride is c.inner_stride(k)).
template <int K, typename Run>
void for_each_run(const Collapsed<K>& c, int64_t begin, int64_t end, Run&& run) {
  const int nd = c.ndim();
  const int64_t inner = c.inner();
  int64_t idx[kMaxDims] = {};
  int64_t rest = begin / inner;
  int64_t j = begin % inner;
  for (int d = nd - 2; d >= 0; d--) {
    idx[d] = rest % c.shape[d];
    rest /= c.shape[d];
  }
  int64_t pos = begin;
  while (pos < end) {
    int64_t off[K];
    for (int k = 0; k < K; k++) {
      off[k] = j * c.strides[k][nd - 1];
      for (int d = 0; d < nd - 1; d++) off[k] += idx[d] * c.strides[k][d];
    }
    const int64_t len = std::min(inner - j, end - pos);
    run(off, pos, len);
    pos += len;
    j = 0;
    for (int d = nd - 2; d >= 0; d--) {
      if (++idx[d] < c.shape[d]) break;
      idx[d] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------
// copy
// ---------------------------------------------------------------------------------------

// One tile of a transposing copy, staged through a local buffer: read in the source's
// unit-stride order, written in the destination's. Walking either side at a large stride
// instead would miss cache on every element (power-of-two row pitches alias in L1).
// Here the common case: dst[i * da + j] = src[i + j * sb] for i < ni, j < nj. Full tiles get
// compile-time trip counts, which the compiler turns into straight vector code (3x faster).
template <typename T, int64_t Ni = 0, int64_t Nj = 0>
void transpose_tile(const T* src, int64_t sb, T* dst, int64_t da, int64_t ni, int64_t nj) {
  if constexpr (Ni > 0) ni = Ni;
  if constexpr (Nj > 0) nj = Nj;
  T buf[kTile * kTile];
  for (int64_t j = 0; j < nj; j++)
    for (int64_t i = 0; i < ni; i++) buf[j * kTile + i] = src[j * sb + i];
  for (int64_t i = 0; i < ni; i++)
    for (int64_t j = 0; j < nj; j++) dst[i * da + j] = buf[j * kTile + i];
}

template <typename T>
void transpose_tile_any(const T* src, int64_t sb, T* dst, int64_t da, int64_t ni, int64_t nj) {
  if (ni == kTile && nj == kTile) transpose_tile<T, kTile, kTile>(src, sb, dst, da, ni, nj);
  else transpose_tile<T>(src, sb, dst, da, ni, nj);
}

// Any other pair of tile layouts: same staging, loop order chosen by the smaller stride.
template <typename T>
void copy_tile(const T* src, int64_t sr, int64_t sc, T* dst, int64_t dr, int64_t dc, int64_t nr, int64_t nc) {
  if (sr == 1 && dc == 1) return transpose_tile_any<T>(src, sc, dst, dr, nr, nc);
  if (sc == 1 && dr == 1) return transpose_tile_any<T>(src, sr, dst, dc, nc, nr);
  T buf[kTile * kTile];
  if (std::abs(sc) <= std::abs(sr)) {
    for (int64_t r = 0; r < nr; r++)
      for (int64_t q = 0; q < nc; q++) buf[r * kTile + q] = src[r * sr + q * sc];
  } else {
    for (int64_t q = 0; q < nc; q++)
      for (int64_t r = 0; r < nr; r++) buf[r * kTile + q] = src[r * sr + q * sc];
  }
  if (std::abs(dc) <= std::abs(dr)) {
    for (int64_t r = 0; r < nr; r++)
      for (int64_t q = 0; q < nc; q++) dst[r * dr + q * dc] = buf[r * kTile + q];
  } else {
    for (int64_t q = 0; q < nc; q++)
      for (int64_t r = 0; r < nr; r++) dst[r * dr + q * dc] = buf[r * kTile + q];
  }
}

// Copy whose last two dims are transposed between source and destination, in kTile x kTile
// tiles spread over threads; leading dims are a batch of such matrices.
template <typename T>
void copy_tiled(const Collapsed<2>& c, const T* src, T* dst) {
  const int nd = c.ndim();
  const int64_t rows = c.shape[nd - 2], cols = c.shape[nd - 1];
  const int64_t sr = c.strides[0][nd - 2], sc = c.strides[0][nd - 1];
  const int64_t dr = c.strides[1][nd - 2], dc = c.strides[1][nd - 1];
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  const int64_t col_tiles = (cols + kTile - 1) / kTile;
  const int64_t batch = c.count / (rows * cols);
  const int64_t tiles = batch * row_tiles * col_tiles;
  parallel_for(tiles, std::max<int64_t>(1, kCopyGrain / (kTile * kTile)), [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; t++) {
      int64_t bi = t / (row_tiles * col_tiles);
      const int64_t r0 = (t / col_tiles % row_tiles) * kTile, c0 = t % col_tiles * kTile;
      int64_t so = 0, doff = 0;
      for (int d = nd - 3; d >= 0; d--) {  // batch index -> offsets over the leading dims
        const int64_t i = bi % c.shape[d];
        bi /= c.shape[d];
        so += i * c.strides[0][d];
        doff += i * c.strides[1][d];
      }
      copy_tile<T>(src + so + r0 * sr + c0 * sc, sr, sc, dst + doff + r0 * dr + c0 * dc, dr, dc,
                   std::min(kTile, rows - r0), std::min(kTile, cols - c0));
    }
  });
}

template <typename T>
void copy_typed(const Collapsed<2>& c, const T* src, T* dst) {
  if (c.count == 0) return;
  const int nd = c.ndim();
  if (nd == 1 && c.inner_stride(0) == 1 && c.inner_stride(1) == 1) {
    parallel_for(c.count, kCopyGrain, [&](int64_t b, int64_t e, int) {
      std::memcpy(dst + b, src + b, size_t(e - b) * sizeof(T));
    });
    return;
  }
  const bool swapped = nd >= 2 && ((c.strides[0][nd - 2] == 1 && c.strides[0][nd - 1] != 1) ||
                                   (c.strides[1][nd - 2] == 1 && c.strides[1][nd - 1] != 1));
  if (swapped) {
    copy_tiled<T>(c, src, dst);
    return;
  }
  const int64_t si = c.inner_stride(0), di = c.inner_stride(1);
  parallel_for(c.count, kCopyGrain, [&](int64_t b, int64_t e, int) {
    for_each_run<2>(c, b, e, [&](const int64_t* off, int64_t, int64_t len) {
      const T* s = src + off[0];
      T* d = dst + off[1];
      if (si == 1 && di == 1) {
        std::memcpy(d, s, size_t(len) * sizeof(T));
      } else if (si == 0 && di == 1) {
        std::fill(d, d + len, *s);
      } else {
        for (int64_t i = 0; i < len; i++) d[i * di] = s[i * si];
      }
    });
  });
}

// copy(dtype, layout [ndim, shape, srcStrides, dstStrides], srcPtr, dstPtr)
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Collapsed<2> c;
  if (!read_layout<2>(info, 1, "copy", c)) return info.Env().Undefined();
  const DType dt = DType(i64(info, 0));
  if (dt != F32 && dt != BF16 && dt != F16 && dt != I32) {
    fail(info.Env(), "copy: unknown dtype code");
  } else if (dt == BF16 || dt == F16) {
    copy_typed<uint16_t>(c, ptr<uint16_t>(info, 2), ptr<uint16_t>(info, 3));
  } else {
    copy_typed<uint32_t>(c, ptr<uint32_t>(info, 2), ptr<uint32_t>(info, 3));
  }
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------
// unary forward / backward
// ---------------------------------------------------------------------------------------

template <int Op>
void unary_forward(int64_t n, const float* x, float* y, float alpha, float beta) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; i++) y[i] = unary_fwd<Op>(x[i], alpha, beta);
  });
}

template <int Op>
void unary_backward(int64_t n, const float* x, const float* dy, float* dx, float alpha, float beta) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; i++) dx[i] = dy[i] * unary_grad<Op>(x[i], alpha, beta);
  });
}

// Turns a runtime op code into a compile-time one: calls fn(std::integral_constant<int, Op>).
template <int Op = 0, int Count, typename Fn>
bool dispatch(int code, Fn&& fn) {
  if constexpr (Op >= Count) {
    return false;
  } else {
    if (code == Op) {
      fn(std::integral_constant<int, Op>{});
      return true;
    }
    return dispatch<Op + 1, Count>(code, fn);
  }
}

// unary(op, n, x, y, alpha, beta)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  const int64_t n = i64(info, 1);
  const float* x = ptr<float>(info, 2);
  float* y = ptr<float>(info, 3);
  const float alpha = float(f64(info, 4)), beta = float(f64(info, 5));
  const bool ok = dispatch<0, U_COUNT>(int(i64(info, 0)), [&](auto op) { unary_forward<decltype(op)::value>(n, x, y, alpha, beta); });
  if (!ok) fail(info.Env(), "unary: unknown op code");
  return info.Env().Undefined();
}

// unaryBackward(op, n, x, dy, dx, alpha, beta)
Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  const int64_t n = i64(info, 1);
  const float* x = ptr<float>(info, 2);
  const float* dy = ptr<float>(info, 3);
  float* dx = ptr<float>(info, 4);
  const float alpha = float(f64(info, 5)), beta = float(f64(info, 6));
  const bool ok =
      dispatch<0, U_COUNT>(int(i64(info, 0)), [&](auto op) { unary_backward<decltype(op)::value>(n, x, dy, dx, alpha, beta); });
  if (!ok) fail(info.Env(), "unaryBackward: unknown op code");
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------
// binary and where
// ---------------------------------------------------------------------------------------

// One run of a binary op, specialised for the stride patterns that matter: both
// contiguous (same shape, bias rows), one side a broadcast scalar, anything else.
template <int Op>
inline void binary_run(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) out[i] = binary_op<Op>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = *b;
    for (int64_t i = 0; i < n; i++) out[i] = binary_op<Op>(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = *a;
    for (int64_t i = 0; i < n; i++) out[i] = binary_op<Op>(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) out[i] = binary_op<Op>(a[i * sa], b[i * sb]);
  }
}

// True when operand k reads the last two dims transposed (unit stride on the one before last).
template <int K>
bool transposed_last_two(const Collapsed<K>& c, int k) {
  const int nd = c.ndim();
  return nd >= 2 && c.strides[k][nd - 2] == 1 && c.strides[k][nd - 1] != 1 && c.strides[k][nd - 1] != 0;
}

// A binary op with a transposed operand (x.T + y): walked in kTile x kTile tiles, each
// transposed operand staged into a contiguous tile first, so no run strides through memory.
template <int Op>
void binary_tiled(const Collapsed<2>& c, const float* a, const float* b, float* out) {
  const int nd = c.ndim();
  const int64_t rows = c.shape[nd - 2], cols = c.shape[nd - 1];
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  const int64_t tiles = c.count / (rows * cols) * row_tiles * col_tiles;
  const bool stage[2] = {transposed_last_two(c, 0), transposed_last_two(c, 1)};
  const float* const base[2] = {a, b};
  parallel_for(tiles, std::max<int64_t>(1, kGrain / (kTile * kTile)), [&](int64_t begin, int64_t end, int) {
    float staged[2][kTile * kTile];
    for (int64_t t = begin; t < end; t++) {
      const int64_t batch = t / (row_tiles * col_tiles);
      const int64_t r0 = (t / col_tiles % row_tiles) * kTile, c0 = t % col_tiles * kTile;
      const int64_t nr = std::min(kTile, rows - r0), nc = std::min(kTile, cols - c0);
      const float* tile[2];
      int64_t row_stride[2], col_stride[2];
      for (int k = 0; k < 2; k++) {
        int64_t off = 0;
        for (int64_t d = nd - 3, bi = batch; d >= 0; d--) {  // batch index -> offset over the leading dims
          off += bi % c.shape[d] * c.strides[k][d];
          bi /= c.shape[d];
        }
        row_stride[k] = c.strides[k][nd - 2];
        col_stride[k] = c.strides[k][nd - 1];
        tile[k] = base[k] + off + r0 * row_stride[k] + c0 * col_stride[k];
        if (stage[k]) {  // staged[r * kTile + q] = tile[r + q * col_stride]
          transpose_tile_any<float>(tile[k], col_stride[k], staged[k], kTile, nr, nc);
          tile[k] = staged[k];
          row_stride[k] = kTile;
          col_stride[k] = 1;
        }
      }
      float* o = out + batch * rows * cols + r0 * cols + c0;
      for (int64_t r = 0; r < nr; r++)
        binary_run<Op>(tile[0] + r * row_stride[0], col_stride[0], tile[1] + r * row_stride[1], col_stride[1],
                       o + r * cols, nc);
    }
  });
}

template <int Op>
void binary_typed(const Collapsed<2>& c, const float* a, const float* b, float* out) {
  if (transposed_last_two(c, 0) || transposed_last_two(c, 1)) return binary_tiled<Op>(c, a, b, out);
  const int64_t sa = c.inner_stride(0), sb = c.inner_stride(1);
  parallel_for(c.count, kGrain, [&](int64_t begin, int64_t end, int) {
    for_each_run<2>(c, begin, end, [&](const int64_t* off, int64_t pos, int64_t len) {
      binary_run<Op>(a + off[0], sa, b + off[1], sb, out + pos, len);
    });
  });
}

// binary(op, layout [ndim, shape, aStrides, bStrides], aPtr, bPtr, out)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Collapsed<2> c;
  if (!read_layout<2>(info, 1, "binary", c)) return info.Env().Undefined();
  const float* a = ptr<float>(info, 2);
  const float* b = ptr<float>(info, 3);
  float* out = ptr<float>(info, 4);
  if (c.count == 0) return info.Env().Undefined();
  const bool ok = dispatch<0, B_COUNT>(int(i64(info, 0)), [&](auto op) { binary_typed<decltype(op)::value>(c, a, b, out); });
  if (!ok) fail(info.Env(), "binary: unknown op code");
  return info.Env().Undefined();
}

// One run of where. Each operand's stride is a compile-time 1 or 0 (contiguous or
// broadcast: the cases masks and fills produce) or, as -1, a runtime stride.
template <int SC, int SA, int SB>
void where_run(const float* c, int64_t sc, const float* a, int64_t sa, const float* b, int64_t sb, float* out,
               int64_t n) {
  if constexpr (SC >= 0) sc = SC;
  if constexpr (SA >= 0) sa = SA;
  if constexpr (SB >= 0) sb = SB;
  for (int64_t i = 0; i < n; i++) {
    // Both loads unconditional: a load under the condition would block vectorisation.
    const float av = a[i * sa], bv = b[i * sb];
    out[i] = c[i * sc] != 0.0f ? av : bv;
  }
}

using WhereRun = void (*)(const float*, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t);

// Picks the where_run instantiation for three inner strides (0, 1 or anything else).
template <int SC = -2, int SA = -2, int SB = -2>
WhereRun pick_where_run(int64_t sc, int64_t sa, int64_t sb) {
  auto code = [](int64_t s) { return s == 0 ? 0 : s == 1 ? 1 : -1; };
  if constexpr (SC == -2) {
    switch (code(sc)) {
      case 0: return pick_where_run<0, SA, SB>(sc, sa, sb);
      case 1: return pick_where_run<1, SA, SB>(sc, sa, sb);
      default: return pick_where_run<-1, SA, SB>(sc, sa, sb);
    }
  } else if constexpr (SA == -2) {
    switch (code(sa)) {
      case 0: return pick_where_run<SC, 0, SB>(sc, sa, sb);
      case 1: return pick_where_run<SC, 1, SB>(sc, sa, sb);
      default: return pick_where_run<SC, -1, SB>(sc, sa, sb);
    }
  } else if constexpr (SB == -2) {
    switch (code(sb)) {
      case 0: return pick_where_run<SC, SA, 0>(sc, sa, sb);
      case 1: return pick_where_run<SC, SA, 1>(sc, sa, sb);
      default: return pick_where_run<SC, SA, -1>(sc, sa, sb);
    }
  } else {
    return where_run<SC, SA, SB>;
  }
}

// where(layout [ndim, shape, condStrides, aStrides, bStrides], condPtr, aPtr, bPtr, out)
Napi::Value Where(const Napi::CallbackInfo& info) {
  Collapsed<3> c;
  if (!read_layout<3>(info, 0, "where", c)) return info.Env().Undefined();
  const float* cond = ptr<float>(info, 1);
  const float* a = ptr<float>(info, 2);
  const float* b = ptr<float>(info, 3);
  float* out = ptr<float>(info, 4);
  if (c.count == 0) return info.Env().Undefined();
  const int64_t sc = c.inner_stride(0), sa = c.inner_stride(1), sb = c.inner_stride(2);
  const WhereRun run = pick_where_run(sc, sa, sb);
  parallel_for(c.count, kGrain, [&](int64_t begin, int64_t end, int) {
    for_each_run<3>(c, begin, end, [&](const int64_t* off, int64_t pos, int64_t len) {
      run(cond + off[0], sc, a + off[1], sa, b + off[2], sb, out + pos, len);
    });
  });
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("copy", Napi::Function::New(env, Copy));
    exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("unaryBackward", Napi::Function::New(env, UnaryBackward));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("where", Napi::Function::New(env, Where));
}
RegisterFamily reg(Register);

}  // namespace
}  // namespace llava
