// Fused scaled-dot-product attention over strided (B, H, T, D) f32 views, forward and backward:
// causal with a KV-cache offset, (B, Tk) key padding mask, grouped-query heads, lse saved for backward.
//
// Letters: B batch, Hq query heads, Hkv key/value heads (Hq = G * Hkv), Tq queries, Tk keys,
// D head dim, BQ query rows per block. q, out, dout, dq: (B, Hq, Tq, D); k, v, dk, dv:
// (B, Hkv, Tk, D); lse (B, Hq, Tq). Query i sits at absolute position Tk - Tq + i.
//
// Work is cut into blocks of BQ query rows; each block computes its scores S (BQ, Tk') with the
// serial built-in GEMM (gemm_serial, straight on the strided views), where Tk' stops at the last
// key any row of the block may see (causal blocks skip the hidden upper triangle). The forward runs blocks of every
// (b, hq) in parallel; the backward runs one task per (b, hkv) so dk/dv for a kv head are owned
// (summed over its G query heads without races, in a fixed order).
#include "common.h"
#include "heads.h"
#include "fused_math.h"
#include "gemm.h"
#include "gemm_vec.h"
#include <algorithm>

namespace llava {
namespace {

using namespace fused;

constexpr int64_t kBlockQ = 64;  // BQ: query rows per block (scores stay in L2)

// C (m, n) = alpha op(A) op(B) + beta C with the single-threaded built-in GEMM (safe inside pool tasks).
void mm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
        const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, F32, ldb, beta, c, ldc);
}

// ---- arguments ----

// Decoded from attention(shape, scale, q, k, v, out[, dout, dq, dk, dv]) where
// shape = [batch, headsQ, headsKV, tq, tk, headDim, causal, keyMask, lse] and each layout is
// [ptr, strideB, strideH, strideT].
struct Attn {
  int64_t batch, hq, hkv, tq, tk, d;
  bool causal;
  const float* key_mask;
  float* lse;
  float scale;
  Heads q, k, v, out;
  Heads dout{}, dq{}, dk{}, dv{};

  int64_t group() const { return hq / hkv; }
  int64_t blocks() const { return (tq + kBlockQ - 1) / kBlockQ; }
  // Keys visible to query row i: all, or those at positions <= tk - tq + i (clamped to [0, tk]).
  int64_t visible(int64_t i) const { return causal ? std::clamp<int64_t>(tk - tq + i + 1, 0, tk) : tk; }
  float* lse_row(int64_t b, int64_t h) const { return lse + (b * hq + h) * tq; }
};

Attn attn_args(const Napi::CallbackInfo& info, bool backward) {
  const std::vector<int64_t> s = ints(info, 0);
  Attn a{s[0], s[1], s[2], s[3], s[4], s[5], s[6] != 0,
         reinterpret_cast<const float*>(static_cast<uintptr_t>(s[7])),
         reinterpret_cast<float*>(static_cast<uintptr_t>(s[8])), float(f64(info, 1)), heads_arg(info, 2),
         heads_arg(info, 3), heads_arg(info, 4), heads_arg(info, 5)};
  if (backward) {
    a.dout = heads_arg(info, 6);
    a.dq = heads_arg(info, 7);
    a.dk = heads_arg(info, 8);
    a.dv = heads_arg(info, 9);
  }
  return a;
}

// ---- scores, shared by forward and backward ----

// S (rows, kend) = scale * Q_block @ K^T, then -inf where a key is hidden
// (past the causal limit or padded out by the key mask).
void masked_scores(const Attn& a, int64_t b, int64_t h, int64_t i0, int64_t rows, int64_t kend, float* s,
                   int64_t lds) {
  mm(false, true, rows, kend, a.d, a.scale, a.q.row(b, h, i0), a.q.st, a.k.row(b, h / a.group(), 0), a.k.st, 0.0f, s,
     lds);
  const float* mask = a.key_mask ? a.key_mask + b * a.tk : nullptr;
  for (int64_t r = 0; r < rows; r++) {
    float* sr = s + r * lds;
    const int64_t vis = a.visible(i0 + r);
    if (mask)
      for (int64_t j = 0; j < vis; j++) sr[j] = mask[j] != 0.0f ? sr[j] : kNegInf;
    for (int64_t j = vis; j < kend; j++) sr[j] = kNegInf;
  }
}

// ---- forward ----

// Turns one score row into probabilities in place and returns its lse; a row with no visible
// key becomes zeros with lse -inf (NaN if a NaN score hid among the -inf).
float softmax_scores(float* sr, int64_t n) {
  const float m = row_max(sr, n);
  if (m == kNegInf) {
    const float fill_value = row_has_nan(sr, n) ? kNaN : 0.0f;
    for (int64_t j = 0; j < n; j++) sr[j] = fill_value;
    return fill_value == 0.0f ? kNegInf : kNaN;
  }
  const double sum = exp_shifted_sum(sr, sr, n, m);
  const float inv = float(1.0 / sum);
  for (int64_t j = 0; j < n; j++) sr[j] *= inv;
  return m + float(std::log(sum));
}

void forward_block(const Attn& a, int64_t b, int64_t h, int64_t blk, std::vector<float>& s) {
  const int64_t i0 = blk * kBlockQ, rows = std::min(kBlockQ, a.tq - i0);
  const int64_t kend = a.visible(i0 + rows - 1);
  float* lse = a.lse_row(b, h) + i0;
  if (kend == 0) {  // no query of the block sees any key
    for (int64_t r = 0; r < rows; r++) {
      std::fill(a.out.row(b, h, i0 + r), a.out.row(b, h, i0 + r) + a.d, 0.0f);
      lse[r] = kNegInf;
    }
    return;
  }
  masked_scores(a, b, h, i0, rows, kend, s.data(), kend);
  for (int64_t r = 0; r < rows; r++) lse[r] = softmax_scores(s.data() + r * kend, kend);
  mm(false, false, rows, a.d, kend, 1.0f, s.data(), kend, a.v.row(b, h / a.group(), 0), a.v.st, 0.0f,
     a.out.row(b, h, i0), a.out.st);
}

// One query row (a decode step): scores over the keys it sees, softmax, then the weighted sum of
// their values, without the block path's GEMM calls. Keys hidden by the mask are skipped, not
// zeroed: the sums run over the visible keys alone, in order, so a row's result is the same bits
// wherever its keys sit in the cache and whatever else is in the batch.
struct DecodeScratch {
  std::vector<float> scores;
  std::vector<const float*> values;
};

// o (D) = sum_j p[j] values[j], keys in order, NV vectors of the head dim held in registers.
template <int NV>
void weighted_values_vec(const float* p, const float* const* values, int64_t n, float* o) {
  using namespace gemmvec;
  vfloat acc[NV] = {};
  for (int64_t j = 0; j < n; j++) {
    const vfloat pj = broadcast(p[j]);
#pragma GCC unroll 16
    for (int t = 0; t < NV; t++) acc[t] += pj * load_unaligned(values[j] + t * VL);
  }
  for (int t = 0; t < NV; t++) store_unaligned(o + t * VL, acc[t]);
}

// The same sums for any head dim.
void weighted_values(const float* p, const float* const* values, int64_t n, int64_t d, float* o) {
  using gemmvec::VL;
  switch (d == VL ? 1 : d == 2 * VL ? 2 : d == 4 * VL ? 4 : d == 8 * VL ? 8 : 0) {
    case 1: return weighted_values_vec<1>(p, values, n, o);
    case 2: return weighted_values_vec<2>(p, values, n, o);
    case 4: return weighted_values_vec<4>(p, values, n, o);
    case 8: return weighted_values_vec<8>(p, values, n, o);
    default: break;
  }
  std::vector<float> acc(size_t(d), 0.0f);
  for (int64_t j = 0; j < n; j++) {
    const float pj = p[j];
    const float* __restrict vj = values[j];
    for (int64_t e = 0; e < d; e++) acc[e] += pj * vj[e];
  }
  std::copy(acc.begin(), acc.end(), o);
}

void forward_decode_row(const Attn& a, int64_t b, int64_t h, DecodeScratch& w) {
  const int64_t kend = a.visible(0), hkv = h / a.group();
  const float* const q = a.q.row(b, h, 0);
  const float* const mask = a.key_mask ? a.key_mask + b * a.tk : nullptr;
  const float* const k0 = a.k.row(b, hkv, 0);
  const float* const v0 = a.v.row(b, hkv, 0);
  const int64_t kst = a.k.st, vst = a.v.st, d = a.d;
  const float scale = a.scale;
  float* const scores = w.scores.data();
  const float** const values = w.values.data();
  int64_t n = 0;
  for (int64_t j = 0; j < kend; j++) {
    if (mask && mask[j] == 0.0f) continue;
    scores[n] = scale * gemmvec::dot_f32(q, k0 + j * kst, d);
    values[n++] = v0 + j * vst;
  }
  float* o = a.out.row(b, h, 0);
  float* lse = a.lse_row(b, h);
  if (n == 0) {
    std::fill(o, o + a.d, 0.0f);
    *lse = kNegInf;
    return;
  }
  *lse = softmax_scores(w.scores.data(), n);
  weighted_values(w.scores.data(), w.values.data(), n, a.d, o);
}



// Visits a head's blocks as 0, n-1, 1, n-2, ...: causal blocks grow in cost with their index,
// so any contiguous run of tasks mixes cheap and dear ones and threads stay balanced.
int64_t zigzag(int64_t j, int64_t n) { return j % 2 == 0 ? j / 2 : n - 1 - j / 2; }

Napi::Value Attention(const Napi::CallbackInfo& info) {
  const Attn a = attn_args(info, false);
  if (a.tq == 1) {
    parallel_for(a.batch * a.hq, 1, [&](int64_t t0, int64_t t1, int) {
      thread_local DecodeScratch w;
      if (w.scores.size() < size_t(a.tk)) w.scores.resize(size_t(a.tk)), w.values.resize(size_t(a.tk));
      for (int64_t t = t0; t < t1; t++) forward_decode_row(a, t / a.hq, t % a.hq, w);
    });
    return info.Env().Undefined();
  }
  const int64_t blocks = a.blocks();
  parallel_for(a.batch * a.hq * blocks, 1, [&](int64_t t0, int64_t t1, int) {
    std::vector<float> scores(size_t(kBlockQ) * a.tk);
    for (int64_t t = t0; t < t1; t++)
      forward_block(a, t / (a.hq * blocks), (t / blocks) % a.hq, zigzag(t % blocks, blocks), scores);
  });
  return info.Env().Undefined();
}

// ---- backward ----
// Per block: P = exp(S - lse); dP = dO V^T; dS = P (dP - rowsum(dO * O)); dQ = scale dS K;
// dK += scale dS^T Q; dV += P^T dO.

// Probabilities recomputed from the saved lse (rows with lse -inf saw no key: zeros).
void probabilities_from_lse(float* sr, int64_t n, float lse) {
  if (lse == kNegInf) {
    std::fill(sr, sr + n, 0.0f);
    return;
  }
  for (int64_t j = 0; j < n; j++) sr[j] = exp_nonpos(sr[j] - lse);
}

// Scratch of one backward task: probabilities P and dP / dS of a block, (BQ, Tk').
struct BackwardScratch {
  std::vector<float> p, dp;
  explicit BackwardScratch(const Attn& a) : p(size_t(kBlockQ) * a.tk), dp(size_t(kBlockQ) * a.tk) {}
};

void backward_block(const Attn& a, int64_t b, int64_t h, int64_t blk, BackwardScratch& w) {
  const int64_t i0 = blk * kBlockQ, rows = std::min(kBlockQ, a.tq - i0);
  const int64_t kend = a.visible(i0 + rows - 1);
  if (kend == 0) {
    for (int64_t r = 0; r < rows; r++) std::fill(a.dq.row(b, h, i0 + r), a.dq.row(b, h, i0 + r) + a.d, 0.0f);
    return;
  }
  const int64_t hkv = h / a.group(), ld = kend;
  const float* lse = a.lse_row(b, h) + i0;
  float* p = w.p.data();
  float* ds = w.dp.data();
  masked_scores(a, b, h, i0, rows, kend, p, ld);
  for (int64_t r = 0; r < rows; r++) probabilities_from_lse(p + r * ld, kend, lse[r]);
  // dP (rows, kend) = dO V^T, then dS = P (dP - rowsum(dO * O)) in place
  mm(false, true, rows, kend, a.d, 1.0f, a.dout.row(b, h, i0), a.dout.st, a.v.row(b, hkv, 0), a.v.st, 0.0f, ds, ld);
  for (int64_t r = 0; r < rows; r++) {
    const float delta = float(dot_f64(a.dout.row(b, h, i0 + r), a.out.row(b, h, i0 + r), a.d));
    const float* pr = p + r * ld;
    float* dr = ds + r * ld;
    for (int64_t j = 0; j < kend; j++) dr[j] = pr[j] * (dr[j] - delta);
  }
  // dQ (rows, D) = scale dS K; dV (kend, D) += P^T dO; dK (kend, D) += scale dS^T Q
  mm(false, false, rows, a.d, kend, a.scale, ds, ld, a.k.row(b, hkv, 0), a.k.st, 0.0f, a.dq.row(b, h, i0), a.dq.st);
  mm(true, false, kend, a.d, rows, 1.0f, p, ld, a.dout.row(b, h, i0), a.dout.st, 1.0f, a.dv.row(b, hkv, 0), a.dv.st);
  mm(true, false, kend, a.d, rows, a.scale, ds, ld, a.q.row(b, h, i0), a.q.st, 1.0f, a.dk.row(b, hkv, 0), a.dk.st);
}

// One (b, hkv) pair: dk/dv zeroed, then every block of every query head in its group adds in.
void backward_kv_head(const Attn& a, int64_t b, int64_t hkv, BackwardScratch& w) {
  for (int64_t j = 0; j < a.tk; j++) {
    std::fill(a.dk.row(b, hkv, j), a.dk.row(b, hkv, j) + a.d, 0.0f);
    std::fill(a.dv.row(b, hkv, j), a.dv.row(b, hkv, j) + a.d, 0.0f);
  }
  for (int64_t g = 0; g < a.group(); g++)
    for (int64_t blk = 0; blk < a.blocks(); blk++) backward_block(a, b, hkv * a.group() + g, blk, w);
}

Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  const Attn a = attn_args(info, true);
  parallel_for(a.batch * a.hkv, 1, [&](int64_t t0, int64_t t1, int) {
    BackwardScratch w(a);
    for (int64_t t = t0; t < t1; t++) backward_kv_head(a, t / a.hkv, t % a.hkv, w);
  });
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
}

RegisterFamily registered(Register);

}  // namespace
}  // namespace llava
