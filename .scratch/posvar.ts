import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlavaPipeline } from '../src/infer/pipeline.js';
import { tidy } from '../src/tensor/scope.js';
const [modelDir, worldDir] = process.argv.slice(2);
const pipe = LlavaPipeline.load(modelDir!, { imageAspect: 'crop' });
const ann = JSON.parse(readFileSync(join(worldDir!, 'annotations.json'), 'utf8'));
const S = JSON.parse(readFileSync(join(worldDir!, 'splits.json'), 'utf8'));
const imgs = new Map<number, any>(ann.images.map((i: any) => [i.id, i]));
const acc: Record<string, { sum: Float64Array; sq: number; psum: Float64Array[]; n: number; D: number }> = {};
for (const id of (S.test as number[]).slice(0, 300)) {
  const px = await pipe.pixelValues(join(worldDir!, imgs.get(id).file_name));
  const [vis, proj] = tidy(() => { const v = pipe.model.imageFeatures(px); return [v.toArray() as Float32Array, pipe.model.projector.forward(v).toArray() as Float32Array]; });
  px.dispose();
  for (const [key, arr0] of [['vis', vis], ['proj', proj]] as const) {
    const D = arr0.length / 64;
    // RMS-normalise each token (what the LM's first norm sees)
    const arr = new Float32Array(arr0.length);
    for (let t = 0; t < 64; t++) { let s = 0; for (let c = 0; c < D; c++) s += arr0[t * D + c]! ** 2; const r = 1 / Math.sqrt(s / D + 1e-6); for (let c = 0; c < D; c++) arr[t * D + c] = arr0[t * D + c]! * r; }
    const a = (acc[key] ??= { sum: new Float64Array(D), sq: 0, psum: Array.from({ length: 64 }, () => new Float64Array(D)), n: 0, D });
    for (let t = 0; t < 64; t++) for (let c = 0; c < D; c++) { const v = arr[t * D + c]!; a.sum[c] += v; a.sq += v * v; a.psum[t]![c] += v; }
    a.n++;
  }
}
for (const [key, a] of Object.entries(acc)) {
  const N = a.n * 64;
  let tot = a.sq / N; for (let c = 0; c < a.D; c++) tot -= (a.sum[c]! / N) ** 2;
  let between = 0;
  for (let t = 0; t < 64; t++) for (let c = 0; c < a.D; c++) between += ((a.psum[t]![c]! / a.n - a.sum[c]! / N) ** 2) / 64;
  console.log(key, `variance per dim ${(tot / 1).toFixed(4)}; share explained by patch index ${(100 * between / tot).toFixed(1)}%`);
}
