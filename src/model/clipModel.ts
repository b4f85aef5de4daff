// The CLIP dual encoder (HF CLIPModel): vision and text towers, bias-free projections into one
// embedding space, a learned temperature and the symmetric InfoNCE loss stage 0a trains with.
// Shapes: N image-caption pairs, C tower width, E projection width.
import { full, tensor, type Tensor } from '../tensor/tensor.js';
import { add, exp, mul, rsqrt } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/matmul.js';
import { crossEntropy } from '../tensor/ops/nn.js';
import { sumSquares } from '../tensor/ops/reduce.js';
import { narrow, reshape, transpose } from '../tensor/ops/view.js';
import { randn } from '../tensor/ops/random.js';
import type { Rng } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import { Linear, randomWeights, type WeightSource } from '../nn/layers.js';
import type { VisionConfig } from './config.js';
import { ClipVisionTransformer } from './clipVit.js';
import { ClipTextTransformer, type ClipTextConfig, type TextBatch } from './clipText.js';

/** CLIP's starting temperature 0.07, as the logit scale ln(1 / 0.07) that is learned. */
export const LOGIT_SCALE_INIT = Math.log(1 / 0.07);
/** Largest logit scale, ln(100): CLIP clips the learned temperature at 0.01. */
export const LOGIT_SCALE_MAX = Math.log(100);

/** A CLIP model: its two towers and the shared embedding width. */
export interface ClipModelConfig {
  readonly vision: VisionConfig;
  readonly text: ClipTextConfig;
  /** Width of the shared image-text embedding space. */
  readonly projectionDim: number;
}

/** What a forward pass over N pairs gives. */
export interface ClipOutput {
  /** exp(logit_scale) * cosine similarity of image i and caption j: (N, N). */
  readonly logitsPerImage: Tensor;
  /** Symmetric InfoNCE: the mean of the image->text and text->image cross-entropies, scalar. */
  readonly loss: Tensor;
}

/**
 * The boxed objects of a batch: each region's mean over the patch tokens inside its box, and the
 * phrase ("red circle") it must be closest to among the batch's distinct phrases.
 */
export interface RegionBatch {
  /** (R, N * S) row-major: region r's weight on token s of image n (1/k over its k patches). */
  readonly pooling: Float32Array;
  /** The batch's distinct phrases as token rows. */
  readonly phrases: TextBatch;
  /** R indices into phrases. */
  readonly targets: readonly number[];
}

/** The dual encoder under HF CLIPModel's parameter names (vision_model.*, text_model.*, ...). */
export class ClipModel extends Module {
  readonly vision: ClipVisionTransformer;
  readonly text: ClipTextTransformer;
  readonly visualProjection: Linear;
  readonly textProjection: Linear;
  readonly logitScale: Parameter;

  constructor(
    source: WeightSource,
    readonly config: ClipModelConfig,
  ) {
    super();
    const { vision, text, projectionDim: E } = config;
    // CLIP pools the CLS token through post_layernorm, so it trains here (LLaVA never reads it).
    this.vision = this.module('vision_model', new ClipVisionTransformer(source, 'vision_model', vision, { withPostLayerNorm: true }));
    this.text = this.module('text_model', new ClipTextTransformer(source, 'text_model', text));
    this.visualProjection = this.module('visual_projection', new Linear(source, 'visual_projection', vision.hiddenSize, E, false));
    this.textProjection = this.module('text_projection', new Linear(source, 'text_projection', text.hiddenSize, E, false));
    this.logitScale = this.param('logit_scale', full([], LOGIT_SCALE_INIT));
  }

  /** Image embeddings (N, E): the projected post-LayerNormed CLS state of the last layer. */
  imageEmbeds(pixels: Tensor): Tensor {
    return tidy(() => this.embedCls(this.vision.hiddenState(pixels, this.config.vision.numLayers)));
  }

  /** The embedding of the CLS token of last-layer states h (N, S, C): (N, E). */
  private embedCls(h: Tensor): Tensor {
    return tidy(() => this.embedVisual(reshape(narrow(h, 1, 0, 1), [h.dim(0), h.dim(2)])));
  }

  /** Tower states (M, C) into the shared space: post_layernorm, then the visual projection. */
  private embedVisual(x: Tensor): Tensor {
    return tidy(() => this.visualProjection.forward(this.vision.postLayerNorm!.forward(x)));
  }

  /** Caption embeddings (N, E): the projected state at each row's EOS. */
  textEmbeds(batch: TextBatch): Tensor {
    return tidy(() => this.textProjection.forward(this.text.pooled(batch)));
  }

  /** Logits and loss of N pairs, pair i being image i with caption i. */
  forward(pixels: Tensor, batch: TextBatch): ClipOutput {
    return tidy(() => contrastiveLoss(this.imageEmbeds(pixels), this.textEmbeds(batch), this.logitScale.value));
  }

  /**
   * The image-caption loss plus the region-phrase loss over one pass of the vision tower.
   * Regions are pooled from hidden state `regionLayer` (the one LLaVA's projector reads), so
   * what tells a circle from a star is learned in the patch tokens LLaVA sees, not only in CLS.
   */
  forwardWithRegions(pixels: Tensor, batch: TextBatch, regions: RegionBatch, regionLayer: number): ClipOutput & { readonly regionLoss: Tensor; readonly regionLogits: Tensor } {
    return tidy(() => {
      const L = this.config.vision.numLayers;
      if (!Number.isInteger(regionLayer) || regionLayer < 1 || regionLayer > L) throw new Error(`clip: region layer ${regionLayer} is not one of 1..${L}`);
      const tap = this.vision.hiddenState(pixels, regionLayer); // (N, S, C)
      let h = tap;
      for (let i = regionLayer; i < L; i++) h = this.vision.layers.items[i]!.forward(h);
      const pairs = contrastiveLoss(this.embedCls(h), this.textEmbeds(batch), this.logitScale.value);
      const [N, S, C] = tap.shape as [number, number, number];
      const pool = tensor(regions.pooling, [regions.targets.length, N * S], { backend: pixels.backend });
      const regionEmbeds = this.embedVisual(matmul(pool, reshape(tap, [N * S, C]))); // (R, E)
      const regionLogits = scaledCosine(regionEmbeds, this.textEmbeds(regions.phrases), this.logitScale.value);
      const targets = tensor(Int32Array.from(regions.targets), [regions.targets.length], { dtype: 'i32', backend: pixels.backend });
      const regionLoss = crossEntropy(regionLogits, targets);
      return { ...pairs, regionLoss, regionLogits };
    });
  }

  /** Clips the learned logit scale to at most ln(100) (after each optimiser step, as CLIP does). */
  clampLogitScale(): void {
    const p = this.logitScale.value;
    if (p.item() > LOGIT_SCALE_MAX) p.backend.write(p.ptr, Float32Array.of(LOGIT_SCALE_MAX));
  }
}

/** Rows scaled to unit L2 norm. */
function normalizeRows(x: Tensor): Tensor {
  return tidy(() => mul(x, rsqrt(sumSquares(x, -1, true))));
}

/** exp(logitScale) * the cosine similarity of every row of a (M, E) with every row of b (K, E): (M, K). */
function scaledCosine(a: Tensor, b: Tensor, logitScale: Tensor): Tensor {
  return tidy(() => mul(matmul(normalizeRows(a), transpose(normalizeRows(b))), exp(logitScale)));
}

/**
 * CLIP's loss from unnormalised embeddings image (N, E), text (N, E) and the logit scale (scalar):
 * logits = exp(scale) * norm(image) @ norm(text)^T; loss = (CE(logits, i) + CE(logits^T, i)) / 2.
 */
export function contrastiveLoss(imageEmbeds: Tensor, textEmbeds: Tensor, logitScale: Tensor): ClipOutput {
  return tidy(() => {
    const N = imageEmbeds.dim(0);
    if (textEmbeds.dim(0) !== N) throw new Error(`contrastive loss: ${N} images but ${textEmbeds.dim(0)} captions`);
    const logitsPerImage = scaledCosine(imageEmbeds, textEmbeds, logitScale); // (N, N)
    const targets = tensor(Int32Array.from({ length: N }, (_, i) => i), [N], { dtype: 'i32', backend: imageEmbeds.backend });
    const imageToText = crossEntropy(logitsPerImage, targets);
    const textToImage = crossEntropy(transpose(logitsPerImage), targets);
    const loss = mul(add(imageToText, textToImage), 0.5);
    return { logitsPerImage, loss };
  });
}

/** Width and depth of one tower, which CLIP's init scales by. */
interface TowerShape {
  readonly width: number;
  readonly layers: number;
}

/** Modules whose weights CLIP initialises by the tower's shape (the rest: N(0, 0.02), norms ones, biases zeros). */
type ScaledModule = 'q_proj' | 'k_proj' | 'v_proj' | 'out_proj' | 'fc1' | 'fc2' | 'class_embedding' | 'visual_projection' | 'text_projection';

/** Std per module, from HF CLIPPreTrainedModel._init_weights (factor 1). */
const CLIP_INIT_STD: { readonly [M in ScaledModule]: (t: TowerShape) => number } = {
  q_proj: (t) => t.width ** -0.5 * (2 * t.layers) ** -0.5,
  k_proj: (t) => t.width ** -0.5 * (2 * t.layers) ** -0.5,
  v_proj: (t) => t.width ** -0.5 * (2 * t.layers) ** -0.5,
  out_proj: (t) => t.width ** -0.5,
  fc1: (t) => (2 * t.width) ** -0.5,
  fc2: (t) => t.width ** -0.5 * (2 * t.layers) ** -0.5,
  class_embedding: (t) => t.width ** -0.5,
  visual_projection: (t) => t.width ** -0.5,
  text_projection: (t) => t.width ** -0.5,
};

function isScaledModule(name: string | undefined): name is ScaledModule {
  return name !== undefined && Object.hasOwn(CLIP_INIT_STD, name);
}

/**
 * CLIP's seeded init: matrices scaled by 1/sqrt(width) (and depth), token, position and patch
 * embeddings N(0, 0.02), norms ones, biases zeros. A flat 0.02 shrinks what a matrix passes on
 * by 0.02 sqrt(width), so in narrow towers the CLS token hardly sees the image and training
 * stalls: at width 128 the flat init was still near chance after 150 steps, this one at 30%.
 */
export function clipInitWeights(rng: Rng, config: ClipModelConfig): WeightSource {
  const vision = { width: config.vision.hiddenSize, layers: config.vision.numLayers };
  const text = { width: config.text.hiddenSize, layers: config.text.numLayers };
  const towers: { readonly [top: string]: TowerShape } = { vision_model: vision, visual_projection: vision, text_model: text, text_projection: text };
  const flat = randomWeights(rng);
  return (name, shape, role) => {
    const parts = name.split('.');
    const tower = towers[parts[0]!];
    // Matrices are `<module>.weight`; the class embedding is a parameter of its own.
    const module = role === 'matrix' ? parts.at(-2) : role === 'embedding' ? parts.at(-1) : undefined;
    if (!tower || !isScaledModule(module)) return flat(name, shape, role);
    return randn(shape, rng, CLIP_INIT_STD[module](tower));
  };
}
