// Time of fused attention forward and forward+backward (the block_fwd_bwd shape: B=1, T=256,
// 8 heads of 64, causal, (B, T, H, D) views) on the native and reference backends. Prints JSON.
import { getBackend } from '../src/backend/index.js';
import type { AttentionBackwardParams, Backend, HeadLayout } from '../src/backend/types.js';
import { Rng } from '../src/tensor/random.js';

/** Timed repeats per backend (after one warm-up call); the median is reported. */
const REPEATS: Readonly<Record<string, number>> = { native: 41, reference: 3 };
const SHAPE = { batch: 1, heads: 8, t: 256, headDim: 64 } as const;

function timeMs(run: () => void, repeats: number): number {
  run();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    run();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** A (B, T, H, D) buffer viewed as (B, H, T, D). */
function timeMajor(be: Backend, rng: Rng): HeadLayout {
  const { batch, heads, t, headDim } = SHAPE;
  const ptr = be.alloc(batch * t * heads * headDim * 4);
  be.write(ptr, rng.normalArray(batch * t * heads * headDim));
  return { ptr, strideB: t * heads * headDim, strideH: headDim, strideT: heads * headDim };
}

function params(be: Backend, rng: Rng): AttentionBackwardParams {
  const { batch, heads, t, headDim } = SHAPE;
  const lse = be.alloc(batch * heads * t * 4);
  const h = () => timeMajor(be, rng);
  return {
    batch, headsQ: heads, headsKV: heads, tq: t, tk: t, headDim, scale: 1 / Math.sqrt(headDim), causal: true, keyMask: 0,
    q: h(), k: h(), v: h(), out: h(), lse, dout: h(), dq: h(), dk: h(), dv: h(),
  };
}

for (const name of ['native', 'reference'] as const) {
  const be = getBackend(name);
  const p = params(be, new Rng(1));
  const repeats = REPEATS[name]!;
  const forwardMs = timeMs(() => be.attention(p), repeats);
  const forwardBackwardMs = timeMs(() => {
    be.attention(p);
    be.attentionBackward(p);
  }, repeats);
  console.log(JSON.stringify({ bench: 'attention', backend: name, threads: be.threads(), ...SHAPE, causal: true, forwardMs, forwardBackwardMs }));
}
