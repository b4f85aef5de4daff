// The built-in GEMM: packed, cache-blocked, with a register-blocked micro-kernel written in
// GCC vector extensions (AVX-512, AVX2 or SSE widths), for machines without OpenBLAS and for bf16/f16 B.
//
// Shape letters: C (m, n) = alpha * op(A) (m, k) @ op(B) (k, n) + beta * C.
// Loop nest (Goto/BLIS): jc over N in NC columns -> pc over K in KC -> pack B block
// (KC x NC) into NR-wide panels, widening bf16/f16 -> ic over M in row blocks -> pack A
// block into MR-tall panels -> jr, ir over micro-tiles (MR x NR) -> micro-kernel.
// Transposed operands are handled by the packing routines, never by a transpose copy.
// Threads each run that loop nest on their own rectangle of C (gemm_threaded). A few rows or
// columns take the streaming path instead (gemm_small.cpp): no packing, B read once.
//
// Determinism: every C element is summed over k in the same order (KC blocks in order,
// one FMA chain per block) whatever the thread count or split, so results depend only on
// the shape; threaded and serial runs are bit-identical.
#include "gemm.h"
#include "gemm_vec.h"
#include <algorithm>

namespace llava {
namespace {

using namespace gemmvec;

#if defined(__AVX512F__)
constexpr int MR = 12;  // micro-tile rows: MR x NV accumulators stay in registers (32 zmm)
constexpr int NV = 2;   // vectors per micro-tile row
#else
constexpr int MR = 6;
constexpr int NV = 2;
#endif
constexpr int64_t NR = VL * NV;  // micro-tile columns

// Cache blocks, measured on Zen 4 (32 KB L1d, 1 MB L2 per core, 32 MB L3): the A block
// (MC x KC, 288 KB) and each B micro-panel (KC x NR, 64 KB) stream from L2, the packed B
// block (KC x NC, 4 MB) sits in L3. KC 512 beat 256 by ~8%; one core reaches OpenBLAS's
// speed (~96 GFLOP/s at 1024^3).
constexpr int64_t KC = 512;
constexpr int64_t MC = 144;  // a multiple of MR
constexpr int64_t NC = 2048; // a multiple of NR
static_assert(MC % MR == 0 && NC % NR == 0, "blocks must hold whole micro-tiles");
// K slice of the transposing B packer: TRANSPOSE_K x NR floats written at a time.
constexpr int64_t TRANSPOSE_K = 16;

thread_local PackBuffer tl_pack_a;
thread_local PackBuffer tl_pack_b;

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
      default: break;  // i32 is no B dtype (gemm.cpp rejects it) and block formats go to gemm_quant
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
  if (gemm_streams_b(m, transB)) return gemm_small_m(threaded, transA, transB, m, n, k, alpha, a, lda, b, bdtype, ldb, beta, c, ldc);
  if (n <= GEMM_SMALL_M) return gemm_small_n(threaded, transA, transB, m, n, k, alpha, a, lda, b, bdtype, ldb, beta, c, ldc);
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
