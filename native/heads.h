// A (batch, head, time) strided view whose last dim (head dim) is contiguous, decoded from
// the [ptr, strideB, strideH, strideT] arrays that attention and rope receive from JS.
#pragma once
#include "common.h"

namespace llava {

struct Heads {
  float* base;
  int64_t sb, sh, st;
  float* row(int64_t b, int64_t h, int64_t t) const { return base + b * sb + h * sh + t * st; }
};

inline Heads heads_arg(const Napi::CallbackInfo& info, size_t i) {
  const std::vector<int64_t> v = ints(info, i);
  return {reinterpret_cast<float*>(static_cast<uintptr_t>(v[0])), v[1], v[2], v[3]};
}

}  // namespace llava
