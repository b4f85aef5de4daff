// Native fused kernels: thin forwarding to the addon's softmax, norm, rope, attention and
// loss exports (native/*.cpp), after the same argument checks the reference backend runs.
import type { AttentionParams, FusedKernels, HeadLayout } from '../types.js';
import type { NativeAddon } from './addon.js';
import { checkAttention, checkRope, checkRows } from '../reference/fusedChecks.js';

/** A HeadLayout as the addon's [ptr, strideB, strideH, strideT] array. */
function layout(l: HeadLayout): number[] {
  return [l.ptr, l.strideB, l.strideH, l.strideT];
}

/** The shape array of the addon's attention calls: [batch, headsQ, headsKV, tq, tk, headDim, causal, keyMask, lse]. */
function attentionShape(p: AttentionParams): number[] {
  return [p.batch, p.headsQ, p.headsKV, p.tq, p.tk, p.headDim, p.causal ? 1 : 0, p.keyMask, p.lse];
}

/** The fused kernel family of the native backend. */
export function nativeFused(addon: NativeAddon): FusedKernels {
  return {
    softmax: (rows, cols, x, y, log) => {
      checkRows('softmax', rows, cols);
      addon.softmax!(rows, cols, x, y, log);
    },
    softmaxBackward: (rows, cols, y, dy, dx, log) => {
      checkRows('softmaxBackward', rows, cols);
      addon.softmaxBackward!(rows, cols, y, dy, dx, log);
    },
    layerNorm: (rows, cols, x, w, b, eps, y, mean, rstd) => {
      checkRows('layerNorm', rows, cols);
      addon.layerNorm!(rows, cols, x, w, b, eps, y, mean, rstd);
    },
    layerNormBackward: (rows, cols, dy, x, w, mean, rstd, dx, dw, db) => {
      checkRows('layerNormBackward', rows, cols);
      addon.layerNormBackward!(rows, cols, dy, x, w, mean, rstd, dx, dw, db);
    },
    rmsNorm: (rows, cols, x, w, eps, y, rstd) => {
      checkRows('rmsNorm', rows, cols);
      addon.rmsNorm!(rows, cols, x, w, eps, y, rstd);
    },
    rmsNormBackward: (rows, cols, dy, x, w, rstd, dx, dw) => {
      checkRows('rmsNormBackward', rows, cols);
      addon.rmsNormBackward!(rows, cols, dy, x, w, rstd, dx, dw);
    },
    rope: (batch, heads, t, headDim, rotDim, x, y, positions, theta, inverse) => {
      checkRope(batch, heads, t, headDim, rotDim, x, y, theta);
      addon.rope!(batch, heads, t, headDim, rotDim, layout(x), layout(y), positions, theta, inverse);
    },
    attention: (p) => {
      checkAttention('attention', p);
      addon.attention!(attentionShape(p), p.scale, layout(p.q), layout(p.k), layout(p.v), layout(p.out));
    },
    attentionBackward: (p) => {
      checkAttention('attentionBackward', p, { dout: p.dout, dq: p.dq, dk: p.dk, dv: p.dv });
      addon.attentionBackward!(
        attentionShape(p),
        p.scale,
        layout(p.q),
        layout(p.k),
        layout(p.v),
        layout(p.out),
        layout(p.dout),
        layout(p.dq),
        layout(p.dk),
        layout(p.dv),
      );
    },
    crossEntropy: (rows, vocab, logits, targets, ignoreIndex, loss, lse) => {
      checkRows('crossEntropy', rows, vocab);
      return addon.crossEntropy!(rows, vocab, logits, targets, ignoreIndex, loss, lse) as number;
    },
    crossEntropyBackward: (rows, vocab, logits, targets, ignoreIndex, lse, dloss, dlogits) => {
      checkRows('crossEntropyBackward', rows, vocab);
      addon.crossEntropyBackward!(rows, vocab, logits, targets, ignoreIndex, lse, dloss, dlogits);
    },
  };
}
