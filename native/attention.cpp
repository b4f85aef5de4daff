// attention kernels: placeholder until written.
#include "common.h"
