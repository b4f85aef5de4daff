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

/* OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels from the CPU model it knows,
   and falls back to older ones for a newer CPU: Debian bookworm's 0.3.21 runs its AVX2
   "Haswell" sgemm on an AVX-512 Zen 5 (175 against 315 GFLOP/s for its "SkylakeX" kernel
   on 1024^3, 2 threads, `llava bench kernels`), and the kernel sets the rounding. Naming the
   kernel by the instruction set instead, before the library loads, makes every CPU with
   AVX-512 (or every one with AVX2 only) run the same sgemm: faster where the model is
   unknown, and the same floats across machines of one tier. An OPENBLAS_CORETYPE already
   set wins. Returns the core type in effect, or NULL when OpenBLAS chooses. */
static inline const char* llava_pin_openblas_coretype(void) {
  const char* set = getenv("OPENBLAS_CORETYPE");
  if (set && set[0]) return set;
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
  return tier;
}

#endif
