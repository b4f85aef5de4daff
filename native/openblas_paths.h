/* Where OpenBLAS is looked for with dlopen, and which of its kernels it runs, shared by the
   addon (gemm_blas.cpp) and the C sgemm baseline (bench/sgemm_baseline.c), so the baseline is
   the same library doing the same arithmetic. Plain C so both compilers read it. The generic
   names first, then Debian's alternatives folders (pthread first: the openmp variant's
   threads may keep spinning against our pool). */
#ifndef LLAVA_OPENBLAS_PATHS_H
#define LLAVA_OPENBLAS_PATHS_H

static const char* const OPENBLAS_CANDIDATES[] = {
    "libopenblas.so.0",
    "libopenblas.so",
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
    "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3",
    "/usr/lib/x86_64-linux-gnu/openblas-serial/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/openblas-serial/libblas.so.3",
};

#include <stdlib.h>

/* OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernel set from the CPU model
   ("Cooperlake" on a Zen 5 for Debian bookworm's 0.3.21), unless OPENBLAS_CORETYPE names one,
   and the kernel set decides the rounding. Naming it by instruction set instead, before the
   library loads, makes every CPU with AVX-512 (or every one with AVX2 only) run the same sgemm
   code, whatever its model. An OPENBLAS_CORETYPE already set wins (an environment may pin the
   AVX2 "Haswell" set on an AVX-512 CPU: 178 against 315 GFLOP/s on 1024^3, 2 threads,
   `llava bench kernels --blas on`; "Cooperlake" and "SkylakeX" ran at the same speed there). */
static inline void llava_pin_openblas_coretype(void) {
  const char* set = getenv("OPENBLAS_CORETYPE");
  if (set && set[0]) return;
  const char* tier = NULL;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd"))
    tier = "SkylakeX";
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    tier = "Haswell";
#endif
  if (tier) setenv("OPENBLAS_CORETYPE", tier, 0);
}

#endif
