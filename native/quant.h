// ggml's block formats for quantised weights (ggml-common.h's layouts): block structs and sizes,
// row dequantisation and the reference quantisers, shared by the quantised GEMM, embedding and cast.
#pragma once
#include "common.h"

namespace llava {

constexpr int QK = 32;     // elements per block of the 32-element formats (Q4_0 ... Q8_0)
constexpr int QK_K = 256;  // elements per super-block of the K formats

#pragma pack(push, 1)
struct BlockQ4_0 { uint16_t d; uint8_t qs[QK / 2]; };                         // x = (q - 8) d
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[QK / 2]; };                      // x = q d + m
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; };          // x = (q5 - 16) d
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; };       // x = q5 d + m
struct BlockQ8_0 { uint16_t d; int8_t qs[QK]; };                              // x = q d
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
struct BlockQ6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; };
#pragma pack(pop)
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24, "ggml block sizes");
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210, "ggml block sizes");

inline bool is_quant(int64_t code) { return code >= Q4_0 && code <= Q4_0X8; }

// Q4_0X8: the blocks of 8 consecutive rows of a Q4_0 weight interleaved, so the GEMM's vector lanes
// are rows (llama.cpp repacks Q4_0 likewise at load). Rows 8g .. 8g + 7, block b (elements 32b ..)
// are one 144-byte group at (g * nb + b) * 144: the 8 f16 scales, then two 64-byte halves X0, X1.
// Byte 4L + j of X_t (lane L = 2r + h, row r, half h) holds element 8t + 4h + j of row r in its low
// nibble and element 16 + 8t + 4h + j in its high one. Only the GEMM reads it (n a multiple of 8).
constexpr int X8_ROWS = 8;
constexpr int64_t X8_GROUP_BYTES = 144;
// The byte of a Q4_0X8 group holding element e (0 .. 31) of row r; e < 16 in its low nibble.
constexpr int x8_byte(int r, int e) { return 16 + 64 * ((e & 15) >> 3) + 4 * (2 * r + ((e & 7) >> 2)) + (e & 3); }
// Q4_0 rows (n of them, a multiple of 8, k values each) to Q4_0X8.
void repack_q4_0x8(const uint8_t* src, uint8_t* dst, int64_t n, int64_t k);

// Elements and bytes of one block of a quantised dtype.
struct QuantBlock {
  int64_t elems, bytes;
};
constexpr QuantBlock quant_block(DType d) {
  switch (d) {
    case Q4_0: return {QK, sizeof(BlockQ4_0)};
    case Q4_0X8: return {QK, sizeof(BlockQ4_0)};
    case Q4_1: return {QK, sizeof(BlockQ4_1)};
    case Q5_0: return {QK, sizeof(BlockQ5_0)};
    case Q5_1: return {QK, sizeof(BlockQ5_1)};
    case Q8_0: return {QK, sizeof(BlockQ8_0)};
    case Q4_K: return {QK_K, sizeof(BlockQ4_K)};
    case Q5_K: return {QK_K, sizeof(BlockQ5_K)};
    case Q6_K: return {QK_K, sizeof(BlockQ6_K)};
    default: return {1, 0};
  }
}
// Bytes of k values (whole blocks) of a quantised dtype: one row of a weight.
constexpr int64_t quant_row_bytes(DType d, int64_t k) {
  const QuantBlock b = quant_block(d);
  return k / b.elems * b.bytes;
}

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block (its 12 packed bytes).
inline void scale_min_k4(const uint8_t* q, int j, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// k values (whole blocks) of `src` as f32, bit for bit what src/gguf/dequantize.ts gives.
void dequantize_row(DType d, const uint8_t* src, float* dst, int64_t k);

// k f32 values (whole blocks) as blocks of d with ggml's quantize_row_*_ref rounding, byte for
// byte what src/gguf/quantize.ts writes. Q8_0, Q4_0 and Q4_1 only: false for the others.
bool quantize_row(DType d, const float* src, uint8_t* dst, int64_t k);

// The quantised GEMM (gemm_quant.cpp): C (m, n) = alpha * A (m, k) @ W^T + beta * C, A f32 with
// row stride lda, W (n, k) rows of blocks (k whole blocks, row after row), on the pool.
void gemm_quant(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const void* w, DType wd,
                float beta, float* c, int64_t ldc);

}  // namespace llava
