// Native storage: a size-class pool of 64-byte aligned buffers, memory-mapped files,
// and byte copies between JS and native memory. Addresses travel to JS as numbers.
#include "common.h"
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace llava {
namespace {

// Size classes: 4 per power of two above 256 bytes, so at most 25% is wasted.
size_t size_class(size_t bytes) {
  if (bytes <= 256) return 256;
  size_t p = 256;
  while (p * 2 < bytes) p *= 2;
  size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

struct MemPool {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  size_t live_bytes = 0, cached_bytes = 0, peak_live = 0, max_cached = 0;
  uint64_t allocs = 0, reuses = 0;
  MemPool() {
    const char* e = std::getenv("LLAVA_POOL_MAX_MB");
    max_cached = (e ? size_t(std::atoll(e)) : size_t(2048)) << 20;
  }
};
MemPool& mem() {
  static MemPool* m = new MemPool();
  return *m;
}

void* pool_alloc(size_t bytes) {
  MemPool& m = mem();
  size_t c = size_class(bytes);
  std::lock_guard<std::mutex> lk(m.mu);
  m.allocs++;
  m.live_bytes += c;
  if (m.live_bytes > m.peak_live) m.peak_live = m.live_bytes;
  auto it = m.free_lists.find(c);
  if (it != m.free_lists.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    m.cached_bytes -= c;
    m.reuses++;
    return p;
  }
  return std::aligned_alloc(64, c);
}

void pool_free(void* p, size_t bytes) {
  MemPool& m = mem();
  size_t c = size_class(bytes);
  std::lock_guard<std::mutex> lk(m.mu);
  m.live_bytes -= c;
  if (m.cached_bytes + c > m.max_cached) {
    std::free(p);
    return;
  }
  m.free_lists[c].push_back(p);
  m.cached_bytes += c;
}

void release_cached() {
  MemPool& m = mem();
  std::lock_guard<std::mutex> lk(m.mu);
  for (auto& kv : m.free_lists)
    for (void* p : kv.second) std::free(p);
  m.free_lists.clear();
  m.cached_bytes = 0;
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  size_t bytes = size_t(i64(info, 0));
  void* p = pool_alloc(bytes < 1 ? 1 : bytes);
  if (!p) {
    fail(info.Env(), "native alloc failed: out of memory");
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), double(reinterpret_cast<uintptr_t>(p)));
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  size_t bytes = size_t(i64(info, 1));
  pool_free(ptr<void>(info, 0), bytes < 1 ? 1 : bytes);
  return info.Env().Undefined();
}

// read(addr, bytes) -> ArrayBuffer holding a copy.
Napi::Value Read(const Napi::CallbackInfo& info) {
  size_t bytes = size_t(i64(info, 1));
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), bytes);
  if (bytes) std::memcpy(ab.Data(), ptr<void>(info, 0), bytes);
  return ab;
}

// write(addr, typedArray): copies the view's bytes to addr.
Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::TypedArray t = info[1].As<Napi::TypedArray>();
  Napi::ArrayBuffer ab = t.ArrayBuffer();
  const uint8_t* src = static_cast<const uint8_t*>(ab.Data()) + t.ByteOffset();
  if (t.ByteLength()) std::memcpy(ptr<void>(info, 0), src, t.ByteLength());
  return info.Env().Undefined();
}

// copyBytes(dst, src, bytes)
Napi::Value CopyBytes(const Napi::CallbackInfo& info) {
  size_t bytes = size_t(i64(info, 2));
  if (bytes) std::memmove(ptr<void>(info, 0), ptr<void>(info, 1), bytes);
  return info.Env().Undefined();
}

// mapFile(path) -> [addr, bytes]: a read-only private mapping (weights never copied).
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    fail(env, ("cannot open " + path).c_str());
    return env.Undefined();
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    fail(env, ("cannot stat " + path).c_str());
    return env.Undefined();
  }
  size_t bytes = size_t(st.st_size);
  void* p = bytes ? mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
  ::close(fd);
  if (p == MAP_FAILED) {
    fail(env, ("cannot mmap " + path).c_str());
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, double(reinterpret_cast<uintptr_t>(p))));
  out.Set(1u, Napi::Number::New(env, double(bytes)));
  return out;
}

Napi::Value Unmap(const Napi::CallbackInfo& info) {
  size_t bytes = size_t(i64(info, 1));
  if (bytes) munmap(ptr<void>(info, 0), bytes);
  return info.Env().Undefined();
}

Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  MemPool& m = mem();
  std::lock_guard<std::mutex> lk(m.mu);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveBytes", double(m.live_bytes));
  o.Set("cachedBytes", double(m.cached_bytes));
  o.Set("peakLiveBytes", double(m.peak_live));
  o.Set("allocs", double(m.allocs));
  o.Set("reuses", double(m.reuses));
  return o;
}

Napi::Value ReleaseCached(const Napi::CallbackInfo& info) {
  release_cached();
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("alloc", Napi::Function::New(env, Alloc));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("read", Napi::Function::New(env, Read));
  exports.Set("write", Napi::Function::New(env, Write));
  exports.Set("copyBytes", Napi::Function::New(env, CopyBytes));
  exports.Set("mapFile", Napi::Function::New(env, MapFile));
  exports.Set("unmap", Napi::Function::New(env, Unmap));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStats));
  exports.Set("releaseCached", Napi::Function::New(env, ReleaseCached));
}
RegisterFamily reg(Register);

}  // namespace
}  // namespace llava
