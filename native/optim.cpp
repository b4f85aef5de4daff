// Native optimiser step: AdamW with decoupled weight decay (PyTorch semantics), one
// vectorised pass over parameters, gradients and both moment buffers.
#include "common.h"
#include <cmath>

namespace llava {
namespace {

// Below this many parameters the step runs on the calling thread.
constexpr int64_t kGrain = 16384;

// Step constants, folded in double once and applied in f32.
struct AdamWConstants {
  float decay, b1, b2, one_b1, one_b2, inv_bc1, inv_bc2, eps, lr;
};

// The update over [0, n): plain pointers and by-value constants, so the compiler knows
// nothing the loop stores can change them, and vectorises it.
void adamw_span(int64_t n, float* __restrict p, const float* __restrict g, float* __restrict m,
                float* __restrict v, const AdamWConstants k) {
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = k.b1 * m[i] + k.one_b1 * gi;
    const float vi = k.b2 * v[i] + k.one_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * k.decay - k.lr * (mi * k.inv_bc1) / (std::sqrt(vi * k.inv_bc2) + k.eps);
  }
}

// adamw(n, p, g, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2)
//   p *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
//   p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)
Napi::Value AdamW(const Napi::CallbackInfo& info) {
  const int64_t n = i64(info, 0);
  float* p = ptr<float>(info, 1);
  const float* g = ptr<float>(info, 2);
  float* m = ptr<float>(info, 3);
  float* v = ptr<float>(info, 4);
  const double lr = f64(info, 5), beta1 = f64(info, 6), beta2 = f64(info, 7), eps = f64(info, 8);
  const double wd = f64(info, 9), bc1 = f64(info, 10), bc2 = f64(info, 11);
  const AdamWConstants k{float(1.0 - lr * wd), float(beta1),     float(beta2),     float(1.0 - beta1), float(1.0 - beta2),
                         float(1.0 / bc1),     float(1.0 / bc2), float(eps),       float(lr)};
  parallel_for(n, kGrain, [=](int64_t b, int64_t e, int) { adamw_span(e - b, p + b, g + b, m + b, v + b, k); });
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) { exports.Set("adamw", Napi::Function::New(env, AdamW)); }
RegisterFamily reg(Register);

}  // namespace
}  // namespace llava
