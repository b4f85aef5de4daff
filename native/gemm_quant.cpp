// The quantised GEMM, C = alpha A W^T + beta C with W's rows in ggml's block formats, computed the
// way llama.cpp does: each row of A quantised once per call to 8-bit blocks, then integer dot products.
//
// A becomes ActQ8 blocks (32 values, an f32 scale, their dequantised sum) for the 32-element formats
// and ActQ8K super-blocks (256 values, an f32 scale, sums per 16) for the K formats. A weight block
// times an activation block is an integer sum of products times both scales; the formats' offsets
// (Q4_1/Q5_1's m, the K mins, the zero points 8, 16 and 32) multiply A's block sums. The result is
// exactly the dot of the weights with A's dequantised rows: A's rounding (at most half its step,
// amax / 254, per element) is the only error beyond f32 sums.
//
// The instruction set is picked at run time: AVX-512 VNNI (vpdpbusd; 512-bit vectors for bands of
// several rows of A), AVX-VNNI, AVX2 (vpmaddubsw + vpmaddwd), else scalar code; LLAVA_QUANT_ISA or
// the addon's quantIsa() may ask for a lower one (tests run each). The vector kernels are
// gemm_quant_simd.inc (and gemm_quant_x8.inc for Q4_0X8), compiled once per set under its #pragma GCC target.
//
// Work split: the pool takes contiguous ranges of W's rows (C's columns). With one row of A, a task
// streams its rows in GEMV_STREAMS parts side by side (more reads in flight). With more, it walks
// tiles of W_TILE rows of W, each against every band of up to 4 rows of A, so a tile is read from
// memory once and from L1 after, and every row of a band shares each decoded block. Each element of
// C is one accumulator chain whose order depends on k alone: not on the thread count, the tiling, or m.
#include "quant.h"
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>
#include <immintrin.h>

namespace llava {
namespace {

// Rows of W per tile: read from memory once, then from L1 for each band of A.
constexpr int64_t W_TILE = 4;
// Streams through W of a product with one row of A (a decode step): a task's rows cut in this many
// parts walked side by side. Measured on Zen 5 (GEMV 11008x4096, medians of 60 interleaved calls),
// speed-up over one stream: q8_0 1.25x with 2, 1.4x with 4, 1.2x with 8; q4_0 1.4x with 4.
constexpr int GEMV_STREAMS = 4;
// How far ahead of its reads each stream of a decode step prefetches (bytes). Measured as above with
// 4 streams, against none: 1.2x (q8_0) and 1.25x (q4_0) at 1024, as much at 2048, 1.15x at 256.
constexpr int64_t GEMV_PREFETCH = 1024;
// Multiply-adds per pool task at least (fewer rows of W per task for a larger m).
constexpr double TASK_MACS = 1 << 18;
// Rows of A per task of the activation quantiser at least.
constexpr int64_t ACT_ROWS_GRAIN = 8;

// A's 32-value block: x ~ d q; s = d * sum(q), what Q4_1/Q5_1's m multiplies; zsum[l] = -z times the
// sum of q[4l .. 4l + 4) for the weight's zero point z (8 for Q4_0, 16 for Q5_0, else 0): the start
// of each 4-product lane of an integer dot with unsigned weights, which then sums q (w - z).
struct ActQ8 {
  float d;
  float s;
  int8_t q[QK];
  int32_t zsum[QK / 4];
};
// A's 256-value super-block (llama.cpp's Q8_K): x ~ d q; bsums[g] = sum of q over elements 16g ...
struct ActQ8K {
  float d;
  int16_t bsums[QK_K / 16];
  int8_t q[QK_K];
};

// One product, as every kernel sees it.
struct Job {
  DType wd;
  int64_t m, k;
  const uint8_t* w;
  int64_t row_bytes;
  const ActQ8* act32;  // (m, k / 32) for the 32-element formats
  const ActQ8K* actK;  // (m, k / 256) for the K formats
  const int64_t* x8base;  // (m, k / 32) for Q4_0X8: A's zero-point sums per half of a block's 8-byte steps
  float alpha, beta;
  float* c;
  int64_t ldc;
};

inline void store_c(const Job& job, int64_t i, int64_t j, float dot) {
  float* out = job.c + i * job.ldc + j;
  const float v = job.alpha * dot;
  *out = job.beta != 0.f ? v + job.beta * *out : v;
}

inline bool is_k_format(DType d) { return d == Q4_K || d == Q5_K || d == Q6_K; }

// ---- activation quantisers: x ~ d q with d = amax / 127, q = nearest(x / d) (ties to even) ----

inline int8_t quantize_value(float x, float id) { return int8_t(std::clamp(int(std::nearbyint(x * id)), -127, 127)); }

// The zero point of a 32-element format's unsigned quants (x = d (q - z)).
inline int zero_point(DType d) { return d == Q4_0 || d == Q4_0X8 ? 8 : d == Q5_0 ? 16 : 0; }

// As llama.cpp quantises activations (quantize_row_q8_0/q8_1/q8_K): id = 127 / amax, rounding to
// nearest even; the 32-element blocks keep their scale (and Q8_1's d * sum) in f16, Q8_K in f32.
// Same rounding as llama.cpp means the same products, so the two engines' logits stay close.
inline float f16_round(float x) { return f16_to_f32(f32_to_f16(x)); }

void quantize_act32(const float* x, ActQ8* out, int64_t nb, int zero) {
  for (int64_t b = 0; b < nb; b++, x += QK) {
    float amax = 0.f;
    for (int j = 0; j < QK; j++) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0.f ? 127.f / amax : 0.f;
    int sum = 0;
    for (int l = 0; l < QK / 4; l++) {
      int lane = 0;
      for (int j = 4 * l; j < 4 * l + 4; j++) lane += out[b].q[j] = quantize_value(x[j], id);
      out[b].zsum[l] = -zero * lane;
      sum += lane;
    }
    out[b].d = f16_round(d);
    out[b].s = f16_round(d * float(sum));
  }
}

void quantize_actK(const float* x, ActQ8K* out, int64_t nb) {
  for (int64_t b = 0; b < nb; b++, x += QK_K) {
    float amax = 0.f;
    for (int j = 0; j < QK_K; j++) amax = std::max(amax, std::fabs(x[j]));
    const float id = amax != 0.f ? 127.f / amax : 0.f;
    for (int g = 0; g < QK_K / 16; g++) {
      int sum = 0;
      for (int j = 16 * g; j < 16 * (g + 1); j++) sum += out[b].q[j] = quantize_value(x[j], id);
      out[b].bsums[g] = int16_t(sum);
    }
    out[b].d = amax != 0.f ? 1.f / id : 0.f;
  }
}

// ---- scalar kernels: any CPU; every weight block unpacked to integers first ----
namespace scalar {

// A 32-element weight block: x = d q + c (q signed for Q8_0, unsigned otherwise).
struct Unpacked32 {
  int q[QK];
  float d, c;
};

inline void fifth_bits(const uint8_t* qh, int* q) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  for (int j = 0; j < QK; j++) q[j] |= int((h >> j) & 1) << 4;
}
inline void nibbles(const uint8_t* qs, int* q) {
  for (int j = 0; j < QK / 2; j++) {
    q[j] = qs[j] & 0x0f;
    q[j + QK / 2] = qs[j] >> 4;
  }
}

void unpack32(DType f, const uint8_t* p, Unpacked32& u) {
  switch (f) {
    case Q8_0: {
      const auto* b = reinterpret_cast<const BlockQ8_0*>(p);
      for (int j = 0; j < QK; j++) u.q[j] = b->qs[j];
      u.d = f16_to_f32(b->d), u.c = 0.f;
      return;
    }
    case Q4_0: {
      const auto* b = reinterpret_cast<const BlockQ4_0*>(p);
      nibbles(b->qs, u.q);
      u.d = f16_to_f32(b->d), u.c = -8.f * u.d;
      return;
    }
    case Q4_1: {
      const auto* b = reinterpret_cast<const BlockQ4_1*>(p);
      nibbles(b->qs, u.q);
      u.d = f16_to_f32(b->d), u.c = f16_to_f32(b->m);
      return;
    }
    case Q5_0: {
      const auto* b = reinterpret_cast<const BlockQ5_0*>(p);
      nibbles(b->qs, u.q);
      fifth_bits(b->qh, u.q);
      u.d = f16_to_f32(b->d), u.c = -16.f * u.d;
      return;
    }
    default: {  // Q5_1
      const auto* b = reinterpret_cast<const BlockQ5_1*>(p);
      nibbles(b->qs, u.q);
      fifth_bits(b->qh, u.q);
      u.d = f16_to_f32(b->d), u.c = f16_to_f32(b->m);
      return;
    }
  }
}

// A K super-block: x = d sc[g] q - dm mn[g] for element e of group g = e / 16, q unsigned.
struct UnpackedK {
  int q[QK_K];
  int sc[QK_K / 16], mn[QK_K / 16];
  float d, dm;
};

void unpackK(DType f, const uint8_t* p, UnpackedK& u) {
  if (f == Q6_K) {
    const auto* b = reinterpret_cast<const BlockQ6_K*>(p);
    for (int h = 0; h < 2; h++)
      for (int l = 0; l < 32; l++) {
        const uint8_t lo0 = b->ql[64 * h + l], lo1 = b->ql[64 * h + l + 32], hi = b->qh[32 * h + l];
        int* q = u.q + 128 * h + l;
        q[0] = (lo0 & 0x0f) | ((hi & 3) << 4);
        q[32] = (lo1 & 0x0f) | (((hi >> 2) & 3) << 4);
        q[64] = (lo0 >> 4) | (((hi >> 4) & 3) << 4);
        q[96] = (lo1 >> 4) | (((hi >> 6) & 3) << 4);
      }
    for (int g = 0; g < QK_K / 16; g++) u.sc[g] = b->scales[g], u.mn[g] = 32 * b->scales[g];
    u.d = u.dm = f16_to_f32(b->d);
    return;
  }
  // Q4_K and Q5_K share the layout up to qs; Q5_K puts its fifth bits before.
  const auto* b = reinterpret_cast<const BlockQ4_K*>(p);
  const uint8_t* qs = f == Q5_K ? reinterpret_cast<const BlockQ5_K*>(p)->qs : b->qs;
  const uint8_t* qh = f == Q5_K ? reinterpret_cast<const BlockQ5_K*>(p)->qh : nullptr;
  for (int g = 0; g < 4; g++)
    for (int l = 0; l < 32; l++) {
      u.q[64 * g + l] = (qs[32 * g + l] & 0x0f) | (qh ? ((qh[l] >> (2 * g)) & 1) << 4 : 0);
      u.q[64 * g + 32 + l] = (qs[32 * g + l] >> 4) | (qh ? ((qh[l] >> (2 * g + 1)) & 1) << 4 : 0);
    }
  for (int j = 0; j < 8; j++) {
    uint8_t sc, m;
    scale_min_k4(b->scales, j, sc, m);
    u.sc[2 * j] = u.sc[2 * j + 1] = sc;
    u.mn[2 * j] = u.mn[2 * j + 1] = m;
  }
  u.d = f16_to_f32(b->d), u.dm = f16_to_f32(b->dmin);
}

float dot32(const Job& job, const uint8_t* w, const ActQ8* a) {
  const int64_t bytes = quant_block(job.wd).bytes;
  float acc = 0.f;
  Unpacked32 u;
  for (int64_t b = 0; b < job.k / QK; b++) {
    unpack32(job.wd, w + b * bytes, u);
    int sum = 0;
    for (int j = 0; j < QK; j++) sum += u.q[j] * a[b].q[j];
    acc += u.d * a[b].d * float(sum) + u.c * a[b].s;
  }
  return acc;
}

float dotK(const Job& job, const uint8_t* w, const ActQ8K* a) {
  const int64_t bytes = quant_block(job.wd).bytes;
  float acc = 0.f;
  UnpackedK u;
  for (int64_t b = 0; b < job.k / QK_K; b++) {
    unpackK(job.wd, w + b * bytes, u);
    int sum = 0, mins = 0;
    for (int g = 0; g < QK_K / 16; g++) {
      int s = 0;
      for (int j = 16 * g; j < 16 * (g + 1); j++) s += u.q[j] * a[b].q[j];
      sum += u.sc[g] * s;
      mins += u.mn[g] * a[b].bsums[g];
    }
    acc += u.d * a[b].d * float(sum) - u.dm * a[b].d * float(mins);
  }
  return acc;
}

void run_rows(const Job& job, int64_t j0, int64_t j1) {
  const bool kf = is_k_format(job.wd);
  for (int64_t j = j0; j < j1; j++) {
    const uint8_t* w = job.w + j * job.row_bytes;
    for (int64_t i = 0; i < job.m; i++) {
      const float dot = kf ? dotK(job, w, job.actK + i * (job.k / QK_K)) : dot32(job, w, job.act32 + i * (job.k / QK));
      store_c(job, i, j, dot);
    }
  }
}

// Element e of row r of a Q4_0X8 group (quant.h's layout), unsigned.
inline int x8_nibble(const uint8_t* group, int r, int e) {
  const uint8_t byte = group[x8_byte(r, e)];
  return e < 16 ? byte & 0x0f : byte >> 4;
}

// The vector kernels' sums element by element: an exact integer dot per block, then the same fma.
void run_x8(const Job& job, int64_t g0, int64_t g1) {
  const int64_t nb = job.k / QK;
  for (int64_t g = g0; g < g1; g++)
    for (int64_t i = 0; i < job.m; i++) {
      float acc[X8_ROWS] = {};
      for (int64_t b = 0; b < nb; b++) {
        const uint8_t* p = job.w + (g * nb + b) * X8_GROUP_BYTES;
        const ActQ8& a = job.act32[i * nb + b];
        for (int r = 0; r < X8_ROWS; r++) {
          int dot = 0;
          for (int e = 0; e < QK; e++) dot += (x8_nibble(p, r, e) - 8) * a.q[e];
          uint16_t d;
          std::memcpy(&d, p + 2 * r, 2);
          acc[r] = __builtin_fmaf(float(dot), f16_to_f32(d) * a.d, acc[r]);
        }
      }
      for (int r = 0; r < X8_ROWS; r++) store_c(job, i, g * X8_ROWS + r, acc[r]);
    }
}

}  // namespace scalar

// ---- vector kernels, one copy per instruction set ----

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace avx2 {
#include "gemm_quant_simd.inc"
#include "gemm_quant_x8.inc"
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avxvnni")
namespace avxvnni {
#define QUANT_DPBUSD _mm256_dpbusd_avx_epi32
#include "gemm_quant_simd.inc"
#include "gemm_quant_x8.inc"
#undef QUANT_DPBUSD
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
namespace avx512vnni {
#define QUANT_DPBUSD _mm256_dpbusd_epi32
#define QUANT_ZMM
#include "gemm_quant_simd.inc"
#include "gemm_quant_x8.inc"
#undef QUANT_ZMM
#undef QUANT_DPBUSD
}
#pragma GCC pop_options

// ---- instruction-set choice ----

enum Isa : int { SCALAR = 0, AVX2 = 1, AVXVNNI = 2, AVX512VNNI = 3 };
const char* const ISA_NAMES[] = {"scalar", "avx2", "avxvnni", "avx512vnni"};
using RowsFn = void (*)(const Job&, int64_t, int64_t);
const RowsFn ISA_KERNELS[] = {scalar::run_rows, avx2::run_rows, avxvnni::run_rows, avx512vnni::run_rows};
const RowsFn ISA_X8_KERNELS[] = {scalar::run_x8, avx2::run_x8, avxvnni::run_x8, avx512vnni::run_x8};

bool cpu_has(Isa isa) {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");  // F16C comes with them
  switch (isa) {
    case SCALAR: return true;
    case AVX2: return avx2;
    case AVXVNNI: return avx2 && __builtin_cpu_supports("avxvnni");
    case AVX512VNNI:
      return avx2 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  }
  return false;
}

Isa best_isa() {
  for (Isa isa : {AVX512VNNI, AVXVNNI, AVX2})
    if (cpu_has(isa)) return isa;
  return SCALAR;
}

int isa_of_name(const std::string& name) {
  for (int i = 0; i < 4; i++)
    if (name == ISA_NAMES[i]) return i;
  return -1;
}

// The best set the CPU has, or LLAVA_QUANT_ISA's choice when the CPU has that one.
Isa initial_isa() {
  const char* env = std::getenv("LLAVA_QUANT_ISA");
  const int asked = env ? isa_of_name(env) : -1;
  return asked >= 0 && cpu_has(Isa(asked)) ? Isa(asked) : best_isa();
}

Isa active_isa = initial_isa();

// The activation buffer, reused across calls (per thread: a worker thread may run its own products).
thread_local std::vector<uint8_t> act_buffer;
thread_local std::vector<int64_t> x8_bases;

// Q4_0X8's zero-point starts: per block of A, the sums of zsum over the even lanes (low 32 bits)
// and the odd ones (high 32 bits), i.e. -8 times A's bytes of each half of the 8-byte steps.
void x8_zero_sums(const Job& job) {
  const int64_t blocks = job.m * (job.k / QK);
  x8_bases.resize(size_t(blocks));
  for (int64_t b = 0; b < blocks; b++) {
    const int32_t* z = job.act32[b].zsum;
    const uint32_t lo = uint32_t(z[0] + z[2] + z[4] + z[6]), hi = uint32_t(z[1] + z[3] + z[5] + z[7]);
    x8_bases[size_t(b)] = int64_t((uint64_t(hi) << 32) | lo);
  }
}

// Quantises the m rows of A into act_buffer (ActQ8 or ActQ8K blocks, row after row).
void quantize_rows(const Job& job, const float* a, int64_t lda) {
  const bool kf = is_k_format(job.wd);
  const int64_t per_row = kf ? job.k / QK_K * int64_t(sizeof(ActQ8K)) : job.k / QK * int64_t(sizeof(ActQ8));
  act_buffer.resize(size_t(job.m * per_row));
  uint8_t* base = act_buffer.data();
  parallel_for(job.m, ACT_ROWS_GRAIN, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; i++) {
      uint8_t* row = base + i * per_row;
      if (kf)
        quantize_actK(a + i * lda, reinterpret_cast<ActQ8K*>(row), job.k / QK_K);
      else
        quantize_act32(a + i * lda, reinterpret_cast<ActQ8*>(row), job.k / QK, zero_point(job.wd));
    }
  });
}

// C = beta C when there is nothing to multiply (k = 0).
void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta != 0.f ? beta * c[i * ldc + j] : 0.f;
}

// quantIsa(name?): the instruction set of the quantised kernels; with a name ('scalar', 'avx2',
// 'avxvnni', 'avx512vnni') switches to it first (the CPU must have it). Returns the name and the
// list of sets this CPU has.
Napi::Value QuantIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() > 0 && info[0].IsString()) {
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    const int isa = isa_of_name(name);
    if (isa < 0 || !cpu_has(Isa(isa))) {
      fail(env, ("quantIsa: '" + name + "' is not an instruction set this CPU has").c_str());
      return env.Undefined();
    }
    active_isa = Isa(isa);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("active", ISA_NAMES[active_isa]);
  Napi::Array available = Napi::Array::New(env);
  for (int i = 0, n = 0; i < 4; i++)
    if (cpu_has(Isa(i))) available.Set(uint32_t(n++), ISA_NAMES[i]);
  o.Set("available", available);
  return o;
}

// repackQ4_0x8(src, dst, n, k): n Q4_0 rows of k values to Q4_0X8 (n a multiple of 8).
Napi::Value RepackQ4_0x8(const Napi::CallbackInfo& info) {
  const int64_t n = i64(info, 2), k = i64(info, 3);
  if (n % X8_ROWS != 0 || k % QK != 0) {
    fail(info.Env(), "repackQ4_0x8: rows must be a multiple of 8 and columns of 32");
    return info.Env().Undefined();
  }
  repack_q4_0x8(ptr<uint8_t>(info, 0), ptr<uint8_t>(info, 1), n, k);
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("quantIsa", Napi::Function::New(env, QuantIsa));
  exports.Set("repackQ4_0x8", Napi::Function::New(env, RepackQ4_0x8));
}
RegisterFamily reg(Register);

}  // namespace

void gemm_quant(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const void* w, DType wd,
                float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_c(m, n, beta, c, ldc);
  Job job{wd, m, k, static_cast<const uint8_t*>(w), quant_row_bytes(wd, k), nullptr, nullptr, nullptr, alpha, beta, c, ldc};
  quantize_rows(job, a, lda);
  job.act32 = reinterpret_cast<const ActQ8*>(act_buffer.data());
  job.actK = reinterpret_cast<const ActQ8K*>(act_buffer.data());
  if (wd == Q4_0X8) {
    x8_zero_sums(job);
    job.x8base = x8_bases.data();
    const RowsFn run = ISA_X8_KERNELS[active_isa];
    const int64_t groups = n / X8_ROWS;
    const int64_t grain = std::clamp<int64_t>(int64_t(TASK_MACS / (double(m) * double(k) * X8_ROWS)), 1, groups);
    parallel_for(groups, grain, [&](int64_t g0, int64_t g1, int) { run(job, g0, g1); });
    return;
  }
  const RowsFn run = ISA_KERNELS[active_isa];
  const int64_t grain = std::clamp<int64_t>(int64_t(TASK_MACS / (double(m) * double(k))), 1, n);
  parallel_for(n, grain, [&](int64_t j0, int64_t j1, int) { run(job, j0, j1); });
}

void repack_q4_0x8(const uint8_t* src, uint8_t* dst, int64_t n, int64_t k) {
  const int64_t nb = k / QK;
  parallel_for(n / X8_ROWS, 16, [&](int64_t g0, int64_t g1, int) {
    for (int64_t g = g0; g < g1; g++)
      for (int64_t b = 0; b < nb; b++) {
        uint8_t* out = dst + (g * nb + b) * X8_GROUP_BYTES;
        std::memset(out + 16, 0, X8_GROUP_BYTES - 16);
        for (int r = 0; r < X8_ROWS; r++) {
          const auto* blk = reinterpret_cast<const BlockQ4_0*>(src + ((g * X8_ROWS + r) * nb + b) * int64_t(sizeof(BlockQ4_0)));
          std::memcpy(out + 2 * r, &blk->d, 2);
          int q[QK];
          scalar::nibbles(blk->qs, q);
          for (int e = 0; e < QK; e++) out[x8_byte(r, e)] |= uint8_t(e < 16 ? q[e] : q[e] << 4);
        }
      }
  });
}

}  // namespace llava
