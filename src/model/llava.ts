// The LLaVA model: CLIP vision tower -> projector -> visual tokens spliced into the LLaMA input
// embeddings. Steps kept apart for the trainer: encode images, splice one sequence, pad a batch.
// Shapes: B batch, T positions, N images, L visual tokens per image, C text width, V vocab.
import type { Tensor } from '../tensor/tensor.js';
import { tensor, zeros } from '../tensor/tensor.js';
import { concat, stack } from '../tensor/ops/join.js';
import { crossEntropy } from '../tensor/ops/nn.js';
import { narrow, reshape, select } from '../tensor/ops/view.js';
import { tidy } from '../tensor/scope.js';
import { noGrad } from '../autograd/tape.js';
import { Module } from '../nn/module.js';
import { IGNORE_INDEX, IMAGE_TOKEN_INDEX } from '../data/constants.js';
import { ClipVisionTransformer } from './clipVit.js';
import { featureLayerIndex, imageTokenCount, type LlavaConfig } from './config.js';
import { LlamaForCausalLM, type DecoderContext } from './llama.js';
import type { KvCache } from './kvCache.js';
import { Projector } from './projector.js';
import type { WeightSource } from '../nn/layers.js';

/** Which end of a short sequence gets the padding (left for batched generation, right for training). */
export type PaddingSide = 'left' | 'right';

/** A batch of token sequences, each holding its images as -200 once or as `<image>` repeated L times. */
export interface LlavaInputs {
  readonly inputIds: readonly (readonly number[])[];
  /** f32 (N, 3, H, W): the images in order of appearance across the batch. */
  readonly pixelValues?: Tensor;
  /** Per sequence, as long as its ids: targets with IGNORE_INDEX (-100) where nothing is learned. */
  readonly labels?: readonly (readonly number[])[];
  /** Default 'right'. */
  readonly paddingSide?: PaddingSide;
  /** How the loss averages (default 'token'); see LossAveraging. */
  readonly lossAveraging?: LossAveraging;
}

/**
 * 'token': the mean over every learned token of the batch (LLaVA's, HF's). 'turn': every answer (a run of learned
 * tokens) weighs the same, its tokens sharing its weight, so a one-word answer counts as much as a long description.
 */
export type LossAveraging = 'token' | 'turn';

/** One sequence after splicing: embeddings (T, C) and labels of the same length. */
export interface SplicedSequence {
  readonly embeds: Tensor;
  readonly labels: readonly number[] | undefined;
}

/** A padded batch ready for the decoder. */
export interface PaddedBatch {
  /** f32 (B, T, C). */
  readonly embeds: Tensor;
  /** i32 (B, T): position of each token counting real tokens only. */
  readonly positions: Tensor;
  /** f32 (B, T) 1 real / 0 pad, or undefined when nothing is padded. */
  readonly keyMask: Tensor | undefined;
  /** Real tokens per row. */
  readonly lengths: readonly number[];
  /** (B * T) labels with IGNORE_INDEX on padding, when labels were given. */
  readonly labels: readonly number[] | undefined;
}

/** Output of LlavaModel.forward. */
export interface LlavaOutput {
  /** f32 (B, T, V). */
  readonly logits: Tensor;
  /** Mean next-token cross-entropy over labelled positions, when labels were given. */
  readonly loss: Tensor | undefined;
}

/** Where the visual tokens go in one sequence: text runs and image slots in order. */
type Segment = { readonly kind: 'text'; readonly ids: number[]; readonly labels: number[] } | { readonly kind: 'image' };

/** Options of LlavaModel construction. */
export interface LlavaModelOptions {
  /** Also build CLIP's post_layernorm (unused by LLaVA; kept so a loaded checkpoint saves whole). */
  readonly withPostLayerNorm?: boolean;
}

/** Vision tower + projector + language model, with canonical parameter names (vision., projector., text.). */
export class LlavaModel extends Module {
  readonly vision: ClipVisionTransformer;
  readonly projector: Projector;
  readonly text: LlamaForCausalLM;

  constructor(
    readonly config: LlavaConfig,
    source: WeightSource,
    options: LlavaModelOptions = {},
  ) {
    super();
    this.vision = this.module('vision', new ClipVisionTransformer(source, 'vision', config.vision, options));
    this.projector = this.module('projector', new Projector(source, 'projector', config.projector, config.vision.hiddenSize, config.text.hiddenSize));
    this.text = this.module('text', new LlamaForCausalLM(source, 'text', config.text));
    this.vision.setTrainable(false);
  }

  /** Visual tokens per image. */
  get tokensPerImage(): number {
    return imageTokenCount(this.config);
  }

  /** CLIP features (N, L, Cv) of the configured layer and strategy; with gradients only when the tower trains. */
  imageFeatures(pixels: Tensor): Tensor {
    const features = () => this.vision.features(pixels, featureLayerIndex(this.config), this.config.visionFeatureSelectStrategy);
    // Frozen (LLaVA's default) the tower records nothing; trained (--train-vision) it is on the tape.
    return this.vision.trainableParameters().some((p) => p.value.requiresGrad) ? features() : noGrad(features);
  }

  /** Visual token embeddings (N, L, C): frozen vision features through the projector (which may train). */
  encodeImages(pixels: Tensor): Tensor {
    return tidy(() => this.projector.forward(this.imageFeatures(pixels)));
  }

  /**
   * Splits ids into text runs and image slots (either image convention). Without images, `<image>`
   * ids are ordinary tokens embedded from their own row, as in transformers; -200 needs an image.
   */
  segments(ids: readonly number[], labels?: readonly number[], imagesGiven = true): Segment[] {
    const L = this.tokensPerImage;
    const imageId = this.config.imageTokenId;
    const out: Segment[] = [];
    let text: Segment & { kind: 'text' } = { kind: 'text', ids: [], labels: [] };
    const flush = () => {
      if (text.ids.length > 0) out.push(text);
      text = { kind: 'text', ids: [], labels: [] };
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === IMAGE_TOKEN_INDEX || (imagesGiven && id === imageId)) {
        const run = id === IMAGE_TOKEN_INDEX ? 1 : L;
        if (id === imageId && (ids.length - i < L || !ids.slice(i, i + L).every((x) => x === imageId))) {
          throw new Error(`input ids: image token ${imageId} at position ${i} is not followed by ${L - 1} more (an image takes ${L} tokens)`);
        }
        flush();
        out.push({ kind: 'image' });
        i += run - 1;
        continue;
      }
      if (!Number.isInteger(id) || id < 0 || id >= this.config.text.vocabSize) {
        throw new Error(`input ids: id ${id} at position ${i} is outside the vocabulary [0, ${this.config.text.vocabSize})`);
      }
      text.ids.push(id);
      text.labels.push(labels?.[i] ?? IGNORE_INDEX);
    }
    flush();
    return out;
  }

  /**
   * Embeds one sequence, putting image `firstImage + k` at its k-th image slot.
   * features: (N, L, C) from encodeImages.
   */
  spliceSequence(ids: readonly number[], features: Tensor | undefined, firstImage: number, labels?: readonly number[]): SplicedSequence & { images: number } {
    if (labels && labels.length !== ids.length) throw new Error(`labels: ${labels.length} entries for ${ids.length} ids`);
    const segs = this.segments(ids, labels, features !== undefined);
    let images = 0;
    const outLabels: number[] = [];
    const embeds = tidy(() => {
      const pieces = segs.map((s) => {
        if (s.kind === 'text') {
          outLabels.push(...s.labels);
          const idt = tensor(s.ids, [s.ids.length], { dtype: 'i32' });
          return this.text.embed(idt);
        }
        const index = firstImage + images++;
        if (!features || index >= features.dim(0)) throw new Error(`input ids hold more images than the ${features?.dim(0) ?? 0} given`);
        for (let k = 0; k < features.dim(1); k++) outLabels.push(IGNORE_INDEX);
        return select(features, 0, index);
      });
      return pieces.length === 1 ? pieces[0]! : concat(pieces, 0);
    });
    return { embeds, labels: labels ? outLabels : undefined, images };
  }

  /** Pads spliced sequences to one length: zero embeddings, masked keys, positions counting real tokens. */
  padBatch(seqs: readonly SplicedSequence[], side: PaddingSide): PaddedBatch {
    const lengths = seqs.map((s) => s.embeds.dim(0));
    const T = Math.max(...lengths);
    const C = this.config.text.hiddenSize;
    const padded = lengths.some((n) => n !== T);
    const positions = new Int32Array(seqs.length * T);
    const mask = new Float32Array(seqs.length * T);
    const labels: number[] = [];
    const rows = seqs.map((s, b) => {
      const n = lengths[b]!;
      const start = side === 'left' ? T - n : 0;
      for (let t = 0; t < n; t++) {
        positions[b * T + start + t] = t;
        mask[b * T + start + t] = 1;
      }
      const rowLabels = new Array<number>(T).fill(IGNORE_INDEX);
      s.labels?.forEach((l, t) => (rowLabels[start + t] = l));
      labels.push(...rowLabels);
      if (n === T) return s.embeds;
      const pad = zeros([T - n, C]);
      const row = concat(side === 'left' ? [pad, s.embeds] : [s.embeds, pad], 0);
      pad.dispose();
      return row;
    });
    const embeds = stack(rows, 0);
    rows.forEach((r, b) => r !== seqs[b]!.embeds && r.dispose());
    return {
      embeds,
      positions: tensor(positions, [seqs.length, T], { dtype: 'i32' }),
      keyMask: padded ? tensor(mask, [seqs.length, T]) : undefined,
      lengths,
      labels: seqs.every((s) => s.labels) ? labels : undefined,
    };
  }

  /** Encodes the images, splices every sequence and pads the batch. */
  prepare(inputs: LlavaInputs): PaddedBatch {
    if (inputs.inputIds.length === 0) throw new Error('input ids: empty batch');
    return tidy(() => {
      const features = inputs.pixelValues ? this.encodeImages(inputs.pixelValues) : undefined;
      let next = 0;
      const seqs = inputs.inputIds.map((ids, b) => {
        const s = this.spliceSequence(ids, features, next, inputs.labels?.[b]);
        next += s.images;
        return s;
      });
      if (features && next !== features.dim(0)) throw new Error(`${features.dim(0)} images given but the input ids hold ${next} image slots`);
      const longest = Math.max(...seqs.map((s) => s.embeds.dim(0)));
      const limit = this.config.text.maxPositionEmbeddings;
      if (longest > limit) throw new Error(`prompt of ${longest} tokens (visual tokens included) exceeds the model's context of ${limit}`);
      return this.padBatch(seqs, inputs.paddingSide ?? 'right');
    });
  }

  /** Final hidden states (B, T, C) of a prepared batch; appends to the cache when one is given. */
  decode(batch: PaddedBatch, cache?: KvCache): Tensor {
    const ctx: DecoderContext = { positions: batch.positions, keyMask: batch.keyMask, cache };
    return this.text.forward(batch.embeds, ctx);
  }

  /** Logits of every position and, given labels, the mean next-token loss (gradients reach projector and LLM). */
  forward(inputs: LlavaInputs): LlavaOutput {
    return tidy(() => {
      const batch = this.prepare(inputs);
      const logits = this.text.logits(this.decode(batch)); // (B, T, V)
      const loss = batch.labels ? shiftedLoss(logits, batch.labels, inputs.lossAveraging) : undefined;
      return { logits, loss };
    });
  }
}

/** Cross-entropy of logits[:, t] against labels[:, t + 1] (labels flat, B * T), averaged per token or per answer. */
export function shiftedLoss(logits: Tensor, labels: readonly number[], averaging: LossAveraging = 'token'): Tensor {
  return tidy(() => {
    const [B, T, V] = logits.shape as [number, number, number];
    const targets = new Int32Array(B * (T - 1));
    for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) targets[b * (T - 1) + t] = labels[b * T + t + 1]!;
    const inputs = reshape(narrow(logits, 1, 0, T - 1), [B * (T - 1), V]);
    const weights = averaging === 'turn' ? turnWeights(targets, B, T - 1) : undefined;
    return crossEntropy(inputs, tensor(targets, [B * (T - 1)], { dtype: 'i32' }), IGNORE_INDEX, weights);
  });
}

/** Row weights giving every run of learned targets (an answer) an equal share: 1 / (its length * runs in the batch). */
export function turnWeights(targets: Int32Array, rows: number, length: number): Float32Array {
  const weights = new Float32Array(targets.length);
  const runs: [number, number][] = [];
  for (let b = 0; b < rows; b++) {
    let start = -1;
    for (let t = 0; t <= length; t++) {
      const learned = t < length && targets[b * length + t] !== IGNORE_INDEX;
      if (learned && start < 0) start = b * length + t;
      if (!learned && start >= 0) {
        runs.push([start, b * length + t]);
        start = -1;
      }
    }
  }
  for (const [from, to] of runs) weights.fill(1 / ((to - from) * runs.length), from, to);
  return weights;
}
