// A llama.cpp LLaVA pair (the language model GGUF + the CLIP mmproj GGUF) as our LlavaModel, with
// the tokenizer, image processor and chat template the files carry: what LlavaPipeline needs.
// Every name, shape and size is checked before anything is mapped; weights stay mapped.
import { existsSync } from 'node:fs';
import type { Backend } from '../backend/types.js';
import { defaultBackend } from '../backend/index.js';
import { cast } from '../tensor/ops/elementwise.js';
import { forLinear } from '../tensor/ops/quant.js';
import type { Tensor } from '../tensor/tensor.js';
import { LlavaTokenizer } from '../data/tokenizer.js';
import { parseImageProcessorConfig, type ImageProcessorConfig } from '../data/preprocess.js';
import { DEFAULT_IMAGE_TOKEN } from '../data/constants.js';
import { validateLlavaConfig, type LlavaConfig, type TextConfig } from '../model/config.js';
import { WEIGHT, checkWeightShapes } from '../model/weightNames.js';
import { LlavaModel } from '../model/llava.js';
import type { LoadedLlava } from '../model/checkpoint.js';
import type { WeightRole, WeightSource } from '../nn/layers.js';
import { GgufError } from './format.js';
import { GgufMetadata } from './metadata.js';
import { readGgufHeader, type GgufHeader, type GgufTensorInfo } from './reader.js';
import { canonicalLlamaName, isRopePermuted, permuteRopeRowBytes, ropeHeads, textConfigFromGguf } from './llama.js';
import { clipSettingsFromGguf, clipTensorTable, type ClipSettings } from './mmproj.js';
import { tokenizerFromGguf, type TokenizerFiles } from './tokenizer.js';
import { MappedGguf, type RowTransform } from './mapped.js';

/** Options of loadGgufLlava. */
export interface GgufLoadOptions {
  readonly backend?: Backend;
  /**
   * Copy q4_0 matrices into the GEMM's interleaved layout (q4_0x8) at load, as llama.cpp repacks
   * them: about 2x the speed of the mapped blocks, at the cost of owned memory. Default true.
   */
  readonly interleaveQ4_0?: boolean;
}

/** A loaded GGUF pair: the model (as loadLlava returns it) plus what the files say about text and images. */
export interface LoadedGgufLlava extends LoadedLlava {
  readonly tokenizer: LlavaTokenizer;
  /** tokenizer.json / tokenizer_config.json equivalents of the GGUF's vocabulary. */
  readonly tokenizerFiles: TokenizerFiles;
  readonly processor: ImageProcessorConfig;
  /** preprocessor_config.json equivalent of the mmproj's image settings. */
  readonly processorJson: Record<string, unknown>;
  /** `tokenizer.chat_template`, when the model file has one. */
  readonly chatTemplate: string | undefined;
}

/** One checked GGUF file: header, typed metadata, canonical name -> tensor. */
export interface GgufPart {
  readonly header: GgufHeader;
  readonly meta: GgufMetadata;
  readonly table: Map<string, GgufTensorInfo>;
}

/** Whether a path names a GGUF file (by extension), as the CLI decides between the two formats. */
export function isGgufPath(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf');
}

function readPart(path: string): { header: GgufHeader; meta: GgufMetadata } {
  if (!existsSync(path)) throw new GgufError(`${path}: file not found`);
  const header = readGgufHeader(path);
  return { header, meta: new GgufMetadata(header.metadata, path) };
}

/** Canonical name -> tensor of the language model file; names LLaMA has no place for are errors. */
function llamaTable(header: GgufHeader): Map<string, GgufTensorInfo> {
  const table = new Map<string, GgufTensorInfo>();
  const unknown: string[] = [];
  for (const t of header.tensors) {
    const canonical = canonicalLlamaName(t.name);
    if (canonical === undefined) unknown.push(t.name);
    else table.set(canonical, t);
  }
  if (unknown.length > 0) throw new GgufError(`${header.path}: tensors a LLaMA language model has no place for: ${unknown.slice(0, 8).join(', ')}${unknown.length > 8 ? ` and ${unknown.length - 8} more` : ''}`);
  return table;
}

/** The model's `<image>` id, or (no such token: prompts then use the -200 placeholder) its unknown-token id. */
function imageTokenId(tokenizer: LlavaTokenizer, text: TextConfig, source: string): number {
  const id = tokenizer.imageTokenId ?? tokenizer.unkId ?? 0;
  if (id >= text.vocabSize) throw new GgufError(`${source}: ${DEFAULT_IMAGE_TOKEN} is id ${id}, outside the model's ${text.vocabSize} embedding rows`);
  return id;
}

/** The LlavaConfig of a pair from its text config, the mmproj's settings and the tokenizer; the projector must fit the language model. */
function pairConfig(text: TextConfig, clip: ClipSettings, tokenizer: LlavaTokenizer, modelPath: string, mmprojPath: string): LlavaConfig {
  if (clip.projectorWidth !== text.hiddenSize) {
    throw new GgufError(`${mmprojPath}: its projector outputs ${clip.projectorWidth}-wide tokens but the language model in ${modelPath} is ${text.hiddenSize} wide: this mmproj belongs to another model`);
  }
  const config: LlavaConfig = {
    vision: clip.vision,
    projector: clip.projector,
    text,
    imageTokenId: imageTokenId(tokenizer, text, modelPath),
    padTokenId: tokenizer.padId !== undefined && tokenizer.padId < text.vocabSize ? tokenizer.padId : null,
    visionFeatureLayer: clip.visionFeatureLayer,
    visionFeatureSelectStrategy: 'default',
  };
  return validateLlavaConfig(config, `${modelPath} + ${mmprojPath}`);
}

/** Checks every tensor's presence and shape against the config, both files at once. */
function checkShapes(config: LlavaConfig, parts: readonly GgufPart[], source: string): void {
  const shapes = new Map<string, readonly number[]>();
  for (const p of parts) for (const [name, info] of p.table) shapes.set(name, [...info.dims].reverse());
  checkWeightShapes(config, shapes, source);
}

/** Low-precision weights the kernels read directly (as loadLlava keeps them); everything else becomes f32. */
function keepsStoredDtype(name: string, role: WeightRole): boolean {
  return role === 'matrix' || name === WEIGHT.textEmbedding;
}

/** The rope row order back from llama.cpp's to HF's, for q/k projections. */
function rowTransform(name: string, text: TextConfig): RowTransform | undefined {
  if (!isRopePermuted(name)) return undefined;
  const heads = ropeHeads(name, text);
  return (bytes, rowBytes) => permuteRopeRowBytes(bytes, heads, rowBytes, true);
}

/** Counts of stored types over both files, named as tensor dtypes (f16, q4_0, ...). */
function storedTypes(parts: readonly GgufPart[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of parts) for (const info of p.table.values()) counts[info.type.toLowerCase()] = (counts[info.type.toLowerCase()] ?? 0) + 1;
  return counts;
}

/** A GGUF pair read and checked, nothing mapped yet. */
export interface InspectedGgufLlava {
  readonly config: LlavaConfig;
  readonly clip: ClipSettings;
  readonly tokenizer: LlavaTokenizer;
  readonly tokenizerFiles: TokenizerFiles;
  /** The language model file, then the mmproj. */
  readonly parts: readonly GgufPart[];
  /** Counts of stored tensor types over both files, named as tensor dtypes (f16, q4_0, ...). */
  readonly storedDtypes: Readonly<Record<string, number>>;
}

/**
 * Reads and checks a llama.cpp LLaVA pair without mapping it: both headers, the configs, the
 * tokenizer, the projector width against the language model, every tensor name and shape.
 */
export function inspectGgufLlava(modelPath: string, mmprojPath: string | undefined): InspectedGgufLlava {
  if (mmprojPath === undefined) {
    throw new GgufError(`${modelPath}: a GGUF language model needs its vision half: pass --mmproj with the matching mmproj GGUF (llama.cpp's CLIP image encoder file)`);
  }
  const model = readPart(modelPath);
  const mmproj = readPart(mmprojPath);
  const text = textConfigFromGguf(model.meta, model.header.tensors);
  const clip = clipSettingsFromGguf(mmproj.meta, mmproj.header.tensors);
  const tokenizerFiles = tokenizerFromGguf(model.meta);
  const tokenizer = LlavaTokenizer.fromJson(tokenizerFiles.tokenizerJson, tokenizerFiles.tokenizerConfig, `${modelPath} (tokenizer.ggml.*)`, { addImageToken: false });
  const config = pairConfig(text, clip, tokenizer, modelPath, mmprojPath);
  const parts: GgufPart[] = [
    { ...model, table: llamaTable(model.header) },
    { ...mmproj, table: clipTensorTable(mmproj.header.tensors, config.vision.hiddenSize, mmprojPath) },
  ];
  checkShapes(config, parts, `${modelPath} + ${mmprojPath}`);
  return { config, clip, tokenizer, tokenizerFiles, parts, storedDtypes: storedTypes(parts) };
}

/**
 * Loads a llama.cpp LLaVA pair: `modelPath` (general.architecture llama, with its tokenizer) and
 * `mmprojPath` (the CLIP mmproj). GGUF v2 and v3; tensor types F32, F16, BF16 and the block
 * formats of ggmlTypes.ts. Mismatched files, missing or misshapen tensors and unknown names are
 * errors naming the file; float weights stay mapped.
 */
export function loadGgufLlava(modelPath: string, mmprojPath: string | undefined, options: GgufLoadOptions = {}): LoadedGgufLlava {
  const { config, clip, tokenizer, tokenizerFiles, parts, storedDtypes } = inspectGgufLlava(modelPath, mmprojPath);
  const backend = options.backend ?? defaultBackend();
  const mapped = new Map<GgufPart, MappedGguf>();
  try {
    for (const p of parts) mapped.set(p, MappedGguf.open(p.header, backend));
    const source: WeightSource = (name, shape, role) => {
      const part = parts.find((p) => p.table.has(name));
      if (!part) throw new GgufError(`${modelPath} + ${mmprojPath}: tensor ${name} is missing`);
      const raw: Tensor = mapped.get(part)!.tensor(part.table.get(name)!, shape, rowTransform(name, config.text));
      if (role === 'matrix' && raw.dtype === 'q4_0') return forLinear(raw, options.interleaveQ4_0 !== false);
      if (raw.dtype === 'f32' || keepsStoredDtype(name, role)) return raw;
      const wide = cast(raw, 'f32');
      raw.dispose();
      return wide;
    };
    const llava = new LlavaModel(config, source, { withPostLayerNorm: clip.hasPostLayerNorm });
    return {
      model: llava,
      config,
      layout: 'transformers-4',
      dir: modelPath,
      storedDtypes,
      tokenizer,
      tokenizerFiles,
      processor: parseImageProcessorConfig(clip.processorJson, `${mmprojPath} (clip.vision.*)`),
      processorJson: clip.processorJson,
      chatTemplate: tokenizer.chatTemplate,
    };
  } finally {
    for (const m of mapped.values()) m.release();
  }
}
