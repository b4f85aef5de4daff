// Shared helpers for the native kernel core: argument decoding, the thread pool API, dtypes.
// Every kernel file includes this; kernels receive raw addresses (as JS numbers) and sizes.
#pragma once
#include <napi.h>
#include <cstdint>
#include <cstring>
#include <vector>
#include <functional>

namespace llava {

// Storage dtypes; values match src/tensor/dtype.ts DTYPE_CODE. Q* are ggml's block formats
// (native/quant.h), which only quantised weights use.
enum DType : int {
  F32 = 0, BF16 = 1, F16 = 2, I32 = 3,
  Q4_0 = 10, Q4_1 = 11, Q5_0 = 12, Q5_1 = 13, Q8_0 = 14, Q4_K = 15, Q5_K = 16, Q6_K = 17,
  Q4_0X8 = 18,  // Q4_0 with rows interleaved in groups of 8 for the GEMM (gemm_quant.cpp), made at load
};

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t f32_to_bf16(float f) {  // round to nearest even, NaN kept quiet
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float f16_to_f32(uint16_t h) {
  _Float16 v;
  std::memcpy(&v, &h, 2);
  return static_cast<float>(v);
}
inline uint16_t f32_to_f16(float f) {
  _Float16 h = static_cast<_Float16>(f);
  uint16_t u;
  std::memcpy(&u, &h, 2);
  return u;
}

// ---- argument decoding (all kernels take numbers and small arrays of numbers) ----
template <typename T = float>
inline T* ptr(const Napi::CallbackInfo& info, size_t i) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(info[i].As<Napi::Number>().DoubleValue()));
}
inline int64_t i64(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<int64_t>(info[i].As<Napi::Number>().DoubleValue());
}
inline double f64(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }
inline std::vector<int64_t> ints(const Napi::CallbackInfo& info, size_t i) {
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) out[k] = static_cast<int64_t>(a.Get(k).As<Napi::Number>().DoubleValue());
  return out;
}
inline void fail(const Napi::Env& env, const char* msg) { Napi::Error::New(env, msg).ThrowAsJavaScriptException(); }

// ---- thread pool ----
// parallel_for splits [0, n) into fixed contiguous chunks (one per thread, never
// fewer than `grain` items each) and runs fn(begin, end, chunk_index) on them.
// The split depends only on n, grain and the thread count, so results never depend
// on timing. Calls from inside a pool task run serially.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn);
int pool_threads();
void set_pool_threads(int n);
// How many chunks parallel_for(n, grain) will use (for per-chunk partial buffers).
int pool_chunks(int64_t n, int64_t grain);

// ---- registration: each kernel family adds its exports ----
using Registrar = void (*)(Napi::Env, Napi::Object);
struct RegisterFamily {
  RegisterFamily(Registrar r);
};
std::vector<Registrar>& registrars();

}  // namespace llava
