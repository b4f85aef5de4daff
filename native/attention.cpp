// Fused scaled-dot-product attention over strided (B, H, T, D) f32 views, forward and backward:
// causal with a KV-cache offset, (B, Tk) key padding mask, grouped-query heads, lse saved for backward.
//
// Letters: B batch, Hq query heads, Hkv key/value heads (Hq = G * Hkv), Tq queries, Tk keys,
// D head dim, BQ query rows per block. q, out, dout, dq: (B, Hq, Tq, D); k, v, dk, dv:
// (B, Hkv, Tk, D); lse (B, Hq, Tq). Query i sits at absolute position Tk - Tq + i.
//
// Work is cut into blocks of BQ query rows; each block computes its scores S (BQ, Tk') with a
// register-blocked GEMM against packed keys, where Tk' stops at the last key any row of the block
// may see (causal blocks skip the hidden upper triangle). The forward runs blocks of every
// (b, hq) in parallel; the backward runs one task per (b, hkv) so dk/dv for a kv head are owned
// (summed over its G query heads without races, in a fixed order).
#include "common.h"
#include "fused_math.h"
#include <algorithm>

namespace llava {
namespace {

using namespace fused;

constexpr int64_t kBlockQ = 64;  // BQ: query rows per block (scores stay in L2)
constexpr int kTileRows = 6;     // GEMM register tile: rows of A ...
constexpr int kTileCols = 32;    // ... by columns of B (two AVX-512 vectors)

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// ---- a small serial GEMM: C (m, n) = alpha * A (m, k) @ Bp (k, n) [+ C] ----
// Bp is packed row-major with its row length padded to a multiple of kTileCols (zeros beyond n),
// so every tile loads full vectors; A and C are row-major with any row stride.

template <int MR>
void gemm_tile(int64_t k, const float* a, int64_t lda, const float* bp, int64_t ldbp, float alpha, float* c,
               int64_t ldc, int64_t ncols, bool accumulate) {
  float t[MR][kTileCols] = {};
  for (int64_t p = 0; p < k; p++) {
    const float* bv = bp + p * ldbp;
    for (int r = 0; r < MR; r++) {
      const float av = a[r * lda + p];
      for (int l = 0; l < kTileCols; l++) t[r][l] = std::fma(av, bv[l], t[r][l]);
    }
  }
  for (int r = 0; r < MR; r++) {
    float* cr = c + r * ldc;
    if (accumulate)
      for (int64_t l = 0; l < ncols; l++) cr[l] += alpha * t[r][l];
    else
      for (int64_t l = 0; l < ncols; l++) cr[l] = alpha * t[r][l];
  }
}

template <int MR>
void gemm_rows(int64_t n, int64_t k, const float* a, int64_t lda, const float* bp, int64_t ldbp, float alpha, float* c,
               int64_t ldc, bool accumulate) {
  for (int64_t j = 0; j < n; j += kTileCols)
    gemm_tile<MR>(k, a, lda, bp + j, ldbp, alpha, c + j, ldc, std::min<int64_t>(kTileCols, n - j), accumulate);
}

void gemm_packed(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* bp,
                 int64_t ldbp, float* c, int64_t ldc, bool accumulate) {
  int64_t i = 0;
  for (; i + kTileRows <= m; i += kTileRows)
    gemm_rows<kTileRows>(n, k, a + i * lda, lda, bp, ldbp, alpha, c + i * ldc, ldc, accumulate);
  for (; i < m; i++) gemm_rows<1>(n, k, a + i * lda, lda, bp, ldbp, alpha, c + i * ldc, ldc, accumulate);
}

// dst (k, npad) = src (k, n) rows of stride ld, zero-padded to npad columns.
void pack_rows(const float* src, int64_t ld, int64_t k, int64_t n, float* dst, int64_t npad) {
  for (int64_t p = 0; p < k; p++) {
    std::copy(src + p * ld, src + p * ld + n, dst + p * npad);
    std::fill(dst + p * npad + n, dst + (p + 1) * npad, 0.0f);
  }
}

// dst (k, npad) = transpose of src (n, k) rows of stride ld, zero-padded to npad columns.
void pack_transposed(const float* src, int64_t ld, int64_t n, int64_t k, float* dst, int64_t npad) {
  for (int64_t p = 0; p < k; p++) std::fill(dst + p * npad + n, dst + (p + 1) * npad, 0.0f);
  for (int64_t j = 0; j < n; j++)
    for (int64_t p = 0; p < k; p++) dst[p * npad + j] = src[j * ld + p];
}

// ---- arguments ----

struct Heads {
  float* base;
  int64_t sb, sh, st;
  float* row(int64_t b, int64_t h, int64_t t) const { return base + b * sb + h * sh + t * st; }
};

Heads heads_arg(const Napi::CallbackInfo& info, size_t i) {
  const std::vector<int64_t> v = ints(info, i);
  return {reinterpret_cast<float*>(static_cast<uintptr_t>(v[0])), v[1], v[2], v[3]};
}

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

// S (rows, kend) = scale * Q_block @ K^T (Kt packed (D, ldk)), then -inf where a key is hidden
// (past the causal limit or padded out by the key mask).
void masked_scores(const Attn& a, int64_t b, const float* q_block, int64_t i0, int64_t rows, int64_t kend,
                   const float* kt, int64_t ldk, float* s, int64_t lds) {
  gemm_packed(rows, kend, a.d, a.scale, q_block, a.q.st, kt, ldk, s, lds, false);
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

struct ForwardScratch {
  std::vector<float> kt, vp, s;
  explicit ForwardScratch(const Attn& a)
      : kt(size_t(a.d) * round_up(a.tk, kTileCols)),
        vp(size_t(a.tk) * round_up(a.d, kTileCols)),
        s(size_t(kBlockQ) * round_up(a.tk, kTileCols)) {}
};

void forward_block(const Attn& a, int64_t b, int64_t h, int64_t blk, ForwardScratch& w) {
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
  const int64_t hkv = h / a.group();
  const int64_t ldk = round_up(kend, kTileCols), ldv = round_up(a.d, kTileCols);
  pack_transposed(a.k.row(b, hkv, 0), a.k.st, kend, a.d, w.kt.data(), ldk);
  pack_rows(a.v.row(b, hkv, 0), a.v.st, kend, a.d, w.vp.data(), ldv);
  masked_scores(a, b, a.q.row(b, h, i0), i0, rows, kend, w.kt.data(), ldk, w.s.data(), ldk);
  for (int64_t r = 0; r < rows; r++) lse[r] = softmax_scores(w.s.data() + r * ldk, kend);
  gemm_packed(rows, a.d, kend, 1.0f, w.s.data(), ldk, w.vp.data(), ldv, a.out.row(b, h, i0), a.out.st, false);
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  const Attn a = attn_args(info, false);
  const int64_t blocks = a.blocks();
  parallel_for(a.batch * a.hq * blocks, 1, [&](int64_t t0, int64_t t1, int) {
    ForwardScratch w(a);
    for (int64_t t = t0; t < t1; t++) forward_block(a, t / (a.hq * blocks), (t / blocks) % a.hq, t % blocks, w);
  });
  return info.Env().Undefined();
}

// ---- backward ----
// Per block: P = exp(S - lse); dP = dO V^T; dS = P (dP - rowsum(dO * O)); dQ = scale dS K;
// dK += scale dS^T Q; dV += P^T dO.

struct BackwardScratch {
  int64_t ldt, ldd;  // padded Tk and D
  std::vector<float> kt, vt, kp, s, dp, st, qp, dop, dk_acc, dv_acc;
  explicit BackwardScratch(const Attn& a)
      : ldt(round_up(a.tk, kTileCols)),
        ldd(round_up(a.d, kTileCols)),
        kt(size_t(a.d) * ldt),
        vt(size_t(a.d) * ldt),
        kp(size_t(a.tk) * ldd),
        s(size_t(kBlockQ) * ldt),
        dp(size_t(kBlockQ) * ldt),
        st(size_t(a.tk) * kBlockQ),
        qp(size_t(kBlockQ) * ldd),
        dop(size_t(kBlockQ) * ldd),
        dk_acc(size_t(a.tk) * ldd),
        dv_acc(size_t(a.tk) * ldd) {}
};

// Probabilities recomputed from the saved lse (rows with lse -inf saw no key: zeros).
void probabilities_from_lse(float* sr, int64_t n, float lse) {
  if (lse == kNegInf) {
    std::fill(sr, sr + n, 0.0f);
    return;
  }
  for (int64_t j = 0; j < n; j++) sr[j] = exp_nonpos(sr[j] - lse);
}

// dst (n, rows) = transpose of src (rows, n) with row stride lds; dst rows padded to kBlockQ.
void transpose_block(const float* src, int64_t lds, int64_t rows, int64_t n, float* dst) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < n; j++) dst[j * kBlockQ + r] = src[r * lds + j];
}

void backward_block(const Attn& a, int64_t b, int64_t h, int64_t blk, BackwardScratch& w) {
  const int64_t i0 = blk * kBlockQ, rows = std::min(kBlockQ, a.tq - i0);
  const int64_t kend = a.visible(i0 + rows - 1);
  if (kend == 0) {
    for (int64_t r = 0; r < rows; r++) std::fill(a.dq.row(b, h, i0 + r), a.dq.row(b, h, i0 + r) + a.d, 0.0f);
    return;
  }
  const float* lse = a.lse_row(b, h) + i0;
  const int64_t ldt = w.ldt, ldd = w.ldd;
  masked_scores(a, b, a.q.row(b, h, i0), i0, rows, kend, w.kt.data(), ldt, w.s.data(), ldt);
  for (int64_t r = 0; r < rows; r++) probabilities_from_lse(w.s.data() + r * ldt, kend, lse[r]);
  gemm_packed(rows, kend, a.d, 1.0f, a.dout.row(b, h, i0), a.dout.st, w.vt.data(), ldt, w.dp.data(), ldt, false);
  for (int64_t r = 0; r < rows; r++) {
    const float delta = float(dot_f64(a.dout.row(b, h, i0 + r), a.out.row(b, h, i0 + r), a.d));
    const float* pr = w.s.data() + r * ldt;
    float* dr = w.dp.data() + r * ldt;
    for (int64_t j = 0; j < kend; j++) dr[j] = pr[j] * (dr[j] - delta);
  }
  // dQ (rows, D) = scale * dS @ K
  gemm_packed(rows, a.d, kend, a.scale, w.dp.data(), ldt, w.kp.data(), ldd, a.dq.row(b, h, i0), a.dq.st, false);
  // dV (kend, D) += P^T @ dO
  transpose_block(w.s.data(), ldt, rows, kend, w.st.data());
  pack_rows(a.dout.row(b, h, i0), a.dout.st, rows, a.d, w.dop.data(), ldd);
  gemm_packed(kend, a.d, rows, 1.0f, w.st.data(), kBlockQ, w.dop.data(), ldd, w.dv_acc.data(), ldd, true);
  // dK (kend, D) += scale * dS^T @ Q
  transpose_block(w.dp.data(), ldt, rows, kend, w.st.data());
  pack_rows(a.q.row(b, h, i0), a.q.st, rows, a.d, w.qp.data(), ldd);
  gemm_packed(kend, a.d, rows, a.scale, w.st.data(), kBlockQ, w.qp.data(), ldd, w.dk_acc.data(), ldd, true);
}

// One (b, hkv) pair: every block of every query head in its group, then dk/dv written out.
void backward_kv_head(const Attn& a, int64_t b, int64_t hkv, BackwardScratch& w) {
  const int64_t ldt = w.ldt, ldd = w.ldd;
  pack_transposed(a.k.row(b, hkv, 0), a.k.st, a.tk, a.d, w.kt.data(), ldt);
  pack_transposed(a.v.row(b, hkv, 0), a.v.st, a.tk, a.d, w.vt.data(), ldt);
  pack_rows(a.k.row(b, hkv, 0), a.k.st, a.tk, a.d, w.kp.data(), ldd);
  std::fill(w.dk_acc.begin(), w.dk_acc.end(), 0.0f);
  std::fill(w.dv_acc.begin(), w.dv_acc.end(), 0.0f);
  for (int64_t g = 0; g < a.group(); g++)
    for (int64_t blk = 0; blk < a.blocks(); blk++) backward_block(a, b, hkv * a.group() + g, blk, w);
  for (int64_t j = 0; j < a.tk; j++) {
    std::copy(w.dk_acc.data() + j * ldd, w.dk_acc.data() + j * ldd + a.d, a.dk.row(b, hkv, j));
    std::copy(w.dv_acc.data() + j * ldd, w.dv_acc.data() + j * ldd + a.d, a.dv.row(b, hkv, j));
  }
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
