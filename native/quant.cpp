// Row dequantisation of every block format and the reference quantisers (f32 -> Q8_0, Q4_0, Q4_1),
// twins of src/gguf/dequantize.ts and quantize.ts bit for bit; exports `quantize` to JavaScript.
#include "quant.h"
#include <algorithm>
#include <cmath>

namespace llava {
namespace {

// Blocks per pool task of the quantiser (each block is independent, so any split gives the same bytes).
constexpr int64_t kQuantizeGrain = 1024;

inline float f16(uint16_t h) { return f16_to_f32(h); }

// The value rounded to f32 as it stands: stops the compiler fusing it into a following add (an
// FMA rounds once where ggml's reference, and its TypeScript twin, round twice).
inline float rounded(float v) {
  __asm__("" : "+v"(v));
  return v;
}

// ---- dequantisation: each value computed in double, as the TypeScript reference does, then
// rounded once to f32 (every product here is exact in double, so contraction cannot change it) ----

void dequant_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    const double d = f16(b[i].d);
    for (int j = 0; j < QK / 2; j++) {
      y[j] = float(((b[i].qs[j] & 0x0f) - 8) * d);
      y[j + QK / 2] = float(((b[i].qs[j] >> 4) - 8) * d);
    }
  }
}

void dequant_q4_1(const BlockQ4_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    const double d = f16(b[i].d), m = f16(b[i].m);
    for (int j = 0; j < QK / 2; j++) {
      y[j] = float((b[i].qs[j] & 0x0f) * d + m);
      y[j + QK / 2] = float((b[i].qs[j] >> 4) * d + m);
    }
  }
}

// Bit j of a Q5 block's qh, as the fifth bit (16) of element j.
inline int fifth_bit(const uint8_t* qh, int j) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  return ((h >> j) & 1) << 4;
}

void dequant_q5_0(const BlockQ5_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    const double d = f16(b[i].d);
    for (int j = 0; j < QK / 2; j++) {
      y[j] = float((((b[i].qs[j] & 0x0f) | fifth_bit(b[i].qh, j)) - 16) * d);
      y[j + QK / 2] = float((((b[i].qs[j] >> 4) | fifth_bit(b[i].qh, j + QK / 2)) - 16) * d);
    }
  }
}

void dequant_q5_1(const BlockQ5_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    const double d = f16(b[i].d), m = f16(b[i].m);
    for (int j = 0; j < QK / 2; j++) {
      y[j] = float(((b[i].qs[j] & 0x0f) | fifth_bit(b[i].qh, j)) * d + m);
      y[j + QK / 2] = float(((b[i].qs[j] >> 4) | fifth_bit(b[i].qh, j + QK / 2)) * d + m);
    }
  }
}

void dequant_q8_0(const BlockQ8_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    const double d = f16(b[i].d);
    for (int j = 0; j < QK; j++) y[j] = float(b[i].qs[j] * d);
  }
}

// Q4_K and Q5_K: group g of 64 takes the low nibbles of qs[32g ..] (sub-block 2g), then the high
// ones (2g + 1); Q5_K's fifth bits: bit 2g of qh[l] for element 64g + l, bit 2g + 1 for 64g + 32 + l.
template <typename Block, bool kFifth>
void dequant_k4(const Block* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK_K) {
    const double d = f16(b[i].d), dmin = f16(b[i].dmin);
    for (int g = 0; g < 4; g++) {
      uint8_t s0, m0, s1, m1;
      scale_min_k4(b[i].scales, 2 * g, s0, m0);
      scale_min_k4(b[i].scales, 2 * g + 1, s1, m1);
      for (int l = 0; l < 32; l++) {
        const int q = b[i].qs[32 * g + l];
        int h0 = 0, h1 = 0;
        if constexpr (kFifth) {
          const int h = b[i].qh[l];
          h0 = ((h >> (2 * g)) & 1) << 4;
          h1 = ((h >> (2 * g + 1)) & 1) << 4;
        }
        y[64 * g + l] = float(d * s0 * ((q & 0x0f) + h0) - dmin * m0);
        y[64 * g + 32 + l] = float(d * s1 * ((q >> 4) + h1) - dmin * m1);
      }
    }
  }
}

// Q6_K: half h of 128 reads ql[64h ..], qh[32h ..]; element 128h + 32t + l has scale 8h + 2t + l / 16.
void dequant_q6_k(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK_K) {
    const double d = f16(b[i].d);
    for (int h = 0; h < 2; h++) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      float* out = y + 128 * h;
      for (int l = 0; l < 32; l++) {
        const int is = l >> 4;
        out[l] = float(d * sc[is] * (((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32));
        out[l + 32] = float(d * sc[is + 2] * (((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32));
        out[l + 64] = float(d * sc[is + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32));
        out[l + 96] = float(d * sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32));
      }
    }
  }
}

// ---- quantisers: ggml's quantize_row_*_ref, every step rounded to f32 ----

// Q8_0: d = max|x| / 127, q = roundf(x / d).
void quant_q8_0(const float* x, BlockQ8_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK) {
    float amax = 0.f;
    for (int j = 0; j < QK; j++) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < QK; j++) b[i].qs[j] = int8_t(int(std::roundf(x[j] * id)));
  }
}

// Q4_0: d = (the value of largest magnitude, first on ties) / -8, q = min(15, trunc(x / d + 8.5)).
void quant_q4_0(const float* x, BlockQ4_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK) {
    float amax = 0.f, max = 0.f;
    for (int j = 0; j < QK; j++) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < QK / 2; j++) {
      const int lo = std::min(15, int(int8_t(rounded(x[j] * id) + 8.5f)));
      const int hi = std::min(15, int(int8_t(rounded(x[j + QK / 2] * id) + 8.5f)));
      b[i].qs[j] = uint8_t(lo | (hi << 4));
    }
  }
}

// Q4_1: m = min, d = (max - min) / 15, q = min(15, trunc((x - m) / d + 0.5)).
void quant_q4_1(const float* x, BlockQ4_1* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK) {
    float min = INFINITY, max = -INFINITY;
    for (int j = 0; j < QK; j++) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / 15.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    b[i].d = f32_to_f16(d);
    b[i].m = f32_to_f16(min);
    for (int j = 0; j < QK / 2; j++) {
      const int lo = std::min(15, int(int8_t(rounded((x[j] - min) * id) + 0.5f)));
      const int hi = std::min(15, int(int8_t(rounded((x[j + QK / 2] - min) * id) + 0.5f)));
      b[i].qs[j] = uint8_t(lo | (hi << 4));
    }
  }
}

// quantize(n, src, dst, dtypeCode): n f32 (whole blocks) -> blocks, split over the pool by block.
Napi::Value Quantize(const Napi::CallbackInfo& info) {
  const int64_t n = i64(info, 0);
  const float* src = ptr<const float>(info, 1);
  uint8_t* dst = ptr<uint8_t>(info, 2);
  const int64_t code = i64(info, 3);
  if (code != Q8_0 && code != Q4_0 && code != Q4_1) {
    fail(info.Env(), "quantize: the native quantiser writes q8_0, q4_0 and q4_1 only");
    return info.Env().Undefined();
  }
  const DType d = DType(code);
  const QuantBlock blk = quant_block(d);
  if (n < 0 || n % blk.elems != 0) {
    fail(info.Env(), ("quantize: " + std::to_string(n) + " values do not fill whole blocks of " + std::to_string(blk.elems)).c_str());
    return info.Env().Undefined();
  }
  parallel_for(n / blk.elems, kQuantizeGrain, [&](int64_t b0, int64_t b1, int) {
    quantize_row(d, src + b0 * blk.elems, dst + b0 * blk.bytes, (b1 - b0) * blk.elems);
  });
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) { exports.Set("quantize", Napi::Function::New(env, Quantize)); }
RegisterFamily reg(Register);

}  // namespace

void dequantize_row(DType d, const uint8_t* src, float* y, int64_t k) {
  const int64_t nb = k / quant_block(d).elems;
  switch (d) {
    case Q4_0: return dequant_q4_0(reinterpret_cast<const BlockQ4_0*>(src), y, nb);
    case Q4_1: return dequant_q4_1(reinterpret_cast<const BlockQ4_1*>(src), y, nb);
    case Q5_0: return dequant_q5_0(reinterpret_cast<const BlockQ5_0*>(src), y, nb);
    case Q5_1: return dequant_q5_1(reinterpret_cast<const BlockQ5_1*>(src), y, nb);
    case Q8_0: return dequant_q8_0(reinterpret_cast<const BlockQ8_0*>(src), y, nb);
    case Q4_K: return dequant_k4<BlockQ4_K, false>(reinterpret_cast<const BlockQ4_K*>(src), y, nb);
    case Q5_K: return dequant_k4<BlockQ5_K, true>(reinterpret_cast<const BlockQ5_K*>(src), y, nb);
    case Q6_K: return dequant_q6_k(reinterpret_cast<const BlockQ6_K*>(src), y, nb);
    default: return;  // not a block format: callers check is_quant first
  }
}

bool quantize_row(DType d, const float* x, uint8_t* dst, int64_t k) {
  const int64_t nb = k / QK;
  switch (d) {
    case Q8_0: quant_q8_0(x, reinterpret_cast<BlockQ8_0*>(dst), nb); return true;
    case Q4_0: quant_q4_0(x, reinterpret_cast<BlockQ4_0*>(dst), nb); return true;
    case Q4_1: quant_q4_1(x, reinterpret_cast<BlockQ4_1*>(dst), nb); return true;
    default: return false;
  }
}

}  // namespace llava
