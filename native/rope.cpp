// rope kernels: placeholder until written.
#include "common.h"
