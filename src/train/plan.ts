// `llava train --dry-run`: the plan of a run before any compute: what trains and what is frozen,
// the data after filtering, steps and tokens, and rough time and memory estimates (stated as such).

import { dtypeBytes } from '../tensor/dtype.js';
import type { TrainOptions } from './trainer.js';
import type { prepareRun } from './trainer.js';

/** GEMM rate the time estimate assumes (about 60% of OpenBLAS sgemm on the 2-core machine). */
const ASSUMED_GFLOPS = 100;

function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** The plan as text. */
export function describePlan(run: ReturnType<typeof prepareRun>, o: TrainOptions): string {
  const model = run.pipeline.model;
  const params = model.namedParameters();
  const count = (pred: (n: string) => boolean, trainable: boolean) => params.filter(([n, p]) => pred(n) && p.trainable === trainable).reduce((s, [, p]) => s + p.value.size, 0);
  const parts = ['vision.', 'projector.', 'text.'] as const;
  const d = run.dataset;
  const L = model.tokensPerImage;
  const positions = d.samples.reduce((s, x) => s + run.pipeline.promptPositions(x.inputIds), 0);
  const images = d.samples.filter((s) => s.image).length;
  const epochs = run.totalSteps / Math.max(1, Math.floor(run.batchesPerEpoch / o.gradAccum));
  const trainable = run.trainable.reduce((s, [, p]) => s + p.value.size, 0);
  const textParams = params.filter(([n]) => n.startsWith('text.')).reduce((s, [, p]) => s + p.value.size, 0);
  const visionParams = params.filter(([n]) => n.startsWith('vision.')).reduce((s, [, p]) => s + p.value.size, 0);
  // Forward and the activation gradients through the LLM (~4 flops per weight and position), weight gradients of what trains (~2), the frozen vision forward (~2 per image token).
  const flopsPerEpoch = positions * (4 * textParams + 2 * trainable) + images * L * 2 * visionParams;
  const seconds = (flopsPerEpoch * epochs) / (ASSUMED_GFLOPS * 1e9);
  const mapped = run.pipeline.loaded.storedDtypes;
  const fileBytes = params.reduce((s, [, p]) => s + (p.value.storage.kind === 'mapped' ? dtypeBytes(p.value.dtype, p.value.size) : 0), 0);
  const C = model.config.text.hiddenSize;
  const V = model.config.text.vocabSize;
  const longest = Math.max(...d.samples.map((s) => run.pipeline.promptPositions(s.inputIds)));
  const activations = o.batchSize * longest * (model.config.text.numLayers * C * 24 + V * 2) * 4;
  const lines = [
    `stage ${o.stage.stage}: ${o.stage.description}`,
    `model ${o.modelDir} (stored ${Object.entries(mapped).map(([k, v]) => `${k} x${v}`).join(', ')})`,
    ...parts.map((p) => `  ${p.padEnd(11)} trains ${human(count((n) => n.startsWith(p), true)).padStart(8)}   frozen ${human(count((n) => n.startsWith(p), false)).padStart(8)}`),
    `data ${o.dataPath}: ${d.records} records -> ${d.samples.length} samples (${images} with an image); ${d.truncated} cut at ${o.maxLength}, ${d.allMasked} dropped with nothing to learn, ${d.bad.length} bad`,
    `template ${o.template ?? o.stage.template}; lr ${run.lr}${o.projectorLr !== undefined ? `, projector ${o.projectorLr}` : ''}; warm-up ${o.warmupRatio}; weight decay ${o.weightDecay}`,
    ...(o.lora ? [`LoRA r ${o.lora.r}, alpha ${o.lora.alpha}, dropout ${o.lora.dropout} on ${o.lora.targets.join(', ')}; ${o.merge ? 'merged into full weights at the end' : 'saved as a PEFT adapter'}`] : []),
    `batch ${o.batchSize} x ${o.gradAccum} accumulation = ${o.batchSize * o.gradAccum} per step; ${run.batchesPerEpoch} batches per epoch; ${run.totalSteps} steps (${epochs.toFixed(2)} epochs)`,
    `tokens: ${human(positions)} positions per epoch (visual tokens included), ${human(Math.round(positions * epochs))} in all`,
    `estimated time: ${seconds < 120 ? `${seconds.toFixed(0)} s` : `${(seconds / 60).toFixed(1)} min`} (assuming ${ASSUMED_GFLOPS} GFLOP/s of GEMM)`,
    `estimated memory: ${gib(fileBytes)} mapped weights + ${gib(trainable * 16)} trained weights, gradients and AdamW moments + ~${gib(activations)} activations`,
    `output: ${o.outDir} (checkpoints ${o.saveSteps ? `every ${o.saveSteps} steps` : 'at the end'}${o.keep ? `, newest ${o.keep} kept` : ''})`,
  ];
  return lines.join('\n');
}
