// gemm_kernel kernels: placeholder until written.
#include "common.h"
