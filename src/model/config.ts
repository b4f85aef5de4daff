// Typed configs of the LLaVA model (CLIP vision tower, projector, LLaMA text model, the wrapper) and llava-hf config.json I/O.
// One description of shapes for everything: our named configs and real llava-hf checkpoints map onto the same types.
//
// llava-hf's config.json leaves out every field that has a transformers default (CLIPVisionConfig,
// LlamaConfig, LlavaConfig); the parser fills them with those same defaults, checked against
// the transformers source. transformers 4.x writes `rope_theta` and `torch_dtype`, 5.x writes
// `rope_parameters: {rope_type, rope_theta}` and `dtype`; both are read.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Activations the model modules implement. */
export type Activation = 'quick_gelu' | 'gelu' | 'silu';

/** Which rows of the chosen vision layer become visual tokens: "default" drops CLS, "full" keeps it. */
export type FeatureSelectStrategy = 'default' | 'full';

/** Checkpoint weight naming of a llava-hf model directory. */
export type HfLayout = 'transformers-4' | 'transformers-5';

/** CLIP vision transformer. */
export interface VisionConfig {
  /** Side of the square input image, pixels. */
  readonly imageSize: number;
  /** Side of a patch (conv kernel = stride), pixels. */
  readonly patchSize: number;
  /** Input channels (RGB). */
  readonly numChannels: number;
  /** Transformer width. */
  readonly hiddenSize: number;
  /** MLP inner width. */
  readonly intermediateSize: number;
  /** Encoder layers. */
  readonly numLayers: number;
  /** Attention heads (hiddenSize / numHeads per head). */
  readonly numHeads: number;
  /** LayerNorm epsilon. */
  readonly layerNormEps: number;
  /** MLP activation (CLIP: quick_gelu). */
  readonly hiddenAct: Activation;
}

/** Vision-to-text projector: `depth` Linear layers with `hiddenAct` between them (v1 `linear`, v1.5 `mlp2x_gelu`). */
export interface ProjectorConfig {
  /** Number of Linear layers: 1 = "linear", N = "mlpNx_gelu". */
  readonly depth: number;
  /** Activation between the Linear layers. */
  readonly hiddenAct: Activation;
  /** Whether the Linear layers have biases (llava-hf `multimodal_projector_bias`). */
  readonly bias: boolean;
}

/** LLaMA-architecture language model. */
export interface TextConfig {
  /** Rows of the embedding table and lm_head (llava-hf pads, e.g. 32064). */
  readonly vocabSize: number;
  /** Model width. */
  readonly hiddenSize: number;
  /** SwiGLU inner width. */
  readonly intermediateSize: number;
  /** Decoder layers. */
  readonly numLayers: number;
  /** Query heads. */
  readonly numHeads: number;
  /** Key/value heads (grouped-query attention; = numHeads for multi-head). */
  readonly numKvHeads: number;
  /** Width of one head (hiddenSize / numHeads unless the config says otherwise). */
  readonly headDim: number;
  /** Longest sequence the model supports (prompt + generated). */
  readonly maxPositionEmbeddings: number;
  /** RMSNorm epsilon. */
  readonly rmsNormEps: number;
  /** Rotary base frequency. */
  readonly ropeTheta: number;
  /** MLP gate activation (LLaMA: silu). */
  readonly hiddenAct: Activation;
  /** lm_head shares the embedding matrix. */
  readonly tieWordEmbeddings: boolean;
  /** q/k/v/o projections have biases (Qwen2-style); false for LLaMA. */
  readonly attentionBias: boolean;
  /** gate/up/down projections have biases; false for LLaMA. */
  readonly mlpBias: boolean;
  /** Beginning-of-sequence id, or null. */
  readonly bosTokenId: number | null;
  /** End-of-sequence ids (generation stops on any). */
  readonly eosTokenIds: readonly number[];
}

/** The LLaVA wrapper: which vision features reach the language model, and where. */
export interface LlavaConfig {
  readonly vision: VisionConfig;
  readonly projector: ProjectorConfig;
  readonly text: TextConfig;
  /** Token id whose positions receive visual tokens (llava-hf `<image>`, 32000 for LLaVA-1.5). */
  readonly imageTokenId: number;
  /** Padding token id, or null. */
  readonly padTokenId: number | null;
  /** Index into the vision hidden states [embeddings, layer 1, ..., layer L]; negative counts from the end. */
  readonly visionFeatureLayer: number;
  /** "default" drops the CLS row, "full" keeps it. */
  readonly visionFeatureSelectStrategy: FeatureSelectStrategy;
}

/** transformers' CLIPVisionConfig defaults (CLIP ViT-B/32), used for fields a config.json leaves out. */
export const DEFAULT_VISION_CONFIG: VisionConfig = {
  imageSize: 224,
  patchSize: 32,
  numChannels: 3,
  hiddenSize: 768,
  intermediateSize: 3072,
  numLayers: 12,
  numHeads: 12,
  layerNormEps: 1e-5,
  hiddenAct: 'quick_gelu',
};

/** What LlavaConfig builds when config.json has no vision_config at all (CLIP ViT-L/14-336). */
export const LLAVA_DEFAULT_VISION_CONFIG: VisionConfig = {
  ...DEFAULT_VISION_CONFIG,
  imageSize: 336,
  patchSize: 14,
  hiddenSize: 1024,
  intermediateSize: 4096,
  numLayers: 24,
  numHeads: 16,
};

/** transformers' LlamaConfig defaults (LLaMA-7B); numKvHeads and headDim follow numHeads/hiddenSize when absent. */
export const DEFAULT_TEXT_CONFIG: TextConfig = {
  vocabSize: 32000,
  hiddenSize: 4096,
  intermediateSize: 11008,
  numLayers: 32,
  numHeads: 32,
  numKvHeads: 32,
  headDim: 128,
  maxPositionEmbeddings: 2048,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  hiddenAct: 'silu',
  tieWordEmbeddings: false,
  attentionBias: false,
  mlpBias: false,
  bosTokenId: 1,
  eosTokenIds: [2],
};

/** LlavaConfig's projector: mlp2x_gelu with biases. */
export const DEFAULT_PROJECTOR_CONFIG: ProjectorConfig = { depth: 2, hiddenAct: 'gelu', bias: true };
/** LlavaConfig's image_token_index (llava-hf's `<image>` after LLaMA's 32000 pieces). */
export const DEFAULT_IMAGE_TOKEN_ID = 32000;
/** LlavaConfig's vision_feature_layer: the second-to-last layer's output. */
export const DEFAULT_VISION_FEATURE_LAYER = -2;
/** LlavaConfig's vision_feature_select_strategy: drop CLS. */
export const DEFAULT_FEATURE_STRATEGY: FeatureSelectStrategy = 'default';

export const VISION_MODEL_TYPE = 'clip_vision_model';
export const TEXT_MODEL_TYPE = 'llama';
export const LLAVA_MODEL_TYPE = 'llava';
const ACTIVATIONS: readonly Activation[] = ['quick_gelu', 'gelu', 'silu'];
const STRATEGIES: readonly FeatureSelectStrategy[] = ['default', 'full'];
const PROJECTOR_TYPE = /^mlp(\d+)x_(\w+)$/;

/** A config.json field is missing, mistyped or inconsistent; the message names the file and field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

// ---------------------------------------------------------------- derived quantities

/** Patches per image side. */
export function patchesPerSide(v: VisionConfig): number {
  return v.imageSize / v.patchSize;
}

/** Patch tokens per image (without CLS). */
export function numPatches(v: VisionConfig): number {
  return patchesPerSide(v) ** 2;
}

/** Visual tokens per image the language model sees (llava-hf expands `<image>` to this many ids). */
export function imageTokenCount(c: LlavaConfig): number {
  return numPatches(c.vision) + (c.visionFeatureSelectStrategy === 'full' ? 1 : 0);
}

/** The vision hidden-state index as a non-negative position in [embeddings, layer 1, ..., layer L]. */
export function featureLayerIndex(c: LlavaConfig): number {
  const count = c.vision.numLayers + 1;
  return c.visionFeatureLayer < 0 ? count + c.visionFeatureLayer : c.visionFeatureLayer;
}

/** Vision encoder layers that must run to produce the features (later ones are skipped). */
export function visionLayersUsed(c: LlavaConfig): number {
  return featureLayerIndex(c);
}

/** Original-LLaVA name of a projector ("linear", "mlp2x_gelu"). */
export function projectorTypeName(p: ProjectorConfig): string {
  return p.depth === 1 ? 'linear' : `mlp${p.depth}x_${p.hiddenAct}`;
}

/** Parses an original-LLaVA projector name ("linear", "mlpNx_gelu"). */
export function parseProjectorType(name: string, bias = true): ProjectorConfig {
  if (name === 'linear') return { depth: 1, hiddenAct: DEFAULT_PROJECTOR_CONFIG.hiddenAct, bias };
  const m = PROJECTOR_TYPE.exec(name);
  const act = m?.[2];
  if (!m || !isActivation(act) || Number(m[1]) < 2) {
    throw new ConfigError(`projector type "${name}": expected "linear" or "mlpNx_<act>" with N >= 2 and act one of ${ACTIVATIONS.join(', ')}`);
  }
  return { depth: Number(m[1]), hiddenAct: act, bias };
}

function isActivation(s: unknown): s is Activation {
  return typeof s === 'string' && (ACTIVATIONS as readonly string[]).includes(s);
}

// ---------------------------------------------------------------- validation

/** Checks the cross-field rules every module relies on; throws ConfigError naming the field. */
export function validateLlavaConfig(c: LlavaConfig, source = 'config'): LlavaConfig {
  const bad = (field: string, problem: string): never => {
    throw new ConfigError(`${source}: ${field}: ${problem}`);
  };
  const v = c.vision;
  const t = c.text;
  if (v.imageSize % v.patchSize !== 0) bad('vision_config.image_size', `${v.imageSize} is not a multiple of patch_size ${v.patchSize}`);
  if (v.hiddenSize % v.numHeads !== 0) bad('vision_config.hidden_size', `${v.hiddenSize} is not a multiple of num_attention_heads ${v.numHeads}`);
  if (t.numHeads % t.numKvHeads !== 0) bad('text_config.num_key_value_heads', `${t.numKvHeads} does not divide num_attention_heads ${t.numHeads}`);
  if (t.headDim % 2 !== 0) bad('text_config.head_dim', `${t.headDim} is odd; rotary embeddings need an even head size`);
  if (c.projector.depth < 1) bad('projector', `depth ${c.projector.depth} must be at least 1`);
  const states = v.numLayers + 1;
  if (c.visionFeatureLayer < -states || c.visionFeatureLayer >= states) {
    bad('vision_feature_layer', `${c.visionFeatureLayer} is outside [-${states}, ${states - 1}] for ${v.numLayers} vision layers`);
  }
  if (c.imageTokenId < 0 || c.imageTokenId >= t.vocabSize) bad('image_token_index', `${c.imageTokenId} is outside the vocabulary (size ${t.vocabSize})`);
  if (c.padTokenId !== null && (c.padTokenId < 0 || c.padTokenId >= t.vocabSize)) {
    bad('pad_token_id', `${c.padTokenId} is outside the vocabulary (size ${t.vocabSize})`);
  }
  return c;
}

// ---------------------------------------------------------------- parsing config.json

type Json = Record<string, unknown>;

/** Typed access to one JSON object with defaults; errors name `source: path.field`. */
class Fields {
  constructor(
    private readonly obj: Json,
    private readonly path: string,
    private readonly source: string,
  ) {}

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  /** Throws a ConfigError about `key`, e.g. "config.json: text_config.hidden_size: <problem>". */
  error(key: string, problem: string): never {
    const where = this.path ? `${this.path}.${key}` : key;
    throw new ConfigError(`${this.source}: ${where}: ${problem}`);
  }

  private fail(key: string, expected: string): never {
    return this.error(key, `expected ${expected}, got ${JSON.stringify(this.obj[key])}`);
  }

  positiveInt(key: string, fallback: number): number {
    if (!this.has(key)) return fallback;
    const x = this.obj[key];
    return typeof x === 'number' && Number.isSafeInteger(x) && x > 0 ? x : this.fail(key, 'a positive integer');
  }

  int(key: string, fallback: number): number {
    if (!this.has(key)) return fallback;
    const x = this.obj[key];
    return typeof x === 'number' && Number.isSafeInteger(x) ? x : this.fail(key, 'an integer');
  }

  optionalInt(key: string, fallback: number | null): number | null {
    return this.has(key) ? this.int(key, 0) : fallback;
  }

  positiveNumber(key: string, fallback: number): number {
    if (!this.has(key)) return fallback;
    const x = this.obj[key];
    return typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : this.fail(key, 'a positive number');
  }

  bool(key: string, fallback: boolean): boolean {
    if (!this.has(key)) return fallback;
    const x = this.obj[key];
    return typeof x === 'boolean' ? x : this.fail(key, 'true or false');
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    if (!this.has(key)) return fallback;
    const x = this.obj[key];
    return typeof x === 'string' && (allowed as readonly string[]).includes(x) ? (x as T) : this.fail(key, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }

  string(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const x = this.obj[key];
    return typeof x === 'string' ? x : this.fail(key, 'a string');
  }

  object(key: string): Fields | undefined {
    if (!this.has(key)) return undefined;
    const x = this.obj[key];
    if (typeof x !== 'object' || Array.isArray(x)) this.fail(key, 'an object');
    return new Fields(x as Json, this.path ? `${this.path}.${key}` : key, this.source);
  }

  intList(key: string): number[] | undefined {
    if (!this.has(key)) return undefined;
    const x = this.obj[key];
    if (typeof x === 'number' && Number.isSafeInteger(x)) return [x];
    if (Array.isArray(x) && x.every((e) => typeof e === 'number' && Number.isSafeInteger(e))) return x as number[];
    return this.fail(key, 'an integer or a list of integers');
  }

  rawValue(key: string): unknown {
    return this.obj[key];
  }
}

function parseVisionConfig(f: Fields | undefined): VisionConfig {
  if (!f) return LLAVA_DEFAULT_VISION_CONFIG;
  f.oneOf('model_type', [VISION_MODEL_TYPE], VISION_MODEL_TYPE);
  const d = DEFAULT_VISION_CONFIG;
  return {
    imageSize: f.positiveInt('image_size', d.imageSize),
    patchSize: f.positiveInt('patch_size', d.patchSize),
    numChannels: f.positiveInt('num_channels', d.numChannels),
    hiddenSize: f.positiveInt('hidden_size', d.hiddenSize),
    intermediateSize: f.positiveInt('intermediate_size', d.intermediateSize),
    numLayers: f.positiveInt('num_hidden_layers', d.numLayers),
    numHeads: f.positiveInt('num_attention_heads', d.numHeads),
    layerNormEps: f.positiveNumber('layer_norm_eps', d.layerNormEps),
    hiddenAct: f.oneOf('hidden_act', ACTIVATIONS, d.hiddenAct),
  };
}

/** rope_theta from 4.x `rope_theta` or 5.x `rope_parameters`; scaled variants are refused. */
function parseRopeTheta(f: Fields, fallback: number): number {
  const params = f.object('rope_parameters');
  if (params) {
    params.oneOf('rope_type', ['default'], 'default');
    return params.positiveNumber('rope_theta', f.positiveNumber('rope_theta', fallback));
  }
  const scaling = f.object('rope_scaling');
  const kind = scaling?.string('rope_type') ?? scaling?.string('type');
  if (scaling && kind !== 'default') f.error('rope_scaling', `scaled rotary embeddings (${JSON.stringify(kind)}) are not supported`);
  return f.positiveNumber('rope_theta', fallback);
}

function parseTextConfig(f: Fields | undefined): TextConfig {
  const d = DEFAULT_TEXT_CONFIG;
  if (!f) return d;
  f.oneOf('model_type', [TEXT_MODEL_TYPE], TEXT_MODEL_TYPE);
  const hiddenSize = f.positiveInt('hidden_size', d.hiddenSize);
  const numHeads = f.positiveInt('num_attention_heads', d.numHeads);
  if (!f.has('head_dim') && hiddenSize % numHeads !== 0) {
    f.error('hidden_size', `${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`);
  }
  return {
    vocabSize: f.positiveInt('vocab_size', d.vocabSize),
    hiddenSize,
    intermediateSize: f.positiveInt('intermediate_size', d.intermediateSize),
    numLayers: f.positiveInt('num_hidden_layers', d.numLayers),
    numHeads,
    numKvHeads: f.positiveInt('num_key_value_heads', numHeads),
    headDim: f.positiveInt('head_dim', hiddenSize / numHeads),
    maxPositionEmbeddings: f.positiveInt('max_position_embeddings', d.maxPositionEmbeddings),
    rmsNormEps: f.positiveNumber('rms_norm_eps', d.rmsNormEps),
    ropeTheta: parseRopeTheta(f, d.ropeTheta),
    hiddenAct: f.oneOf('hidden_act', ['silu'], 'silu'),
    tieWordEmbeddings: f.bool('tie_word_embeddings', d.tieWordEmbeddings),
    attentionBias: f.bool('attention_bias', d.attentionBias),
    mlpBias: f.bool('mlp_bias', d.mlpBias),
    bosTokenId: f.optionalInt('bos_token_id', d.bosTokenId),
    eosTokenIds: f.intList('eos_token_id') ?? d.eosTokenIds,
  };
}

/**
 * Parses a llava-hf `config.json` (transformers 4.x or 5.x) into a LlavaConfig, filling omitted
 * fields with transformers' defaults. Throws ConfigError naming `source` and the field.
 */
export function parseLlavaHfConfig(json: unknown, source = 'config.json'): LlavaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(`${source}: expected a JSON object`);
  }
  const f = new Fields(json as Json, '', source);
  if (f.string('model_type') !== LLAVA_MODEL_TYPE) {
    throw new ConfigError(`${source}: model_type: expected "${LLAVA_MODEL_TYPE}", got ${JSON.stringify(f.rawValue('model_type'))}`);
  }
  const layers = f.intList('vision_feature_layer') ?? [DEFAULT_VISION_FEATURE_LAYER];
  if (layers.length !== 1) {
    throw new ConfigError(`${source}: vision_feature_layer: a list of layers (${JSON.stringify(layers)}) is not supported; give one index`);
  }
  const bias = f.bool('multimodal_projector_bias', DEFAULT_PROJECTOR_CONFIG.bias);
  const act = f.oneOf('projector_hidden_act', ACTIVATIONS, DEFAULT_PROJECTOR_CONFIG.hiddenAct);
  const projectorType = f.string('mm_projector_type');
  const parsedText = parseTextConfig(f.object('text_config'));
  // transformers ties the LM head to the embeddings when either level of the config says so.
  const text = f.bool('tie_word_embeddings', false) ? { ...parsedText, tieWordEmbeddings: true } : parsedText;
  const config: LlavaConfig = {
    vision: parseVisionConfig(f.object('vision_config')),
    projector: projectorType ? parseProjectorTypeAt(projectorType, bias, source) : { depth: 2, hiddenAct: act, bias },
    text,
    imageTokenId: f.has('image_token_index') ? f.int('image_token_index', 0) : f.int('image_token_id', DEFAULT_IMAGE_TOKEN_ID),
    padTokenId: f.optionalInt('pad_token_id', null),
    visionFeatureLayer: layers[0]!,
    visionFeatureSelectStrategy: f.oneOf('vision_feature_select_strategy', STRATEGIES, DEFAULT_FEATURE_STRATEGY),
  };
  return validateLlavaConfig(config, source);
}

function parseProjectorTypeAt(name: string, bias: boolean, source: string): ProjectorConfig {
  try {
    return parseProjectorType(name, bias);
  } catch (e) {
    throw new ConfigError(`${source}: mm_projector_type: ${(e as Error).message}`);
  }
}

/** Reads and parses `config.json` from a model directory (or a path to the file itself). */
export function readLlavaHfConfig(dirOrFile: string): LlavaConfig {
  const path = existsSync(dirOrFile) && statSync(dirOrFile).isDirectory() ? join(dirOrFile, 'config.json') : dirOrFile;
  if (!existsSync(path)) throw new ConfigError(`${path}: not found (a llava-hf model directory holds config.json)`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  return parseLlavaHfConfig(json, path);
}
