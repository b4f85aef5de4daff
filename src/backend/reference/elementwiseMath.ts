// Scalar math of the reference backend: every UnaryOp and its derivative, in float64.
// Kept apart from the memory plumbing so the formulas read like the doc comments in types.ts.
import type { BinaryOp, UnaryOp } from '../types.js';

/** sqrt(2 / pi), the gelu_tanh scale. */
const GELU_TANH_SCALE = Math.sqrt(2 / Math.PI);
/** Cubic coefficient of the gelu_tanh approximation. */
const GELU_TANH_CUBIC = 0.044715;
/** Slope inside quick_gelu's sigmoid (CLIP's activation). */
const QUICK_GELU_SLOPE = 1.702;
/** 1 / sqrt(2 pi): the standard normal density at 0. */
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
/** Below this |x| the erf power series is used; above it the continued fraction of erfc. */
const ERF_SERIES_LIMIT = 3;
/** Depth of the erfc continued fraction: ample for double precision at x >= 3. */
const ERFC_FRACTION_DEPTH = 80;

/** erf(x) for 0 <= x < 3 from the all-positive series erf(x) = 2/sqrt(pi) e^(-x^2) sum (2x^2)^k x / (2k+1)!!. */
function erfSeries(x: number): number {
  const twoX2 = 2 * x * x;
  let term = x;
  let sum = x;
  for (let k = 1; term > 1e-17 * sum; k++) {
    term *= twoX2 / (2 * k + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}

/** erfc(x) for x >= 3 from its continued fraction e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))). */
function erfcFraction(x: number): number {
  let f = x;
  for (let k = ERFC_FRACTION_DEPTH; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

/** Complementary error function, accurate to ~1e-15 relative (JS has no Math.erf). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  return x < ERF_SERIES_LIMIT ? 1 - erfSeries(x) : erfcFraction(x);
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Standard normal CDF, written through erfc so it stays accurate deep in the left tail. */
function normalCdf(x: number): number {
  return 0.5 * erfc(-x * Math.SQRT1_2);
}

/** y = op(x; alpha, beta) in float64 (the caller rounds to f32). */
export function unaryValue(op: UnaryOp, x: number, alpha: number, beta: number): number {
  switch (op) {
    case 'affine':
      return alpha * x + beta;
    case 'exp':
      return Math.exp(x);
    case 'log':
      return Math.log(x);
    case 'sqrt':
      return Math.sqrt(x);
    case 'rsqrt':
      return 1 / Math.sqrt(x);
    case 'tanh':
      return Math.tanh(x);
    case 'sigmoid':
      return sigmoid(x);
    case 'relu':
      return x < 0 ? 0 : x; // NaN and -0 pass through
    case 'gelu':
      return x * normalCdf(x);
    case 'gelu_tanh':
      return 0.5 * x * (1 + Math.tanh(GELU_TANH_SCALE * (x + GELU_TANH_CUBIC * x * x * x)));
    case 'quick_gelu':
      return x * sigmoid(QUICK_GELU_SLOPE * x);
    case 'silu':
      return x * sigmoid(x);
    case 'abs':
      return Math.abs(x);
    case 'square':
      return x * x;
    case 'pow':
      return Math.pow(x, alpha);
    case 'sin':
      return Math.sin(x);
    case 'cos':
      return Math.cos(x);
    default:
      return op satisfies never;
  }
}

/** d op(x) / dx in float64. Kinks take PyTorch's choices: relu'(0) = 0, abs'(0) = 0, d(x^0) = 0. */
export function unaryDerivative(op: UnaryOp, x: number, alpha: number, _beta: number): number {
  switch (op) {
    case 'affine':
      return alpha;
    case 'exp':
      return Math.exp(x);
    case 'log':
      return 1 / x;
    case 'sqrt':
      return 0.5 / Math.sqrt(x);
    case 'rsqrt':
      return -0.5 / (x * Math.sqrt(x));
    // sech^2 x and e/(1+e)^2 rather than 1 - tanh^2 and s(1 - s), which cancel in the tails.
    case 'tanh': {
      const e = Math.exp(-2 * Math.abs(x));
      return (4 * e) / ((1 + e) * (1 + e));
    }
    case 'sigmoid': {
      const e = Math.exp(-Math.abs(x));
      return e / ((1 + e) * (1 + e));
    }
    case 'relu':
      return x > 0 ? 1 : Number.isNaN(x) ? NaN : 0;
    case 'gelu':
      return normalCdf(x) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    case 'gelu_tanh': {
      const t = Math.tanh(GELU_TANH_SCALE * (x + GELU_TANH_CUBIC * x * x * x));
      const du = GELU_TANH_SCALE * (1 + 3 * GELU_TANH_CUBIC * x * x);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du;
    }
    case 'quick_gelu': {
      const s = sigmoid(QUICK_GELU_SLOPE * x);
      return s + QUICK_GELU_SLOPE * x * s * (1 - s);
    }
    case 'silu': {
      const s = sigmoid(x);
      return s * (1 + x * (1 - s));
    }
    case 'abs':
      return x > 0 ? 1 : x < 0 ? -1 : Number.isNaN(x) ? NaN : 0;
    case 'square':
      return 2 * x;
    case 'pow':
      return alpha === 0 ? 0 : alpha * Math.pow(x, alpha - 1);
    case 'sin':
      return Math.cos(x);
    case 'cos':
      return -Math.sin(x);
    default:
      return op satisfies never;
  }
}

/**
 * a op b for f32 inputs. max/min propagate NaN and, on equal values, keep a (so both
 * backends agree on signed zeros); comparisons give 1 or 0 and are false with NaN.
 */
export function binaryValue(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case 'add':
      return a + b;
    case 'sub':
      return a - b;
    case 'mul':
      return a * b;
    case 'div':
      return a / b;
    case 'max':
      return Number.isNaN(b) ? b : a < b ? b : a;
    case 'min':
      return Number.isNaN(b) ? b : a > b ? b : a;
    case 'eq':
      return a === b ? 1 : 0;
    case 'lt':
      return a < b ? 1 : 0;
    case 'gt':
      return a > b ? 1 : 0;
    default:
      return op satisfies never;
  }
}
