// Internal C++ GEMM API shared by kernel families (attention uses it per head).
// Row-major: C = alpha * op(A) @ op(B) + beta * C. A is f32; B is f32, bf16 or f16.
#pragma once
#include "common.h"

namespace llava {

// The active engine (OpenBLAS when loaded and enabled, else the built-in kernel),
// using all pool threads. Call from the main thread only, never inside parallel_for.
void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc);

// Single-threaded built-in kernel: safe inside a parallel_for task. Bit-identical to the
// built-in path of gemm() for the same arguments (thread splits never change the order of
// the sums), so per-head and whole-batch results agree exactly.
void gemm_serial(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc);

// Up to this many rows (or columns) the built-in kernel skips packing and streams the
// big operand once (decode steps, m = 1); it then beats OpenBLAS, so gemm() takes it
// whatever the engine.
constexpr int64_t GEMM_SMALL_M = 4;

// Up to this many rows (a batch of decode steps, one row per sequence) a product with transposed B
// still streams it, every row sharing each load: packing a weight for a handful of rows costs more
// than the packed kernel then saves.
constexpr int64_t GEMM_DOT_M = 8;

// Whether a product takes the streaming small-M path (no packing) rather than a packed GEMM.
inline bool gemm_streams_b(int64_t m, bool transB) { return m <= GEMM_SMALL_M || (m <= GEMM_DOT_M && transB); }

// ---- engine internals: gemm() picks one of these (gemm.cpp) ----

// Built-in packed kernel split over the pool (main thread only, like gemm).
void gemm_builtin(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc);

// The streaming path (gemm_small.cpp), on the pool when `threaded`: gemm_small_m for products
// that gemm_streams_b picks, gemm_small_n for at most GEMM_SMALL_M columns.
void gemm_small_m(bool threaded, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c,
                  int64_t ldc);
void gemm_small_n(bool threaded, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c,
                  int64_t ldc);

// OpenBLAS, loaded with dlopen on first use (native/gemm_blas.cpp). blas_library() is the
// path that loaded, or nullptr when none did; blas_active() is false when none loaded or
// it is not in use: LLAVA_BLAS=off, blas_set_disabled(true), or by default where the
// built-in kernel has AVX-512 (LLAVA_BLAS=on uses it there too). blas_restore_default()
// returns to that default after blas_set_disabled.
const char* blas_library();
// The kernel set the loaded OpenBLAS runs ("SkylakeX", "Haswell"), or nullptr when unknown.
const char* blas_core();
bool blas_active();
void blas_set_disabled(bool disabled);
void blas_restore_default();
// f32 cblas_sgemm on the pool's thread count; returns false (and does nothing) when
// OpenBLAS is not active or a size does not fit its 32-bit integers.
bool blas_sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace llava
