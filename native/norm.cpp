// LayerNorm and RMSNorm over the last dim of (R, C) f32, forward and backward side by side.
// Row statistics accumulate in f64; dweight/dbias use per-chunk partials summed in chunk order (deterministic).
#include "common.h"
#include "fused_math.h"

namespace llava {
namespace {

using namespace fused;

// Rows per parallel chunk are at least this many elements of work.
constexpr int64_t kGrainElems = 1 << 14;

int64_t row_grain(int64_t cols) { return cols >= kGrainElems ? 1 : kGrainElems / cols; }

// Per-chunk f64 partial sums of parameter gradients, added into dst (when non-null) in chunk order.
struct ParamGradPartials {
  int64_t cols;
  std::vector<double> sums;  // (chunks, cols)
  ParamGradPartials(int chunks, int64_t cols_) : cols(cols_), sums(size_t(chunks) * cols_, 0.0) {}
  double* chunk(int c) { return sums.data() + size_t(c) * cols; }
  void add_into(float* dst, int chunks) const {
    if (!dst) return;
    for (int64_t j = 0; j < cols; j++) {
      double total = 0;
      for (int c = 0; c < chunks; c++) total += sums[size_t(c) * cols + j];
      dst[j] = float(double(dst[j]) + total);
    }
  }
};

// ---- LayerNorm: y = (x - mean) * rstd * w + b ----

void layer_norm_row(const float* x, const float* w, const float* b, double eps, int64_t cols, float* y, float* mean,
                    float* rstd) {
  const double mu = sum_f64(x, cols) / double(cols);
  const double rs = 1.0 / std::sqrt(sumsq_dev_f64(x, cols, mu) / double(cols) + eps);
  *mean = float(mu);
  *rstd = float(rs);
  const float muf = float(mu), rsf = float(rs);
  for (int64_t j = 0; j < cols; j++) {
    const float xhat = (x[j] - muf) * rsf;
    y[j] = std::fma(xhat, w ? w[j] : 1.0f, b ? b[j] : 0.0f);
  }
}

Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  const int64_t rows = i64(info, 0), cols = i64(info, 1);
  const float* x = ptr(info, 2);
  const float* w = ptr(info, 3);
  const float* b = ptr(info, 4);
  const double eps = f64(info, 5);
  float* y = ptr(info, 6);
  float* mean = ptr(info, 7);
  float* rstd = ptr(info, 8);
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; r++) layer_norm_row(x + r * cols, w, b, eps, cols, y + r * cols, mean + r, rstd + r);
  });
  return info.Env().Undefined();
}

// With xhat = (x - mean) rstd and g = dy w: dx = rstd (g - mean(g) - xhat mean(g xhat)).
void layer_norm_backward_row(const float* dy, const float* x, const float* w, float mean, float rstd, int64_t cols,
                             float* dx, double* dw, double* db, float* g, float* xhat) {
  for (int64_t j = 0; j < cols; j++) g[j] = w ? dy[j] * w[j] : dy[j];
  for (int64_t j = 0; j < cols; j++) xhat[j] = (x[j] - mean) * rstd;
  for (int64_t j = 0; j < cols; j++) dw[j] += double(dy[j]) * double(xhat[j]);
  for (int64_t j = 0; j < cols; j++) db[j] += double(dy[j]);
  const float mean_g = float(sum_f64(g, cols) / double(cols));
  const float mean_gx = float(dot_f64(g, xhat, cols) / double(cols));
  for (int64_t j = 0; j < cols; j++) dx[j] = rstd * (g[j] - mean_g - xhat[j] * mean_gx);
}

Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  const int64_t rows = i64(info, 0), cols = i64(info, 1);
  const float* dy = ptr(info, 2);
  const float* x = ptr(info, 3);
  const float* w = ptr(info, 4);
  const float* mean = ptr(info, 5);
  const float* rstd = ptr(info, 6);
  float* dx = ptr(info, 7);
  float* dw = ptr(info, 8);
  float* db = ptr(info, 9);
  const int64_t grain = row_grain(cols);
  const int chunks = pool_chunks(rows, grain);
  ParamGradPartials dw_part(chunks, cols), db_part(chunks, cols);
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1, int c) {
    std::vector<float> g(cols), xhat(cols);
    for (int64_t r = r0; r < r1; r++)
      layer_norm_backward_row(dy + r * cols, x + r * cols, w, mean[r], rstd[r], cols, dx + r * cols, dw_part.chunk(c),
                              db_part.chunk(c), g.data(), xhat.data());
  });
  dw_part.add_into(dw, chunks);
  db_part.add_into(db, chunks);
  return info.Env().Undefined();
}

// ---- RMSNorm: y = x * rsqrt(mean(x^2) + eps) * w ----

void rms_norm_row(const float* x, const float* w, double eps, int64_t cols, float* y, float* rstd) {
  const double rs = 1.0 / std::sqrt(dot_f64(x, x, cols) / double(cols) + eps);
  *rstd = float(rs);
  const float rsf = float(rs);
  for (int64_t j = 0; j < cols; j++) y[j] = w ? (x[j] * rsf) * w[j] : x[j] * rsf;
}

Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  const int64_t rows = i64(info, 0), cols = i64(info, 1);
  const float* x = ptr(info, 2);
  const float* w = ptr(info, 3);
  const double eps = f64(info, 4);
  float* y = ptr(info, 5);
  float* rstd = ptr(info, 6);
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; r++) rms_norm_row(x + r * cols, w, eps, cols, y + r * cols, rstd + r);
  });
  return info.Env().Undefined();
}

// With xhat = x rstd and g = dy w: dx = rstd (g - xhat mean(g xhat)).
void rms_norm_backward_row(const float* dy, const float* x, const float* w, float rstd, int64_t cols, float* dx,
                           double* dw, float* g) {
  for (int64_t j = 0; j < cols; j++) g[j] = w ? dy[j] * w[j] : dy[j];
  const double mean_gx = dot_f64(g, x, cols) * rstd / double(cols);
  for (int64_t j = 0; j < cols; j++) dw[j] += double(dy[j]) * (double(x[j]) * rstd);
  const float mean_gx_f = float(mean_gx);
  for (int64_t j = 0; j < cols; j++) dx[j] = rstd * (g[j] - (x[j] * rstd) * mean_gx_f);
}

Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  const int64_t rows = i64(info, 0), cols = i64(info, 1);
  const float* dy = ptr(info, 2);
  const float* x = ptr(info, 3);
  const float* w = ptr(info, 4);
  const float* rstd = ptr(info, 5);
  float* dx = ptr(info, 6);
  float* dw = ptr(info, 7);
  const int64_t grain = row_grain(cols);
  const int chunks = pool_chunks(rows, grain);
  ParamGradPartials dw_part(chunks, cols);
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1, int c) {
    std::vector<float> g(cols);
    for (int64_t r = r0; r < r1; r++)
      rms_norm_backward_row(dy + r * cols, x + r * cols, w, rstd[r], cols, dx + r * cols, dw_part.chunk(c), g.data());
  });
  dw_part.add_into(dw, chunks);
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward));
  exports.Set("rmsNorm", Napi::Function::New(env, RmsNorm));
  exports.Set("rmsNormBackward", Napi::Function::New(env, RmsNormBackward));
}

RegisterFamily registered(Register);

}  // namespace
}  // namespace llava
