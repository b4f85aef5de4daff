// The CLIP text transformer (HF CLIPTextTransformer): token + position embeddings, the vision
// tower's pre-LN encoder layers run causally, a final LayerNorm, one vector per caption at its EOS.
// Stage 0a trains it against the vision tower. Shapes: N rows, T positions, C width, V vocabulary.
import { tensor, type Tensor } from '../tensor/tensor.js';
import { add } from '../tensor/ops/elementwise.js';
import { embedding } from '../tensor/ops/nn.js';
import { narrow, reshape } from '../tensor/ops/view.js';
import { tidy } from '../tensor/scope.js';
import { ModuleList } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import { Embedding, Group, LayerNorm, SourcedModule, WeightOnly, type WeightSource } from '../nn/layers.js';
import type { Activation } from './config.js';
import { ClipEncoderLayer } from './clipVit.js';

/** CLIP text transformer (HF CLIPTextConfig, the fields this model reads). */
export interface ClipTextConfig {
  /** Rows of the token embedding (at least the tokenizer's vocabulary). */
  readonly vocabSize: number;
  /** Transformer width. */
  readonly hiddenSize: number;
  /** MLP inner width. */
  readonly intermediateSize: number;
  /** Encoder layers. */
  readonly numLayers: number;
  /** Attention heads (hiddenSize / numHeads per head). */
  readonly numHeads: number;
  /** Longest row in tokens, EOS included (rows of the position embedding). */
  readonly maxPositions: number;
  /** LayerNorm epsilon. */
  readonly layerNormEps: number;
  /** MLP activation (CLIP: quick_gelu). */
  readonly hiddenAct: Activation;
}

/** CLIP's values of the fields a caller may leave to it (HF CLIPTextConfig defaults). */
export const CLIP_TEXT_DEFAULTS: Pick<ClipTextConfig, 'layerNormEps' | 'hiddenAct'> = { layerNormEps: 1e-5, hiddenAct: 'quick_gelu' };

/** Token rows right-padded to one width: what the text tower takes. */
export interface TextBatch {
  /** Ids, row-major (N, T); positions past a row's length hold padding. */
  readonly ids: Int32Array;
  /** Real tokens of each row (its last one is the EOS the row is pooled at). */
  readonly lengths: readonly number[];
  /** T: the longest row. */
  readonly width: number;
}

/** Right-pads rows of token ids to the longest one with padId. */
export function padRows(rows: readonly (readonly number[])[], padId = 0): TextBatch {
  const width = Math.max(0, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * width).fill(padId);
  rows.forEach((r, i) => ids.set(r, i * width));
  return { ids, lengths: rows.map((r) => r.length), width };
}

/** The CLIP text tower; pooled() gives one vector per row, lastHiddenState() every position. */
export class ClipTextTransformer extends SourcedModule {
  readonly tokenEmbedding: Embedding;
  readonly positionEmbedding: Parameter;
  readonly layers: ModuleList<ClipEncoderLayer>;
  readonly finalLayerNorm: LayerNorm;

  constructor(
    source: WeightSource,
    prefix: string,
    readonly config: ClipTextConfig,
  ) {
    super(source, prefix);
    const { vocabSize: V, hiddenSize: C, maxPositions, layerNormEps: eps } = config;
    if (C % config.numHeads !== 0) throw new Error(`text tower: width ${C} is not a multiple of ${config.numHeads} heads`);
    const embeddings = this.module('embeddings', new Group());
    this.tokenEmbedding = embeddings.add('token_embedding', new Embedding(source, this.child('embeddings.token_embedding'), V, C));
    this.positionEmbedding = embeddings.add('position_embedding', new WeightOnly(source, this.child('embeddings.position_embedding'), [maxPositions, C], 'embedding')).weightParam;
    const layers = Array.from({ length: config.numLayers }, (_, i) => new ClipEncoderLayer(source, this.child(`encoder.layers.${i}`), config, { causal: true }));
    this.layers = this.module('encoder', new Group()).add('layers', new ModuleList(layers));
    this.finalLayerNorm = this.module('final_layer_norm', new LayerNorm(source, this.child('final_layer_norm'), C, eps));
  }

  /** Encoder output before the final LayerNorm: (N, T, C). */
  private encode(batch: TextBatch): Tensor {
    this.check(batch);
    return tidy(() => {
      const N = batch.lengths.length;
      const T = batch.width;
      const ids = tensor(batch.ids, [N, T], { dtype: 'i32', backend: this.positionEmbedding.value.backend });
      let h = add(this.tokenEmbedding.forward(ids), narrow(this.positionEmbedding.value, 0, 0, T)); // (N, T, C)
      for (const layer of this.layers.items) h = layer.forward(h);
      return h;
    });
  }

  /** HF last_hidden_state: every position after the final LayerNorm, (N, T, C). */
  lastHiddenState(batch: TextBatch): Tensor {
    return tidy(() => this.finalLayerNorm.forward(this.encode(batch)));
  }

  /**
   * HF pooler_output: the final-LayerNormed state at each row's last real token, (N, C). Causal
   * attention keeps the padding after it out of reach, so a padded row pools as it would alone.
   */
  pooled(batch: TextBatch): Tensor {
    return tidy(() => {
      const h = this.encode(batch);
      const [N, T, C] = h.shape as [number, number, number];
      const last = Int32Array.from(batch.lengths, (len, n) => n * T + len - 1);
      const rows = tensor(last, [N], { dtype: 'i32', backend: h.backend });
      // LayerNorm is per position, so normalising only the pooled rows gives HF's values.
      return this.finalLayerNorm.forward(embedding(reshape(h, [N * T, C]), rows)); // (N, C)
    });
  }

  private check(batch: TextBatch): void {
    const { vocabSize, maxPositions } = this.config;
    const N = batch.lengths.length;
    if (N === 0) throw new Error('text tower: empty batch');
    if (batch.ids.length !== N * batch.width) throw new Error(`text tower: ${batch.ids.length} ids for ${N} rows of ${batch.width}`);
    if (batch.width > maxPositions) throw new Error(`text tower: rows of ${batch.width} tokens exceed the ${maxPositions} positions`);
    for (const len of batch.lengths) {
      if (!Number.isInteger(len) || len < 1 || len > batch.width) throw new Error(`text tower: row length ${len} is not in 1..${batch.width}`);
    }
    for (const id of batch.ids) {
      if (!(id >= 0 && id < vocabSize)) throw new Error(`text tower: token id ${id} is outside the vocabulary of ${vocabSize}`);
    }
  }
}
