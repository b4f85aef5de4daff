// The vision half of a llama.cpp LLaVA pair: the CLIP "mmproj" GGUF (architecture "clip") holding
// the vision tower and the projector, as llama.cpp's LLaVA tools write it (tensors v.*, mm.*,
// metadata clip.*). Names, metadata and the feature layer, both directions.
//
// The feature layer: LLaVA reads CLIP's hidden_states[-2] (output of the second-to-last layer). The
// legacy converter (convert_image_encoder_to_gguf.py) drops the last layer and writes no
// clip.vision.feature_layer, so such a file's features are the output of its last stored layer
// (llama.cpp's own graph runs one layer fewer there: llama.cpp issue 25817; we follow LLaVA).
// When clip.vision.feature_layer is present it is the hidden-state index (0 = embeddings). We write
// every layer plus that index, which every llama.cpp since early 2025 reads, and which older ones
// (running block_count - 1 layers) also compute correctly for LLaVA's -2.
//
// CLIP's MLP: fc1 is ffn_up, fc2 ffn_down (today's naming); the legacy converter swapped them, and
// llama.cpp tells them apart by shape, as this reader does.
import type { LlavaConfig, ProjectorConfig, VisionConfig } from '../model/config.js';
import type { Tensor } from '../tensor/tensor.js';
import { CLIP_MEAN, CLIP_STD } from '../data/constants.js';
import { clipPreprocessorJson } from '../model/compose.js';
import { GgufError, type GgufTypedValue } from './format.js';
import type { GgmlType } from './ggmlTypes.js';
import { encodeGgml } from './llama.js';
import type { GgufMetadata } from './metadata.js';
import type { GgufTensorInfo } from './reader.js';
import type { GgufTensorOut } from './writer.js';

/** general.architecture of an mmproj file. */
export const CLIP_ARCHITECTURE = 'clip';
/** clip.projector_type of LLaVA's Linear-GELU-Linear projector. */
export const LLAVA_PROJECTOR_TYPE = 'mlp';
/** llama.cpp's tensor names of the projector's two Linear layers (mm.0, mm.2: the nn.Sequential indices). */
const PROJECTOR_INDEX = [0, 2] as const;

/** Whole-tower weights: canonical name -> mmproj name. */
const FIXED_NAMES: Readonly<Record<string, string>> = {
  'vision.embeddings.class_embedding': 'v.class_embd',
  'vision.embeddings.patch_embedding.weight': 'v.patch_embd.weight',
  'vision.embeddings.position_embedding.weight': 'v.position_embd.weight',
  'vision.pre_layrnorm.weight': 'v.pre_ln.weight',
  'vision.pre_layrnorm.bias': 'v.pre_ln.bias',
  'vision.post_layernorm.weight': 'v.post_ln.weight',
  'vision.post_layernorm.bias': 'v.post_ln.bias',
  ...Object.fromEntries(PROJECTOR_INDEX.flatMap((n, k) => ['weight', 'bias'].map((p) => [`projector.linear_${k + 1}.${p}`, `mm.${n}.${p}`]))),
};

/** Per-layer modules: path after `vision.encoder.layers.N.` -> after `v.blk.N.` (then .weight / .bias). */
const LAYER_NAMES: Readonly<Record<string, string>> = {
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.out_proj': 'attn_out',
  layer_norm1: 'ln1',
  layer_norm2: 'ln2',
  'mlp.fc1': 'ffn_up',
  'mlp.fc2': 'ffn_down',
};

const invert = (r: Readonly<Record<string, string>>): Readonly<Record<string, string>> => Object.fromEntries(Object.entries(r).map(([k, v]) => [v, k]));
const FIXED_CANONICAL = invert(FIXED_NAMES);
const LAYER_CANONICAL = invert(LAYER_NAMES);

/** The mmproj name of a canonical `vision.` / `projector.` weight, or undefined for one it has no place for. */
export function ggufClipName(canonical: string): string | undefined {
  if (Object.hasOwn(FIXED_NAMES, canonical)) return FIXED_NAMES[canonical];
  const m = /^vision\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(canonical);
  const tail = m && Object.hasOwn(LAYER_NAMES, m[2]!) ? LAYER_NAMES[m[2]!] : undefined;
  return tail ? `v.blk.${m![1]}.${tail}.${m![3]}` : undefined;
}

/** The canonical name of an mmproj tensor name (today's ffn naming), or undefined for one LLaVA has no place for. */
export function canonicalClipName(gguf: string): string | undefined {
  if (Object.hasOwn(FIXED_CANONICAL, gguf)) return FIXED_CANONICAL[gguf];
  const m = /^v\.blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(gguf);
  const tail = m && Object.hasOwn(LAYER_CANONICAL, m[2]!) ? LAYER_CANONICAL[m[2]!] : undefined;
  return tail ? `vision.encoder.layers.${m![1]}.${tail}.${m![3]}` : undefined;
}

/**
 * Canonical name -> tensor of an mmproj file. Layers whose ffn_down takes the tower's width are
 * legacy files with fc1/fc2 swapped (llama.cpp's test: ffn_down's ne[0] equals n_embd); unknown
 * names are errors.
 */
export function clipTensorTable(tensors: readonly GgufTensorInfo[], width: number, source: string): Map<string, GgufTensorInfo> {
  const table = new Map<string, GgufTensorInfo>();
  const unknown: string[] = [];
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const t of tensors) {
    let canonical = canonicalClipName(t.name);
    const m = /^v\.blk\.(\d+)\.ffn_(up|down)\.(weight|bias)$/.exec(t.name);
    const down = m ? byName.get(`v.blk.${m[1]}.ffn_down.weight`) : undefined;
    const up = m ? byName.get(`v.blk.${m[1]}.ffn_up.weight`) : undefined;
    if (m && down && up && down.dims[0] === width && up.dims[0] !== width) canonical = `vision.encoder.layers.${m[1]}.mlp.${m[2] === 'up' ? 'fc2' : 'fc1'}.${m[3]}`;
    if (canonical === undefined) unknown.push(t.name);
    else table.set(canonical, t);
  }
  if (unknown.length > 0) throw new GgufError(`${source}: tensors LLaVA's CLIP tower and mlp projector have no place for: ${unknown.slice(0, 8).join(', ')}${unknown.length > 8 ? ` and ${unknown.length - 8} more` : ''}`);
  return table;
}

// ---------------------------------------------------------------- writing

/** How images were prepared for the tower, as the mmproj records it. */
export interface ClipImageSettings {
  readonly imageMean: readonly number[];
  readonly imageStd: readonly number[];
  /** LLaVA-1.5's pad-to-square (clip.vision.image_aspect_ratio "pad"; "square" crops instead). */
  readonly doPad: boolean;
}

/** Why llama.cpp's LLaVA graph could not run this config; undefined when it can. */
export function clipUnsupported(c: LlavaConfig): string | undefined {
  if (c.visionFeatureSelectStrategy !== 'default') return `vision_feature_select_strategy "${c.visionFeatureSelectStrategy}": llama.cpp's LLaVA graph always drops the CLS token`;
  const p = c.projector;
  if (p.depth !== 2 || p.hiddenAct !== 'gelu' || !p.bias) return `projector ${p.depth} Linear layer(s) with ${p.hiddenAct}${p.bias ? '' : ', no bias'}: llama.cpp's "mlp" projector is Linear (with bias), GELU, Linear (with bias)`;
  return undefined;
}

/** The `general.*` and `clip.*` metadata of an mmproj for config `c`, with the file type code (0 F32, 1 F16). */
export function clipMetadata(c: LlavaConfig, images: ClipImageSettings, name: string, fileType: 0 | 1): Map<string, GgufTypedValue> {
  const v = c.vision;
  const featureLayer = c.visionFeatureLayer < 0 ? v.numLayers + 1 + c.visionFeatureLayer : c.visionFeatureLayer;
  return new Map<string, GgufTypedValue>([
    ['general.architecture', { type: 'string', value: CLIP_ARCHITECTURE }],
    ['general.name', { type: 'string', value: name }],
    ['general.description', { type: 'string', value: 'image encoder for LLaVA' }],
    ['general.file_type', { type: 'u32', value: fileType }],
    ['clip.has_text_encoder', { type: 'bool', value: false }],
    ['clip.has_vision_encoder', { type: 'bool', value: true }],
    ['clip.has_llava_projector', { type: 'bool', value: true }],
    ['clip.projector_type', { type: 'string', value: LLAVA_PROJECTOR_TYPE }],
    ['clip.vision.image_size', { type: 'u32', value: v.imageSize }],
    ['clip.vision.patch_size', { type: 'u32', value: v.patchSize }],
    ['clip.vision.embedding_length', { type: 'u32', value: v.hiddenSize }],
    ['clip.vision.feed_forward_length', { type: 'u32', value: v.intermediateSize }],
    ['clip.vision.projection_dim', { type: 'u32', value: c.text.hiddenSize }],
    ['clip.vision.attention.head_count', { type: 'u32', value: v.numHeads }],
    ['clip.vision.attention.layer_norm_epsilon', { type: 'f32', value: v.layerNormEps }],
    ['clip.vision.block_count', { type: 'u32', value: v.numLayers }],
    ['clip.vision.feature_layer', { type: 'array', itemType: 'i32', values: [featureLayer] }],
    ['clip.vision.image_mean', { type: 'array', itemType: 'f32', values: [...images.imageMean] }],
    ['clip.vision.image_std', { type: 'array', itemType: 'f32', values: [...images.imageStd] }],
    ['clip.vision.image_aspect_ratio', { type: 'string', value: images.doPad ? 'pad' : 'square' }],
    ['clip.use_gelu', { type: 'bool', value: v.hiddenAct === 'gelu' }],
    ['clip.use_silu', { type: 'bool', value: v.hiddenAct === 'silu' }],
  ]);
}

/**
 * The vision tower and projector as mmproj tensors: ggml dimension order, matrices (2-D weights,
 * the 4-D patch embedding, the position table) in `matrixType`, vectors F32. CLIP's
 * post_layernorm is left out: llama.cpp would apply it to LLaVA's features, which never see it.
 * Bytes are made when the writer asks, so the tensors must stay alive until then.
 */
export function clipTensors(weights: Iterable<readonly [string, Tensor]>, matrixType: 'F32' | 'F16'): GgufTensorOut[] {
  const out: GgufTensorOut[] = [];
  for (const [canonical, tensor] of weights) {
    const name = ggufClipName(canonical);
    if (!name || name.startsWith('v.post_ln.')) continue;
    const type: GgmlType = tensor.shape.length === 1 ? 'F32' : matrixType;
    out.push({ name, dims: [...tensor.shape].reverse(), type, data: () => encodeGgml(type, tensor.toArray() as Float32Array) });
  }
  return out;
}

// ---------------------------------------------------------------- reading

/** What an mmproj says about the vision half. */
export interface ClipSettings {
  readonly vision: VisionConfig;
  readonly projector: ProjectorConfig;
  /** Index into [embeddings, layer 1, ..., layer L], negative from the end as llava-hf writes it. */
  readonly visionFeatureLayer: number;
  /** The projector's output width (must equal the language model's). */
  readonly projectorWidth: number;
  /** preprocessor_config.json (CLIPImageProcessor) equivalent of the file's image settings. */
  readonly processorJson: Record<string, unknown>;
  /** Whether the file holds CLIP's post_layernorm (kept, never applied to LLaVA's features). */
  readonly hasPostLayerNorm: boolean;
}

function clipActivation(meta: GgufMetadata): VisionConfig['hiddenAct'] {
  if (meta.bool('clip.use_gelu', false)) return 'gelu';
  return meta.bool('clip.use_silu', false) ? 'silu' : 'quick_gelu';
}

/** The hidden-state index of the features, negative from the end (see the header). */
function featureLayerOf(meta: GgufMetadata, numLayers: number): number {
  const key = 'clip.vision.feature_layer';
  if (!meta.has(key)) return -1;
  const layers = meta.numbers(key);
  if (layers.length !== 1) meta.fail(key, `${JSON.stringify(layers)}: one feature layer is supported (several are concatenated by granite-style models)`);
  const k = layers[0]!;
  if (!Number.isInteger(k) || k < 0 || k > numLayers) meta.fail(key, `${k} is outside [0, ${numLayers}] for ${numLayers} layers`);
  return k - (numLayers + 1);
}

/**
 * The three per-channel floats of an image_mean / image_std key, or `fallback` (CLIP's) when
 * absent. GGUF keeps them as f32, which cannot tell CLIP's 8-digit constants from their
 * neighbours: values that are CLIP's at f32 come back as CLIP's exact constants.
 */
function channelTriple(meta: GgufMetadata, key: string, fallback: readonly number[]): number[] {
  if (!meta.has(key)) return [...fallback];
  const v = meta.numbers(key);
  if (v.length !== 3) meta.fail(key, `expected 3 values (RGB), got ${v.length}`);
  return v.every((x, i) => Math.fround(x) === Math.fround(fallback[i]!)) ? [...fallback] : v;
}

/**
 * Reads an mmproj's metadata and tensor shapes: the CLIP tower's config, LLaVA's mlp projector,
 * the feature layer and the image settings. Files of other projectors or without a vision encoder
 * are errors naming the key.
 */
export function clipSettingsFromGguf(meta: GgufMetadata, tensors: readonly GgufTensorInfo[]): ClipSettings {
  const arch = meta.string('general.architecture');
  if (arch !== CLIP_ARCHITECTURE) meta.fail('general.architecture', `"${arch}": an mmproj file is "${CLIP_ARCHITECTURE}" (is this the language model?)`);
  if (!meta.bool('clip.has_vision_encoder', true)) meta.fail('clip.has_vision_encoder', 'false: the file has no vision tower');
  const projectorType = meta.string('clip.projector_type', LLAVA_PROJECTOR_TYPE);
  if (projectorType !== LLAVA_PROJECTOR_TYPE) meta.fail('clip.projector_type', `"${projectorType}": only LLaVA's "${LLAVA_PROJECTOR_TYPE}" projector is supported`);
  const find = (name: string) => tensors.find((t) => t.name === name);
  const [first, second] = PROJECTOR_INDEX.map((n) => find(`mm.${n}.weight`));
  if (!first) throw new GgufError(`${meta.source}: no projector tensor mm.0.weight`);
  if (!second) throw new GgufError(`${meta.source}: no mm.2.weight: a one-layer projector (llama.cpp applies GELU after it) is not supported`);
  const numLayers = meta.positiveInt('clip.vision.block_count');
  const imageSize = meta.positiveInt('clip.vision.image_size');
  const aspect = meta.string('clip.vision.image_aspect_ratio', 'pad');
  return {
    vision: {
      imageSize,
      patchSize: meta.positiveInt('clip.vision.patch_size'),
      numChannels: 3,
      hiddenSize: meta.positiveInt('clip.vision.embedding_length'),
      intermediateSize: meta.positiveInt('clip.vision.feed_forward_length'),
      numLayers,
      numHeads: meta.positiveInt('clip.vision.attention.head_count'),
      layerNormEps: meta.number('clip.vision.attention.layer_norm_epsilon'),
      hiddenAct: clipActivation(meta),
    },
    projector: { depth: 2, hiddenAct: 'gelu', bias: true },
    visionFeatureLayer: featureLayerOf(meta, numLayers),
    projectorWidth: second.dims[1] ?? 0,
    processorJson: {
      ...clipPreprocessorJson(imageSize),
      image_mean: channelTriple(meta, 'clip.vision.image_mean', CLIP_MEAN),
      image_std: channelTriple(meta, 'clip.vision.image_std', CLIP_STD),
      // llama.cpp pads LLaVA-1.5's images to a square of the mean colour unless told otherwise.
      do_pad: aspect === 'pad',
    },
    hasPostLayerNorm: find('v.post_ln.weight') !== undefined,
  };
}
