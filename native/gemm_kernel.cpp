// The built-in GEMM: packed, cache-blocked, with a register-blocked micro-kernel written in
// GCC vector extensions (AVX-512, AVX2 or SSE widths), for machines without OpenBLAS and for bf16/f16 B.
//
// Shape letters: C (m, n) = alpha * op(A) (m, k) @ op(B) (k, n) + beta * C.
// Loop nest (Goto/BLIS): jc over N in NC columns -> pc over K in KC -> pack B block
// (KC x NC) into NR-wide panels, widening bf16/f16 -> ic over M in row blocks -> pack A
// block into MR-tall panels -> jr, ir over micro-tiles (MR x NR) -> micro-kernel.
// Transposed operands are handled by the packing routines, never by a transpose copy.
// Threads each run that loop nest on their own rectangle of C (gemm_threaded). Up to
// SMALL_M rows or columns there is no packing: the big operand streams once (small_m/n).
//
// Determinism: every C element is summed over k in the same order (KC blocks in order,
// one FMA chain per block) whatever the thread count or split, so results depend only on
// the shape; threaded and serial runs are bit-identical.
#include "gemm.h"
#include <algorithm>
#include <cstdlib>
#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace llava {
namespace {

#if defined(__AVX512F__)
constexpr int VL = 16;  // floats per vector
constexpr int MR = 12;  // micro-tile rows: MR x NV accumulators stay in registers (32 zmm)
constexpr int NV = 2;   // vectors per micro-tile row
#elif defined(__AVX__)
constexpr int VL = 8;
constexpr int MR = 6;
constexpr int NV = 2;
#else
constexpr int VL = 4;
constexpr int MR = 6;
constexpr int NV = 2;
#endif
constexpr int NR = VL * NV;  // micro-tile columns

// Cache blocks, measured on Zen 4 (32 KB L1d, 1 MB L2 per core, 32 MB L3): the A block
// (MC x KC, 288 KB) and each B micro-panel (KC x NR, 64 KB) stream from L2, the packed B
// block (KC x NC, 4 MB) sits in L3. KC 512 beat 256 by ~8%; one core reaches OpenBLAS's
// speed (~96 GFLOP/s at 1024^3).
constexpr int64_t KC = 512;
constexpr int64_t MC = 144;  // a multiple of MR
constexpr int64_t NC = 2048; // a multiple of NR
static_assert(MC % MR == 0 && NC % NR == 0, "blocks must hold whole micro-tiles");

constexpr int64_t SMALL_M = GEMM_SMALL_M;
// Independent accumulator vectors of a small-M dot product (hides the FMA latency).
constexpr int DOT_CHAINS = 4;
// Fewest columns (rows for small-N) per task of the small-M path.
constexpr int64_t SMALL_N_GRAIN = 256;
constexpr size_t ALIGN = 64;
// K slice of the transposing B packer: TRANSPOSE_K x NR floats written at a time.
constexpr int64_t TRANSPOSE_K = 16;

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

// Per-thread packing buffers, grown on demand (gemm_serial runs on pool threads).
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
thread_local PackBuffer tl_pack_a;
thread_local PackBuffer tl_pack_b;
thread_local PackBuffer tl_small_acc;
thread_local PackBuffer tl_small_bt;
thread_local PackBuffer tl_small_ct;

// ---- packing ----
// A block rows [i0, i0+mc), k [p0, p0+kc) -> panels of MR rows: dst[panel][p][r], zero-padded.
void pack_a(bool transA, const float* a, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    int64_t rows = std::min<int64_t>(MR, mc - ir);
    float* panel = dst + ir * kc;
    if (transA) {  // stored (k, m): row p holds the MR values side by side
      for (int64_t p = 0; p < kc; p++) {
        const float* src = a + (p0 + p) * lda + i0 + ir;
        float* d = panel + p * MR;
        for (int64_t r = 0; r < rows; r++) d[r] = src[r];
        for (int64_t r = rows; r < MR; r++) d[r] = 0.f;
      }
    } else {
      for (int64_t r = 0; r < rows; r++) {
        const float* src = a + (i0 + ir + r) * lda + p0;
        for (int64_t p = 0; p < kc; p++) panel[p * MR + r] = src[p];
      }
      for (int64_t r = rows; r < MR; r++)
        for (int64_t p = 0; p < kc; p++) panel[p * MR + r] = 0.f;
    }
  }
}

// B panel columns [j0, j0+cols) (cols <= NR), k [p0, p0+kc) -> dst[p][c], zero-padded.
template <DType D>
void pack_b_panel(bool transB, const void* b, int64_t ldb, int64_t j0, int64_t cols, int64_t p0, int64_t kc,
                  float* dst) {
  if (transB) {  // stored (n, k): each column of op(B) is a contiguous row
    // Transposed in TRANSPOSE_K slices so the slice being written stays in L1.
    for (int64_t ps = 0; ps < kc; ps += TRANSPOSE_K) {
      int64_t pe = std::min(TRANSPOSE_K, kc - ps);
      for (int64_t c = 0; c < cols; c++) {
        int64_t row = (j0 + c) * ldb + p0 + ps;
        float* d = dst + ps * NR + c;
        for (int64_t p = 0; p < pe; p++) d[p * NR] = load_b<D>(b, row + p);
      }
    }
    for (int64_t c = cols; c < NR; c++)
      for (int64_t p = 0; p < kc; p++) dst[p * NR + c] = 0.f;
  } else if (cols == NR) {
    for (int64_t p = 0; p < kc; p++) {
      int64_t row = (p0 + p) * ldb + j0;
      float* d = dst + p * NR;
      for (int64_t c = 0; c < NR; c++) d[c] = load_b<D>(b, row + c);
    }
  } else {
    for (int64_t p = 0; p < kc; p++) {
      int64_t row = (p0 + p) * ldb + j0;
      float* d = dst + p * NR;
      for (int64_t c = 0; c < cols; c++) d[c] = load_b<D>(b, row + c);
      for (int64_t c = cols; c < NR; c++) d[c] = 0.f;
    }
  }
}

// Packs the B block of columns [jc, jc+nc), k [p0, p0+kc) into NR-wide panels.
void pack_b_block(DType bdtype, bool transB, const void* b, int64_t ldb, int64_t jc, int64_t nc, int64_t p0,
                  int64_t kc, float* dst) {
  for (int64_t q = 0; q * NR < nc; q++) {
    int64_t j0 = jc + q * NR, cols = std::min<int64_t>(NR, nc - q * NR);
    float* d = dst + q * NR * kc;
    switch (bdtype) {
      case F32: pack_b_panel<F32>(transB, b, ldb, j0, cols, p0, kc, d); break;
      case BF16: pack_b_panel<BF16>(transB, b, ldb, j0, cols, p0, kc, d); break;
      case F16: pack_b_panel<F16>(transB, b, ldb, j0, cols, p0, kc, d); break;
      case I32: break;  // not a B dtype: gemm.cpp rejects it before any kernel runs
    }
  }
}

// ---- micro-kernel ----
// acc (MR x NR) = sum_p A[p][r] * B[p][c] over packed panels, then
// C = alpha * acc + beta * C on the valid rows x cols. beta == 0 never reads C.
void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                  int64_t rows, int64_t cols, float alpha, float beta) {
  vfloat acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc[r][v] = vfloat{};
  for (int64_t p = 0; p < kc; p++) {
    vfloat bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) bv[v] = load_aligned(b + p * NR + v * VL);
#pragma GCC unroll 32
    for (int r = 0; r < MR; r++) {
      vfloat av = broadcast(a[p * MR + r]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) acc[r][v] += av * bv[v];
    }
  }
  if (rows == MR && cols == NR) {
#pragma GCC unroll 32
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) {
        float* cp = c + r * ldc + v * VL;
        vfloat out = alpha * acc[r][v];
        if (beta != 0.f) out += beta * load_unaligned(cp);
        store_unaligned(cp, out);
      }
    return;
  }
  alignas(ALIGN) float tile[MR][NR];
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) std::memcpy(&tile[r][v * VL], &acc[r][v], sizeof(vfloat));
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < cols; j++) {
      float out = alpha * tile[r][j];
      if (beta != 0.f) out += beta * c[r * ldc + j];
      c[r * ldc + j] = out;
    }
}

// One packed A block (mc rows) against every panel of the packed B block (nc columns).
void compute_block(const float* apack, int64_t mc, int64_t kc, const float* bpack, int64_t nc, float* c, int64_t ldc,
                   float alpha, float beta) {
  for (int64_t q = 0; q * NR < nc; q++) {
    int64_t cols = std::min<int64_t>(NR, nc - q * NR);
    const float* bp = bpack + q * NR * kc;
    for (int64_t ir = 0; ir < mc; ir += MR) {
      int64_t rows = std::min<int64_t>(MR, mc - ir);
      micro_kernel(kc, apack + ir * kc, bp, c + ir * ldc + q * NR, ldc, rows, cols, alpha, beta);
    }
  }
}

// ---- small-M path: no packing, B streamed once ----
// A arrives here as m contiguous rows of k (transposed A is copied first: m * k floats).

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
#else
    alignas(ALIGN) float bw[VL];
    for (int t = 0; t < VL; t++) bw[t] = load_b<D>(b, i + t);
    return load_aligned(bw);
#endif
  }
}

// C[:, j0 .. j0 + R) of a small-M product with transposed B (see small_m_dots).
template <DType D, int M, int R>
inline void small_m_dot_block(int64_t j0, int64_t k, float alpha, const float* a, int64_t lda, const void* b,
                              int64_t ldb, float beta, float* c, int64_t ldc) {
  constexpr int64_t STEP = VL * DOT_CHAINS;
  vfloat acc[M][R][DOT_CHAINS] = {};
  int64_t p = 0;
  for (; p + STEP <= k; p += STEP) {
#pragma GCC unroll 4
    for (int v = 0; v < DOT_CHAINS; v++) {
      vfloat av[M];
#pragma GCC unroll 4
      for (int i = 0; i < M; i++) av[i] = load_unaligned(a + i * lda + p + v * VL);
#pragma GCC unroll 4
      for (int r = 0; r < R; r++) {
        const vfloat bv = load_b_vec<D>(b, (j0 + r) * ldb + p + v * VL);
#pragma GCC unroll 4
        for (int i = 0; i < M; i++) acc[i][r][v] += av[i] * bv;
      }
    }
  }
  for (int r = 0; r < R; r++) {
    const int64_t brow = (j0 + r) * ldb;
    for (int i = 0; i < M; i++) {
      // The chains fold together as vectors first (a fixed order), then the lanes: VL scalar
      // adds per element instead of DOT_CHAINS x VL, which dominated short rows (k = 256).
      vfloat folded = acc[i][r][0];
      for (int v = 1; v < DOT_CHAINS; v++) folded += acc[i][r][v];
      float sum = 0.f;
      for (int l = 0; l < VL; l++) sum += folded[l];
      for (int64_t q = p; q < k; q++) sum += a[i * lda + q] * load_b<D>(b, brow + q);
      float out = alpha * sum;
      if (beta != 0.f) out += beta * c[i * ldc + j0 + r];
      c[i * ldc + j0 + r] = out;
    }
  }
}

// Transposed B (stored (n, k)): each C element is a dot product of two contiguous rows,
// summed in DOT_CHAINS x VL lanes, then the lanes in a fixed order. Each B row is read
// (and widened) once for all M rows of A; M is a template argument so the accumulators
// stay in registers. RB rows of B share each load of A, so a long A row (decode's x, 44 KB
// at k = 11008, more than L1) is read from L2 once per RB rows instead of once per row.
// The summation order of each C element does not depend on RB.
template <DType D, int M>
void small_m_dots(int64_t n0, int64_t n1, int64_t k, float alpha, const float* a, int64_t lda, const void* b,
                  int64_t ldb, float beta, float* c, int64_t ldc) {
  constexpr int RB = M == 1 ? 4 : M == 2 ? 2 : 1;  // 16 accumulator vectors at most
  int64_t j = n0;
  for (; j + RB <= n1; j += RB) small_m_dot_block<D, M, RB>(j, k, alpha, a, lda, b, ldb, beta, c, ldc);
  for (; j < n1; j++) small_m_dot_block<D, M, 1>(j, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <DType D>
void small_m_dots_group(int64_t m, int64_t n0, int64_t n1, int64_t k, float alpha, const float* a, int64_t lda,
                        const void* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  static_assert(SMALL_M == 4, "one case per row count");
  switch (m) {
    case 1: return small_m_dots<D, 1>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 2: return small_m_dots<D, 2>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 3: return small_m_dots<D, 3>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    default: return small_m_dots<D, 4>(n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

// Rows of B per block when more than SMALL_M rows of A take turns on it (16 rows of a 7B
// down projection are 350 KB of bf16: the next group finds them in L2).
constexpr int64_t GROUP_BLOCK_ROWS = 16;

// Up to GEMM_GROUPED_M rows: groups of SMALL_M rows take turns on each block of B rows. Each C
// element is summed exactly as with its group alone, so batching rows changes no result.
template <DType D>
void small_m_dots_rows(int64_t m, int64_t n0, int64_t n1, int64_t k, float alpha, const float* a, int64_t lda,
                       const void* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= SMALL_M) return small_m_dots_group<D>(m, n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc);
  for (int64_t j = n0; j < n1; j += GROUP_BLOCK_ROWS) {
    const int64_t j1 = std::min(n1, j + GROUP_BLOCK_ROWS);
    for (int64_t i = 0; i < m; i += SMALL_M)
      small_m_dots_group<D>(std::min(SMALL_M, m - i), j, j1, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
  }
}

void small_m(bool transA, bool transB, int64_t m, int64_t n0, int64_t n1, int64_t k, float alpha, const float* a,
             int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (transA) {  // gather the m columns of the stored (k, m) A into rows
    float* rows = tl_pack_a.ensure(size_t(m) * size_t(k));
    for (int64_t p = 0; p < k; p++)
      for (int64_t i = 0; i < m; i++) rows[i * k + p] = a[p * lda + i];
    a = rows;
    lda = k;
  }
  switch (bdtype) {
    case F32: (transB ? small_m_dots_rows<F32> : small_m_rows<F32>)(m, n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case BF16: (transB ? small_m_dots_rows<BF16> : small_m_rows<BF16>)(m, n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case F16: (transB ? small_m_dots_rows<F16> : small_m_rows<F16>)(m, n0, n1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case I32: break;  // not a B dtype: gemm.cpp rejects it before any kernel runs
  }
}

// C = beta * C when there is nothing to multiply (k == 0 or alpha == 0).
void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.f ? 0.f : beta * c[i * ldc + j];
}

// The blocked algorithm on one thread (threads each run it on their own rectangle of C).
void gemm_blocked(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                  const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc) {
  float* bpack = tl_pack_b.ensure(size_t(KC) * size_t(std::min(NC, (n + NR - 1) / NR * NR)));
  float* apack = tl_pack_a.ensure(size_t(MC) * size_t(KC));
  for (int64_t jc = 0; jc < n; jc += NC) {
    int64_t nc = std::min(NC, n - jc);
    for (int64_t pc = 0; pc < k; pc += KC) {
      int64_t kc = std::min(KC, k - pc);
      float beta_block = pc == 0 ? beta : 1.f;  // later K blocks add onto the first
      pack_b_block(bdtype, transB, b, ldb, jc, nc, pc, kc, bpack);
      for (int64_t ic = 0; ic < m; ic += MC) {
        int64_t mc = std::min(MC, m - ic);
        pack_a(transA, a, lda, ic, mc, pc, kc, apack);
        compute_block(apack, mc, kc, bpack, nc, c + ic * ldc + jc, ldc, alpha, beta_block);
      }
    }
  }
}

// Few columns (n <= SMALL_M): C^T = op(B)^T op(A)^T is a small-M problem whose f32 "A" is
// op(B) widened into n rows of k, and whose "B" is A itself (f32). Each task computes
// its rows of C into a transposed scratch, then applies alpha and beta.
void small_n(bool threaded, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
             int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc) {
  float* bt = tl_small_bt.ensure(size_t(n) * size_t(k));  // (n, k): row j is column j of op(B)
  for (int64_t j = 0; j < n; j++)
    for (int64_t p = 0; p < k; p++) {
      int64_t at = transB ? j * ldb + p : p * ldb + j;
      switch (bdtype) {
        case F32: bt[j * k + p] = load_b<F32>(b, at); break;
        case BF16: bt[j * k + p] = load_b<BF16>(b, at); break;
        case F16: bt[j * k + p] = load_b<F16>(b, at); break;
        case I32: break;  // not a B dtype: gemm.cpp rejects it before any kernel runs
      }
    }
  float* ct = tl_small_ct.ensure(size_t(n) * size_t(m));  // (n, m) = C^T before alpha, beta
  auto run = [&](int64_t i0, int64_t i1, int) {
    small_m(false, !transA, n, i0, i1, k, 1.f, bt, k, a, F32, lda, 0.f, ct, m);
    for (int64_t i = i0; i < i1; i++)
      for (int64_t j = 0; j < n; j++) {
        float out = alpha * ct[j * m + i];
        if (beta != 0.f) out += beta * c[i * ldc + j];
        c[i * ldc + j] = out;
      }
  };
  if (threaded)
    parallel_for(m, SMALL_N_GRAIN, run);
  else
    run(0, m, 0);
}

// Threads: C is cut into one rectangle per thread (whole NR panels of columns, or whole MR
// tiles of rows when C is taller than wide) and each runs the serial algorithm on its own.
// One parallel_for per GEMM and no shared buffers, at the price of every thread packing
// the operand the rectangles share (A for a column split, B for a row split). Measured
// against packing B once and splitting each block between threads (two barriers per
// block): equal at 1024^3, +25-40% at 256x512x512 and 256x1536x512. Rectangle edges sit
// on the serial tile grid, so results are unchanged.
void gemm_threaded(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc) {
  const char* bbytes = static_cast<const char*>(b);
  size_t bsize = bdtype == F32 ? sizeof(float) : sizeof(uint16_t);
  int64_t panels = (n + NR - 1) / NR, tiles = (m + MR - 1) / MR;
  int threads = pool_threads();
  bool by_columns = (n >= m && panels >= threads) || tiles < threads;
  if (by_columns) {
    parallel_for(panels, 1, [&](int64_t q0, int64_t q1, int) {
      int64_t j0 = q0 * NR, j1 = std::min(n, q1 * NR);
      const void* bj = bbytes + size_t(transB ? j0 * ldb : j0) * bsize;
      gemm_blocked(transA, transB, m, j1 - j0, k, alpha, a, lda, bj, bdtype, ldb, beta, c + j0, ldc);
    });
  } else {
    parallel_for(tiles, 1, [&](int64_t t0, int64_t t1, int) {
      int64_t i0 = t0 * MR, i1 = std::min(m, t1 * MR);
      const float* ai = a + (transA ? i0 : i0 * lda);
      gemm_blocked(transA, transB, i1 - i0, n, k, alpha, ai, lda, b, bdtype, ldb, beta, c + i0 * ldc, ldc);
    });
  }
}

void gemm_dispatch(bool threaded, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c,
                   int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.f) return scale_c(m, n, beta, c, ldc);
  if (gemm_streams_b(m, transB)) {
    auto run = [&](int64_t j0, int64_t j1, int) {
      small_m(transA, transB, m, j0, j1, k, alpha, a, lda, b, bdtype, ldb, beta, c, ldc);
    };
    if (threaded)
      parallel_for(n, SMALL_N_GRAIN, run);
    else
      run(0, n, 0);
    return;
  }
  if (n <= SMALL_M) return small_n(threaded, transA, transB, m, n, k, alpha, a, lda, b, bdtype, ldb, beta, c, ldc);
  if (threaded)
    gemm_threaded(transA, transB, m, n, k, alpha, a, lda, b, bdtype, ldb, beta, c, ldc);
  else
    gemm_blocked(transA, transB, m, n, k, alpha, a, lda, b, bdtype, ldb, beta, c, ldc);
}

}  // namespace

void gemm_builtin(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_dispatch(true, transA, transB, m, n, k, alpha, a, lda, b, bdtype, ldb, beta, c, ldc);
}

void gemm_serial(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_dispatch(false, transA, transB, m, n, k, alpha, a, lda, b, bdtype, ldb, beta, c, ldc);
}

}  // namespace llava
