// The built-in GEMM's streaming path for a few rows (decode steps: one row per sequence) or a few
// columns: no packing, the big operand is read once, widened from bf16/f16 as it streams.
//
// Transposed B (a weight stored (n, k), as in every linear layer) takes the dot kernel: each C
// element is a vector accumulator over VL-wide strides of k (DOT_CHAINS of them taking strides in
// turn, folded), then a fixed tree over the lanes (gemmvec::hsum), then the scalar tail. Up to GEMM_DOT_M rows of A share each load of B, and
// several rows of B share each load of A, so the accumulators fill the register file whatever
// the row count. The summation order of an element depends on k alone: never on how many rows
// of A ride along, how many rows of B share a block, or how the columns are split over threads.
// A decode batch therefore gives each sequence bit for bit what it gets alone.
#include "gemm.h"
#include "gemm_vec.h"
#include <algorithm>

namespace llava {
namespace {

using namespace gemmvec;

// Accumulator vectors of one dot block (rows of A x rows of B): the register file less room for
// the rows of A and one row of B.
constexpr int DOT_ACC = VL == 16 ? 16 : 8;
// Accumulators per dot product, and rows of B per block at most. One chain per element with up
// to 8 rows of B streaming keeps a one-row decode's FMAs busy, and lets 8 rows of A take 2 rows of
// B per block (10 loads per 16 FMAs; 2 chains forced 1 row: 9 loads per 8). Measured on Zen 4,
// median of 5, against 2 chains and 1 chain x 4 rows: bf16 11008x4096 one row 3.63 ms (3.69,
// 3.80), eight rows 15.6 ms (21.8, 14.7); 4096x256 eight rows 254 us (275, 242). 16 rows of B
// at once slowed the one-row case to 4.99 ms: more streams than the prefetcher follows.
constexpr int DOT_CHAINS = 1;
constexpr int DOT_MAX_R = 8;
// How far ahead of its reads each row of B prefetches in a dot block (bytes): a decode step's
// weights stream through 4 KB pages of a file mapping, where the hardware prefetcher stops at
// every page boundary (the quantised GEMV measured 1.2x from the same hint).
constexpr int64_t DOT_PREFETCH_BYTES = 1024;
// Multiply-adds per pool task of the streaming path (fewer columns per task for more rows).
constexpr double STREAM_TASK_MACS = 1 << 16;
constexpr int64_t STREAM_MAX_GRAIN = 256;

thread_local PackBuffer tl_rows_a;
thread_local PackBuffer tl_small_acc;
thread_local PackBuffer tl_small_bt;
thread_local PackBuffer tl_small_ct;

// Non-transposed B: rows of C accumulate axpy-style over whole rows of B (this task's
// column range), so B streams in address order: short strided chunks cost a TLB walk each.
template <DType D>
void small_m_rows(int64_t m, int64_t n0, int64_t n1, int64_t k, float alpha, const float* a, int64_t lda,
                  const void* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  int64_t w = n1 - n0;
  float* acc = tl_small_acc.ensure(size_t(m) * size_t(w));
  std::fill(acc, acc + m * w, 0.f);
  // Four rows of B per pass over the accumulators: a quarter of the accumulator traffic,
  // same summation order as one row at a time.
  int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
    int64_t row = p * ldb + n0;
    for (int64_t i = 0; i < m; i++) {
      const float* ai = a + i * lda + p;
      float a0 = ai[0], a1 = ai[1], a2 = ai[2], a3 = ai[3];
      float* ac = acc + i * w;
      for (int64_t j = 0; j < w; j++) {
        float t = ac[j] + a0 * load_b<D>(b, row + j);
        t += a1 * load_b<D>(b, row + ldb + j);
        t += a2 * load_b<D>(b, row + 2 * ldb + j);
        ac[j] = t + a3 * load_b<D>(b, row + 3 * ldb + j);
      }
    }
  }
  for (; p < k; p++) {
    int64_t row = p * ldb + n0;
    for (int64_t i = 0; i < m; i++) {
      float av = a[i * lda + p];
      float* ac = acc + i * w;
      for (int64_t j = 0; j < w; j++) ac[j] += av * load_b<D>(b, row + j);
    }
  }
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < w; j++) {
      float out = alpha * acc[i * w + j];
      if (beta != 0.f) out += beta * c[i * ldc + n0 + j];
      c[i * ldc + n0 + j] = out;
    }
}

// C[0 .. M, j0 .. j0 + R) of a product with transposed B: M x R dot products of length k, each
// in DOT_CHAINS accumulators that take VL-wide strides of k in turn.
template <DType D, int M, int R>
inline void dot_block(int64_t j0, int64_t k, float alpha, const float* a, int64_t lda, const void* b, int64_t ldb,
                      float beta, float* c, int64_t ldc) {
  constexpr int64_t STEP = VL * DOT_CHAINS;
  constexpr int64_t ITEM = D == F32 ? 4 : 2;
  vfloat acc[M][R][DOT_CHAINS] = {};
  const char* bytes = static_cast<const char*>(b);
  int64_t p = 0;
  for (; p + STEP <= k; p += STEP) {
    // One hint per 64-byte line of each row (a step covers STEP * ITEM bytes of it).
    if (((p * ITEM) & 63) < STEP * ITEM)
#pragma GCC unroll 16
      for (int r = 0; r < R; r++) __builtin_prefetch(bytes + ((j0 + r) * ldb + p) * ITEM + DOT_PREFETCH_BYTES);
#pragma GCC unroll 4
    for (int v = 0; v < DOT_CHAINS; v++) {
      vfloat av[M];
#pragma GCC unroll 8
      for (int i = 0; i < M; i++) av[i] = load_unaligned(a + i * lda + p + v * VL);
#pragma GCC unroll 16
      for (int r = 0; r < R; r++) {
        const vfloat bv = load_b_vec<D>(b, (j0 + r) * ldb + p + v * VL);
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) acc[i][r][v] += av[i] * bv;
      }
    }
  }
  // Whole vectors left over (fewer than DOT_CHAINS) go to the first chains in turn.
#pragma GCC unroll 4
  for (int v = 0; v < DOT_CHAINS - 1; v++) {
    if (p + VL > k) break;
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const vfloat bv = load_b_vec<D>(b, (j0 + r) * ldb + p);
#pragma GCC unroll 8
      for (int i = 0; i < M; i++) acc[i][r][v] += load_unaligned(a + i * lda + p) * bv;
    }
    p += VL;
  }
  for (int r = 0; r < R; r++) {
    const int64_t brow = (j0 + r) * ldb;
    for (int i = 0; i < M; i++) {
      vfloat folded = acc[i][r][0];
      for (int v = 1; v < DOT_CHAINS; v++) folded += acc[i][r][v];
      float sum = hsum(folded);
      for (int64_t q = p; q < k; q++) sum += a[i * lda + q] * load_b<D>(b, brow + q);
      float out = alpha * sum;
      if (beta != 0.f) out += beta * c[i * ldc + j0 + r];
      c[i * ldc + j0 + r] = out;
    }
  }
}

// Columns [n0, n1) with M rows of A: blocks of as many rows of B as the accumulators allow.
template <DType D, int M>
void dots(int64_t n0, int64_t n1, int64_t k, float alpha, const float* a, int64_t lda, const void* b, int64_t ldb,
          float beta, float* c, int64_t ldc) {
  constexpr int R0 = DOT_ACC / (M * DOT_CHAINS) > 0 ? DOT_ACC / (M * DOT_CHAINS) : 1;
  constexpr int R = R0 > DOT_MAX_R ? DOT_MAX_R : R0;
  int64_t j = n0;
  for (; j + R <= n1; j += R) dot_block<D, M, R>(j, k, alpha, a, lda, b, ldb, beta, c, ldc);
  for (; j < n1; j++) dot_block<D, M, 1>(j, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <DType D>
void small_m_dots(int64_t m, int64_t n0, int64_t n1, int64_t k, float alpha, const float* a, int64_t lda,
                  const void* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  static_assert(GEMM_DOT_M == 8, "one case per row count");
  switch (m) {
    case 1: return dots<D, 1>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 2: return dots<D, 2>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 3: return dots<D, 3>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 4: return dots<D, 4>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 5: return dots<D, 5>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 6: return dots<D, 6>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 7: return dots<D, 7>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    default: return dots<D, 8>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

// Columns [n0, n1) of C; A is m contiguous rows of k (transposed A was gathered by the caller).
void columns(bool transB, int64_t m, int64_t n0, int64_t n1, int64_t k, float alpha, const float* a, int64_t lda,
             const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc) {
  switch (bdtype) {
    case F32: (transB ? small_m_dots<F32> : small_m_rows<F32>)(m, n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case BF16: (transB ? small_m_dots<BF16> : small_m_rows<BF16>)(m, n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case F16: (transB ? small_m_dots<F16> : small_m_rows<F16>)(m, n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    default: break;  // i32 is no B dtype (gemm.cpp rejects it) and block formats go to gemm_quant
  }
}

// Columns per task: about STREAM_TASK_MACS multiply-adds each, at most STREAM_MAX_GRAIN.
int64_t stream_grain(int64_t m, int64_t k) {
  const double per_column = double(std::max<int64_t>(m, 1)) * double(std::max<int64_t>(k, 1));
  return std::clamp<int64_t>(int64_t(STREAM_TASK_MACS / per_column), DOT_ACC, STREAM_MAX_GRAIN);
}

}  // namespace

void gemm_small_m(bool threaded, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c,
                  int64_t ldc) {
  if (transA) {  // gather the m columns of the stored (k, m) A into rows
    float* rows = tl_rows_a.ensure(size_t(m) * size_t(k));
    for (int64_t p = 0; p < k; p++)
      for (int64_t i = 0; i < m; i++) rows[i * k + p] = a[p * lda + i];
    a = rows;
    lda = k;
  }
  auto run = [&](int64_t j0, int64_t j1, int) { columns(transB, m, j0, j1, k, alpha, a, lda, b, bdtype, ldb, beta, c, ldc); };
  if (threaded)
    parallel_for(n, stream_grain(m, k), run);
  else
    run(0, n, 0);
}

// Few columns (n <= GEMM_SMALL_M): C^T = op(B)^T op(A)^T is a small-M problem whose f32 "A" is
// op(B) widened into n rows of k, and whose "B" is A itself (f32). Each task computes
// its rows of C into a transposed scratch, then applies alpha and beta.
void gemm_small_n(bool threaded, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c,
                  int64_t ldc) {
  float* bt = tl_small_bt.ensure(size_t(n) * size_t(k));  // (n, k): row j is column j of op(B)
  for (int64_t j = 0; j < n; j++)
    for (int64_t p = 0; p < k; p++) {
      int64_t at = transB ? j * ldb + p : p * ldb + j;
      switch (bdtype) {
        case F32: bt[j * k + p] = load_b<F32>(b, at); break;
        case BF16: bt[j * k + p] = load_b<BF16>(b, at); break;
        case F16: bt[j * k + p] = load_b<F16>(b, at); break;
        default: break;  // i32 is no B dtype (gemm.cpp rejects it) and block formats go to gemm_quant
      }
    }
  float* ct = tl_small_ct.ensure(size_t(n) * size_t(m));  // (n, m) = C^T before alpha, beta
  auto run = [&](int64_t i0, int64_t i1, int) {
    columns(!transA, n, i0, i1, k, 1.f, bt, k, a, F32, lda, 0.f, ct, m);
    for (int64_t i = i0; i < i1; i++)
      for (int64_t j = 0; j < n; j++) {
        float out = alpha * ct[j * m + i];
        if (beta != 0.f) out += beta * c[i * ldc + j];
        c[i * ldc + j] = out;
      }
  };
  if (threaded)
    parallel_for(m, stream_grain(n, k), run);
  else
    run(0, m, 0);
}

}  // namespace llava
