// Internal C++ GEMM API shared by kernel families (attention uses it per head).
// Row-major: C = alpha * op(A) @ op(B) + beta * C. A is f32; B is f32, bf16 or f16.
#pragma once
#include "common.h"

namespace llava {

// The active engine (OpenBLAS when loaded and enabled, else the built-in kernel),
// using all pool threads. Call from the main thread only, never inside parallel_for.
void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc);

// Single-threaded built-in kernel: safe inside a parallel_for task.
void gemm_serial(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 int64_t lda, const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace llava
