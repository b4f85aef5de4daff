// Entry point of the native kernel core: collects the exports of every kernel family
// (each .cpp registers itself) plus thread and CPU information for `llava doctor`.
#include "common.h"
#include <thread>

namespace llava {
namespace {

Napi::Value Threads(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsNumber()) set_pool_threads(int(i64(info, 0)));
  return Napi::Number::New(info.Env(), pool_threads());
}

Napi::Value CpuFeatures(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  __builtin_cpu_init();
  o.Set("avx2", bool(__builtin_cpu_supports("avx2")));
  o.Set("fma", bool(__builtin_cpu_supports("fma")));
  o.Set("avx512f", bool(__builtin_cpu_supports("avx512f")));
  o.Set("avx512bf16", bool(__builtin_cpu_supports("avx512bf16")));
  o.Set("hardwareThreads", double(std::thread::hardware_concurrency()));
#if defined(__AVX512F__)
  o.Set("builtFor", "avx512");
#elif defined(__AVX2__)
  o.Set("builtFor", "avx2");
#else
  o.Set("builtFor", "generic");
#endif
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (Registrar r : registrars()) r(env, exports);
  exports.Set("threads", Napi::Function::New(env, Threads));
  exports.Set("cpuFeatures", Napi::Function::New(env, CpuFeatures));
  return exports;
}

}  // namespace
}  // namespace llava

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return llava::Init(env, exports); }
NODE_API_MODULE(llava_native, InitModule)
