/* Where OpenBLAS is looked for with dlopen, shared by the addon (gemm_blas.cpp) and the C
   sgemm baseline (bench/sgemm_baseline.c). Plain C so both compilers read it. The generic
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

#endif
