// GEMM entry points: picks the engine (OpenBLAS for f32 B when present, the quantised kernel for
// a B in block formats, else the built-in kernel) and exports the batched matmul, gemmInfo and
// setBlasDisabled to JavaScript.
#include "gemm.h"
#include "quant.h"
#include <algorithm>
#include <string>

namespace llava {

namespace {

// Batch items at most this many multiply-adds each run one per pool task (gemm_serial)
// instead of one after another with the pool inside each: attention heads, small MLPs.
constexpr double SMALL_ITEM_MACS = 1 << 22;

size_t b_itemsize(DType d) { return d == F32 ? 4 : 2; }

struct BatchedGemm {
  int64_t batch, m, n, k;
  const float* a;
  bool transA;
  int64_t lda, strideA;
  const char* b;  // bytes: B may be 2-byte elements
  DType bdtype;
  bool transB;
  int64_t ldb, strideB;
  float* c;
  int64_t ldc, strideC;
  float alpha, beta;

  const void* b_item(int64_t i) const { return b + size_t(i * strideB) * b_itemsize(bdtype); }
};

// A quantised B must be a weight W (n, k) of whole-block rows read transposed by a plain A, one for
// the batch: the checks of src/backend/reference/matmul.ts, repeated so no call reads out of bounds.
const char* quantised_b_error(const BatchedGemm& g) {
  if (!g.transB) return "matmul: a quantised B must be read transposed (a weight W (n, k))";
  if (g.transA) return "matmul: a quantised B needs A not transposed";
  if (g.k % quant_block(g.bdtype).elems != 0) return "matmul: k is not a multiple of the quantised B's block";
  if (g.n > 1 && g.ldb != g.k) return "matmul: a quantised B's rows must be contiguous (ldb = k)";
  if (g.batch > 1 && g.strideB != 0) return "matmul: a quantised B serves the whole batch (strideB 0)";
  if (g.bdtype == Q4_0X8 && g.n % X8_ROWS != 0) return "matmul: a q4_0x8 B has a multiple of 8 rows";
  return nullptr;
}

// Decodes matmul's 18 positional arguments (the order of MatmulParams in types.ts).
bool decode(const Napi::CallbackInfo& info, BatchedGemm& g) {
  constexpr size_t ARGS = 18;
  if (info.Length() < ARGS) {
    fail(info.Env(), "matmul: expected 18 arguments");
    return false;
  }
  g.batch = i64(info, 0);
  g.m = i64(info, 1);
  g.n = i64(info, 2);
  g.k = i64(info, 3);
  g.a = ptr<const float>(info, 4);
  g.transA = info[5].ToBoolean().Value();
  g.lda = i64(info, 6);
  g.strideA = i64(info, 7);
  g.b = ptr<const char>(info, 8);
  int64_t code = i64(info, 9);
  g.transB = info[10].ToBoolean().Value();
  g.ldb = i64(info, 11);
  g.strideB = i64(info, 12);
  g.c = ptr<float>(info, 13);
  g.ldc = i64(info, 14);
  g.strideC = i64(info, 15);
  g.alpha = float(f64(info, 16));
  g.beta = float(f64(info, 17));
  if (code != F32 && code != BF16 && code != F16 && !is_quant(code)) {
    fail(info.Env(), "matmul: B dtype must be f32, bf16, f16 or quantised");
    return false;
  }
  g.bdtype = DType(code);
  if (g.batch < 0 || g.m < 0 || g.n < 0 || g.k < 0) {
    fail(info.Env(), "matmul: negative size");
    return false;
  }
  const char* bad = is_quant(code) ? quantised_b_error(g) : nullptr;
  if (bad) fail(info.Env(), bad);
  return bad == nullptr;
}

void run_item_serial(const BatchedGemm& g, int64_t i) {
  gemm_serial(g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.a + i * g.strideA, g.lda, g.b_item(i), g.bdtype, g.ldb,
              g.beta, g.c + i * g.strideC, g.ldc);
}

void run_batched(const BatchedGemm& g) {
  double macs = double(g.m) * double(g.n) * double(g.k);
  // C items must not overlap for items to run side by side (strideC 0 accumulates into one C).
  bool independent = g.m == 0 || g.n == 0 || g.strideC >= (g.m - 1) * g.ldc + g.n;
  // Quantised items share one activation buffer: they run one after another, each on the pool.
  if (g.batch > 1 && macs <= SMALL_ITEM_MACS && independent && pool_threads() > 1 && !is_quant(g.bdtype)) {
    parallel_for(g.batch, 1, [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; i++) run_item_serial(g, i);
    });
    return;
  }
  for (int64_t i = 0; i < g.batch; i++)
    gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.a + i * g.strideA, g.lda, g.b_item(i), g.bdtype, g.ldb, g.beta,
         g.c + i * g.strideC, g.ldc);
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  BatchedGemm g;
  if (decode(info, g)) run_batched(g);
  return info.Env().Undefined();
}

// The single-threaded built-in kernel over the batch, for tests of gemm_serial.
Napi::Value MatmulSerial(const Napi::CallbackInfo& info) {
  BatchedGemm g;
  if (!decode(info, g)) return info.Env().Undefined();
  if (is_quant(g.bdtype)) {
    fail(info.Env(), "matmulSerial: a quantised B runs through matmul only");
    return info.Env().Undefined();
  }
  for (int64_t i = 0; i < g.batch; i++) run_item_serial(g, i);
  return info.Env().Undefined();
}

Napi::Value GemmInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  bool blas = blas_active();
  o.Set("engine", blas ? "openblas" : "builtin");
  if (blas_library()) o.Set("library", blas_library());
  if (blas_core()) o.Set("core", blas_core());
  o.Set("threads", double(pool_threads()));
  return o;
}

Napi::Value SetBlasDisabled(const Napi::CallbackInfo& info) {
  if (info.Length() == 0 || info[0].IsUndefined()) blas_restore_default();
  else blas_set_disabled(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Matmul));
  exports.Set("matmulSerial", Napi::Function::New(env, MatmulSerial));
  exports.Set("gemmInfo", Napi::Function::New(env, GemmInfo));
  exports.Set("setBlasDisabled", Napi::Function::New(env, SetBlasDisabled));
}

RegisterFamily registered(Register);

}  // namespace

void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const void* b, DType bdtype, int64_t ldb, float beta, float* c, int64_t ldc) {
  // Block formats: A's rows quantised to 8 bits, integer dots (decode's checks hold: transB, ldb = k).
  if (is_quant(bdtype)) return gemm_quant(m, n, k, alpha, a, lda, b, bdtype, beta, c, ldc);
  // OpenBLAS has no bf16/f16 GEMM: those always take the built-in kernel, which widens while
  // packing. Few rows or columns do too: OpenBLAS sgemm measured 2-8x slower there, and a
  // decode batch of up to GEMM_DOT_M rows streams the weight rather than packing it.
  if (bdtype == F32 && !gemm_streams_b(m, transB) && n > GEMM_SMALL_M && blas_sgemm(transA, transB, m, n, k, alpha, a, lda, static_cast<const float*>(b), ldb, beta, c, ldc))
    return;
  gemm_builtin(transA, transB, m, n, k, alpha, a, lda, b, bdtype, ldb, beta, c, ldc);
}

}  // namespace llava
