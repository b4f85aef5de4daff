// OpenBLAS as an optional GEMM engine, found with dlopen at run time.
// No link-time dependency: the addon builds and runs where OpenBLAS is absent.
#include "gemm.h"
#include <dlfcn.h>
#include <link.h>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <mutex>
#include "openblas_paths.h"

namespace llava {
namespace {

// cblas.h enum values, spelled out so no header is needed.
constexpr int CBLAS_ROW_MAJOR = 101;
constexpr int CBLAS_NO_TRANS = 111;
constexpr int CBLAS_TRANS = 112;

using SgemmFn = void (*)(int order, int transA, int transB, int m, int n, int k, float alpha, const float* a, int lda,
                         const float* b, int ldb, float beta, float* c, int ldc);
using SetThreadsFn = void (*)(int n);
using CoreNameFn = char* (*)();


// OpenBLAS workers spin for 2^timeout cycles after each call before they sleep; the
// default (2^28, ~0.1 s) keeps one spinning through the pool kernels that follow and
// halved their speed on 2 cores (measured: built-in GEMM after an OpenBLAS call 95 vs
// 190 GFLOP/s). 2^18 (~0.1 ms) kept both at full speed. Read when the library loads.
constexpr const char* BLAS_THREAD_TIMEOUT = "18";

struct Blas {
  const char* path = nullptr;
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_threads = nullptr;
  const char* core = nullptr;  // the kernel set OpenBLAS runs ("SkylakeX"), when it says
  int threads_set = 0;  // thread count last passed to OpenBLAS (0: never)
  bool disabled = false;
};

// The file a handle came from (symlinks resolved, so Debian's alternatives show the real
// variant), or the name it was opened by. Kept for the life of the process.
const char* resolved_path(void* lib, const char* opened_as) {
  link_map* map = nullptr;
  if (dlinfo(lib, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && map->l_name[0]) {
    if (char* real = realpath(map->l_name, nullptr)) return real;
    return strdup(map->l_name);
  }
  return opened_as;
}

bool env_is(const char* const* values) {
  const char* e = std::getenv("LLAVA_BLAS");
  if (!e) return false;
  for (; *values; values++)
    if (std::strcmp(e, *values) == 0) return true;
  return false;
}

const char* const OFF_VALUES[] = {"off", "0", "false", nullptr};
const char* const ON_VALUES[] = {"on", "1", "true", nullptr};

bool env_disables_blas() { return env_is(OFF_VALUES); }

// Which engine runs f32 GEMMs unless told: LLAVA_BLAS=off the built-in one, LLAVA_BLAS=on
// OpenBLAS when found, otherwise (auto) OpenBLAS only where the built-in kernel was built
// without AVX-512. With AVX-512 the built-in GEMM is as fast as OpenBLAS's best kernel or
// faster (310 against 313 GFLOP/s on 1024^3, and 185 for the AVX2 kernel an environment's
// OPENBLAS_CORETYPE=Haswell pins; a demo stage 2 took 30.9 s against 49.8 s with that pin,
// `llava bench kernels`, Zen 5, 2 threads), and its blocking is fixed at compile time, so a
// run gives the same floats on every AVX-512 machine, OpenBLAS installed or not.
bool default_disabled() {
  if (env_disables_blas()) return true;
  if (env_is(ON_VALUES)) return false;
#if defined(__AVX512F__)
  return true;
#else
  return false;
#endif
}

Blas& blas() {
  static Blas b;
  static std::once_flag once;
  std::call_once(once, [] {
    b.disabled = default_disabled();
    if (!std::getenv("OPENBLAS_THREAD_TIMEOUT") && !std::getenv("GOTO_THREAD_TIMEOUT"))
      setenv("OPENBLAS_THREAD_TIMEOUT", BLAS_THREAD_TIMEOUT, 0);
    llava_pin_openblas_coretype();
    for (const char* path : OPENBLAS_CANDIDATES) {
      void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
      if (!lib) continue;
      auto sgemm = reinterpret_cast<SgemmFn>(dlsym(lib, "cblas_sgemm"));
      if (!sgemm) {  // a reference BLAS without CBLAS: keep looking
        dlclose(lib);
        continue;
      }
      b.path = resolved_path(lib, path);
      b.sgemm = sgemm;
      b.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(lib, "openblas_set_num_threads"));
      if (auto core = reinterpret_cast<CoreNameFn>(dlsym(lib, "openblas_get_corename"))) b.core = strdup(core());
      break;
    }
  });
  return b;
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

}  // namespace

const char* blas_library() { return blas().path; }

const char* blas_core() { return blas().core; }

bool blas_active() {
  Blas& b = blas();
  return b.sgemm && !b.disabled;
}

void blas_set_disabled(bool disabled) { blas().disabled = disabled || env_disables_blas(); }

void blas_restore_default() { blas().disabled = default_disabled(); }

bool blas_sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  Blas& bl = blas();
  if (!bl.sgemm || bl.disabled) return false;
  // BLAS rejects (and prints about) leading dimensions below max(1, width).
  int64_t min_lda = transA ? m : k, min_ldb = transB ? k : n;
  if (lda < min_lda || lda < 1 || ldb < min_ldb || ldb < 1 || ldc < n || ldc < 1) return false;
  if (!fits_int(m) || !fits_int(n) || !fits_int(k) || !fits_int(lda) || !fits_int(ldb) || !fits_int(ldc)) return false;
  int threads = pool_threads();
  if (bl.set_threads && bl.threads_set != threads) {
    bl.set_threads(threads);
    bl.threads_set = threads;
  }
  bl.sgemm(CBLAS_ROW_MAJOR, transA ? CBLAS_TRANS : CBLAS_NO_TRANS, transB ? CBLAS_TRANS : CBLAS_NO_TRANS, int(m), int(n),
           int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
  return true;
}

}  // namespace llava
