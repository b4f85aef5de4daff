// The CLIP vision transformer LLaVA uses as its image encoder (HF CLIPVisionTransformer):
// patch + class + position embeddings, pre-LN, encoder layers (the text tower's too), feature layer selection.
// Shapes: N images, L patches, S = L + 1 tokens (CLS first), C width, H heads, D = C / H.
import type { Tensor } from '../tensor/tensor.js';
import { add } from '../tensor/ops/elementwise.js';
import { concat } from '../tensor/ops/join.js';
import { attention, patchEmbed } from '../tensor/ops/nn.js';
import { expand, narrow, permute, reshape } from '../tensor/ops/view.js';
import { tidy } from '../tensor/scope.js';
import { formatShape } from '../tensor/shape.js';
import { ModuleList } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import { numPatches, type FeatureSelectStrategy, type VisionConfig } from './config.js';
import { Group, WeightOnly, LayerNorm, Linear, SourcedModule, type WeightSource } from '../nn/layers.js';
import { activate } from './activation.js';

/** Class, patch and position embeddings: pixels (N, 3, H, W) -> (N, S, C). */
export class ClipEmbeddings extends SourcedModule {
  readonly classEmbedding: Parameter;
  readonly patchEmbedding: Parameter;
  readonly positionEmbedding: Parameter;

  constructor(
    source: WeightSource,
    prefix: string,
    readonly config: VisionConfig,
  ) {
    super(source, prefix);
    const C = config.hiddenSize;
    const P = config.patchSize;
    this.classEmbedding = this.weight('class_embedding', [C], 'embedding');
    this.patchEmbedding = this.module('patch_embedding', new WeightOnly(source, this.child('patch_embedding'), [C, config.numChannels, P, P], 'matrix')).weightParam;
    this.positionEmbedding = this.module('position_embedding', new WeightOnly(source, this.child('position_embedding'), [numPatches(config) + 1, C], 'embedding')).weightParam;
  }

  forward(pixels: Tensor): Tensor {
    return tidy(() => {
      const { imageSize, numChannels, hiddenSize: C } = this.config;
      const [N, ch, h, w] = pixels.shape as [number, number, number, number];
      if (pixels.ndim !== 4 || ch !== numChannels || h !== imageSize || w !== imageSize) {
        throw new Error(`vision: pixel values ${formatShape(pixels.shape)} do not fit the config (N, ${numChannels}, ${imageSize}, ${imageSize})`);
      }
      const patches = patchEmbed(pixels, this.patchEmbedding.value); // (N, L, C)
      const cls = expand(reshape(this.classEmbedding.value, [1, 1, C]), [N, 1, C]);
      const tokens = concat([cls, patches], 1); // (N, S, C)
      return add(tokens, this.positionEmbedding.value);
    });
  }
}

/** What an encoder layer reads of its tower's config (the vision and the text tower share the layer). */
export type ClipEncoderConfig = Pick<VisionConfig, 'hiddenSize' | 'intermediateSize' | 'numHeads' | 'layerNormEps' | 'hiddenAct'>;

/** Options of ClipAttention and ClipEncoderLayer. */
export interface ClipLayerOptions {
  /** Each position attends only to itself and earlier ones (the text tower); default false (vision). */
  readonly causal?: boolean;
}

/** Multi-head self-attention with biased q/k/v/out projections; no mask, or a causal one. */
export class ClipAttention extends SourcedModule {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly out: Linear;
  readonly causal: boolean;

  constructor(
    source: WeightSource,
    prefix: string,
    readonly config: ClipEncoderConfig,
    options: ClipLayerOptions = {},
  ) {
    super(source, prefix);
    this.causal = options.causal ?? false;
    const C = config.hiddenSize;
    this.q = this.module('q_proj', new Linear(source, this.child('q_proj'), C, C, true));
    this.k = this.module('k_proj', new Linear(source, this.child('k_proj'), C, C, true));
    this.v = this.module('v_proj', new Linear(source, this.child('v_proj'), C, C, true));
    this.out = this.module('out_proj', new Linear(source, this.child('out_proj'), C, C, true));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const [N, S, C] = x.shape as [number, number, number];
      const H = this.config.numHeads;
      const D = C / H;
      const heads = (t: Tensor) => permute(reshape(t, [N, S, H, D]), [0, 2, 1, 3]); // (N, H, S, D)
      const y = attention(heads(this.q.forward(x)), heads(this.k.forward(x)), heads(this.v.forward(x)), { causal: this.causal });
      return this.out.forward(reshape(permute(y, [0, 2, 1, 3]), [N, S, C]));
    });
  }
}

/** Pre-LN encoder layer: x + attn(ln1(x)); x + fc2(act(fc1(ln2(x)))). */
export class ClipEncoderLayer extends SourcedModule {
  readonly ln1: LayerNorm;
  readonly attn: ClipAttention;
  readonly ln2: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(
    source: WeightSource,
    prefix: string,
    readonly config: ClipEncoderConfig,
    options: ClipLayerOptions = {},
  ) {
    super(source, prefix);
    const { hiddenSize: C, intermediateSize: M, layerNormEps: eps } = config;
    this.attn = this.module('self_attn', new ClipAttention(source, this.child('self_attn'), config, options));
    this.ln1 = this.module('layer_norm1', new LayerNorm(source, this.child('layer_norm1'), C, eps));
    const mlp = this.module('mlp', new Group());
    this.fc1 = mlp.add('fc1', new Linear(source, this.child('mlp.fc1'), C, M, true));
    this.fc2 = mlp.add('fc2', new Linear(source, this.child('mlp.fc2'), M, C, true));
    this.ln2 = this.module('layer_norm2', new LayerNorm(source, this.child('layer_norm2'), C, eps));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const h = add(x, this.attn.forward(this.ln1.forward(x)));
      const m = this.fc2.forward(activate(this.fc1.forward(this.ln2.forward(h)), this.config.hiddenAct));
      return add(h, m);
    });
  }
}

/** Options of ClipVisionTransformer. */
export interface ClipVisionOptions {
  /** Build the unused post_layernorm too (checkpoints have it; saving round-trips it). */
  readonly withPostLayerNorm?: boolean;
}

/**
 * The CLIP vision tower. Only the layers up to the feature layer are run; hidden state 0 is
 * the pre-LN'd embedding output, hidden state i the output of layer i.
 */
export class ClipVisionTransformer extends SourcedModule {
  readonly embeddings: ClipEmbeddings;
  readonly preLayerNorm: LayerNorm;
  readonly layers: ModuleList<ClipEncoderLayer>;
  readonly postLayerNorm: LayerNorm | undefined;

  constructor(
    source: WeightSource,
    prefix: string,
    readonly config: VisionConfig,
    options: ClipVisionOptions = {},
  ) {
    super(source, prefix);
    const C = config.hiddenSize;
    this.embeddings = this.module('embeddings', new ClipEmbeddings(source, this.child('embeddings'), config));
    this.preLayerNorm = this.module('pre_layrnorm', new LayerNorm(source, this.child('pre_layrnorm'), C, config.layerNormEps));
    const layers = Array.from({ length: config.numLayers }, (_, i) => new ClipEncoderLayer(source, this.child(`encoder.layers.${i}`), config));
    this.layers = this.module('encoder', new Group()).add('layers', new ModuleList(layers));
    this.postLayerNorm = options.withPostLayerNorm
      ? this.module('post_layernorm', new LayerNorm(source, this.child('post_layernorm'), C, config.layerNormEps))
      : undefined;
  }

  /** hidden_states[index] for pixels (N, 3, H, W): (N, S, C). */
  hiddenState(pixels: Tensor, index: number): Tensor {
    if (!Number.isInteger(index) || index < 0 || index > this.config.numLayers) {
      throw new Error(`vision: hidden state ${index} does not exist (0..${this.config.numLayers})`);
    }
    return tidy(() => {
      let h = this.preLayerNorm.forward(this.embeddings.forward(pixels));
      for (let i = 0; i < index; i++) h = this.layers.items[i]!.forward(h);
      return h;
    });
  }

  /** LLaVA's image features: the configured hidden state, CLS dropped unless the strategy is 'full'. */
  features(pixels: Tensor, layerIndex: number, strategy: FeatureSelectStrategy): Tensor {
    return tidy(() => {
      const h = this.hiddenState(pixels, layerIndex);
      switch (strategy) {
        case 'full':
          return h;
        case 'default':
          return narrow(h, 1, 1, h.dim(1) - 1);
        default:
          return strategy satisfies never;
      }
    });
  }
}
