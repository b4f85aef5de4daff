// gemm_blas kernels: placeholder until written.
#include "common.h"
