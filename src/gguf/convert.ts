// Converting between a llava-hf directory and a llama.cpp LLaVA pair: the language model GGUF
// (weights, tokenizer, chat template) plus the CLIP mmproj GGUF, and back for float GGUFs. Each
// file is written to a temporary name and renamed; tensors are encoded one at a time.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Backend } from '../backend/types.js';
import type { Tensor } from '../tensor/tensor.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../tensor/dtype.js';
import type { LlavaModel } from '../model/llava.js';
import { loadLlava, saveLlava, type LoadedLlava } from '../model/checkpoint.js';
import type { HfLayout, LlavaConfig } from '../model/config.js';
import { CLIP_336_PROCESSOR, loadImageProcessorConfig } from '../data/preprocess.js';
import { LlavaTokenizer, withImageToken } from '../data/tokenizer.js';
import { DEFAULT_IMAGE_TOKEN } from '../data/constants.js';
import { GgufError, type GgufTypedValue } from './format.js';
import { ggmlBytes } from './ggmlTypes.js';
import { llamaMetadata, llamaTensors, type LlamaWeightType } from './llama.js';
import { clipMetadata, clipTensors, clipUnsupported, type ClipImageSettings } from './mmproj.js';
import { llamaTokenizerMetadata, type TokenizerJson, type TokenizerSpecials } from './tokenizer.js';
import { writeGguf, type GgufTensorOut } from './writer.js';
import { readGgufHeader } from './reader.js';
import { isFloatGgml } from './mapped.js';
import { loadGgufLlava } from './loadModel.js';

/** Weight types `llava convert --to gguf` writes the language model in. */
export const GGUF_OUT_TYPES = ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k'] as const;
export type GgufOutType = (typeof GGUF_OUT_TYPES)[number];

/** The GGUF type of each: the language model's matrices. */
const LLM_TYPE: { readonly [T in GgufOutType]: LlamaWeightType } = { f32: 'F32', f16: 'F16', q8_0: 'Q8_0', q4_0: 'Q4_0', q4_k: 'Q4_K' };

/** llama.cpp's general.file_type (enum llama_ftype): MOSTLY_Q4_K_S for an all-Q4_K model. */
const FILE_TYPE: { readonly [T in GgufOutType]: number } = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k: 14 };

/** One tensor written, for progress reports. */
export interface ConvertProgress {
  readonly file: string;
  readonly tensor: string;
  /** Tensors written in this file so far, of `total`. */
  readonly done: number;
  readonly total: number;
  /** Bytes written in this file so far, of `bytesTotal`. */
  readonly bytes: number;
  readonly bytesTotal: number;
}

/** Options of convertHfToGguf. */
export interface ToGgufOptions {
  /** llava-hf model directory. */
  readonly modelDir: string;
  /** Directory the two files go to (made if missing). */
  readonly outDir: string;
  readonly type: GgufOutType;
  /** Base of the file names and general.name (default: the model directory's name). */
  readonly name?: string;
  readonly backend?: Backend;
  readonly onProgress?: (p: ConvertProgress) => void;
}

/** The two files of a pair. */
export interface GgufPair {
  readonly model: string;
  readonly mmproj: string;
}

type Json = Record<string, unknown>;

function readJson(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/** The chat template text in transformers' order: chat_template.jinja, chat_template.json, tokenizer_config.json. */
function chatTemplateText(dir: string): string | undefined {
  const jinja = join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) return readFileSync(jinja, 'utf8');
  for (const name of ['chat_template.json', 'tokenizer_config.json']) {
    const path = join(dir, name);
    const t = existsSync(path) ? readJson(path).chat_template : undefined;
    if (typeof t === 'string') return t;
  }
  return undefined;
}

/**
 * The `tokenizer.ggml.*` metadata of a model directory's tokenizer as our pipeline uses it (with
 * llava-hf's `<image>` / `<pad>` appended when the file lacks them), its specials and template.
 */
function tokenizerMetadata(dir: string, config: LlavaConfig): Map<string, GgufTypedValue> {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) throw new Error(`${dir}: no tokenizer.json; a GGUF carries its tokenizer, so the model directory needs one`);
  const tok = LlavaTokenizer.fromDir(dir);
  const configPath = join(dir, 'tokenizer_config.json');
  const tokConfig = existsSync(configPath) ? readJson(configPath) : {};
  // The vocabulary our tokenizer loads: llava-hf's <image> (and <pad> without a pad token) appended when missing.
  const json = withImageToken(readJson(path), path, DEFAULT_IMAGE_TOKEN, tokConfig.pad_token !== undefined && tokConfig.pad_token !== null);
  const name = (id: number | undefined) => (id === undefined ? undefined : tok.idToToken(id));
  const specials: TokenizerSpecials = {
    bos: tok.bosToken,
    eos: tok.eosToken,
    unk: name(tok.unkId),
    pad: name(tok.padId),
    addBos: tokConfig.add_bos_token !== false,
    addEos: tokConfig.add_eos_token === true,
    chatTemplate: chatTemplateText(dir),
  };
  return llamaTokenizerMetadata(json as unknown as TokenizerJson, config.text.vocabSize, specials);
}

/** Image settings of a model directory's preprocessor_config.json (CLIP's, unpadded, when absent). */
function imageSettings(dir: string): ClipImageSettings {
  const path = join(dir, 'preprocessor_config.json');
  const p = existsSync(path) ? loadImageProcessorConfig(path) : CLIP_336_PROCESSOR;
  return { imageMean: p.imageMean, imageStd: p.imageStd, doPad: p.doPad };
}

/** Wraps each tensor's bytes so writing it reports progress. */
function withProgress(file: string, tensors: GgufTensorOut[], report: ((p: ConvertProgress) => void) | undefined): GgufTensorOut[] {
  if (!report) return tensors;
  const sizes = tensors.map((t) => ggmlBytes(t.type, t.dims.reduce((a, b) => a * b, 1)));
  const bytesTotal = sizes.reduce((a, b) => a + b, 0);
  let bytes = 0;
  return tensors.map((t, i) => ({
    ...t,
    data: () => {
      const data = typeof t.data === 'function' ? t.data() : t.data;
      bytes += sizes[i]!;
      report({ file, tensor: t.name, done: i + 1, total: tensors.length, bytes, bytesTotal });
      return data;
    },
  }));
}

/** The model's weights under a root (`text.`, or `vision.` and `projector.`). */
function weightsUnder(params: readonly (readonly [string, { value: Tensor }])[], roots: readonly string[]): [string, Tensor][] {
  return params.filter(([n]) => roots.some((r) => n.startsWith(r))).map(([n, p]) => [n, p.value]);
}

/**
 * Writes `<name>.gguf` (the language model in `type`, its tokenizer and chat template) and
 * `mmproj-<name>.gguf` (CLIP tower and projector, F16 matrices, F32 at type f32) from a
 * llava-hf directory. Configs llama.cpp's LLaVA graph cannot run are refused with the reason.
 */
export function convertHfToGguf(o: ToGgufOptions): GgufPair {
  const loaded = loadLlava(o.modelDir, { backend: o.backend });
  try {
    const config = loaded.config;
    const unsupported = clipUnsupported(config);
    if (unsupported) throw new Error(`${o.modelDir}: cannot be written as a llama.cpp mmproj: ${unsupported}`);
    const name = o.name ?? basename(resolve(o.modelDir));
    mkdirSync(o.outDir, { recursive: true });
    const pair = { model: join(o.outDir, `${name}.gguf`), mmproj: join(o.outDir, `mmproj-${name}.gguf`) };
    const params = loaded.model.namedParameters();
    const llmMeta = llamaMetadata(config.text, name);
    llmMeta.set('general.file_type', { type: 'u32', value: FILE_TYPE[o.type] });
    for (const [k, v] of tokenizerMetadata(o.modelDir, config)) llmMeta.set(k, v);
    const llm = llamaTensors(weightsUnder(params, ['text.']), config.text, LLM_TYPE[o.type]);
    writeGguf(pair.model, llmMeta, withProgress(pair.model, llm, o.onProgress));
    writeMmproj(loaded, o.modelDir, pair.mmproj, name, o.type === 'f32' ? 'F32' : 'F16', o.onProgress);
    return pair;
  } finally {
    loaded.model.dispose();
  }
}

/** Writes the mmproj of a loaded llava-hf model (from `modelDir`): CLIP tower and projector, matrices in `matrixType`. */
export function writeMmproj(loaded: LoadedLlava, modelDir: string, path: string, name: string, matrixType: 'F32' | 'F16', onProgress?: (p: ConvertProgress) => void): void {
  const unsupported = clipUnsupported(loaded.config);
  if (unsupported) throw new Error(`${modelDir}: cannot be written as a llama.cpp mmproj: ${unsupported}`);
  const meta = clipMetadata(loaded.config, imageSettings(modelDir), name, matrixType === 'F32' ? 0 : 1);
  const tensors = clipTensors(weightsUnder(loaded.model.namedParameters(), ['vision.', 'projector.']), matrixType);
  writeGguf(path, meta, withProgress(path, tensors, onProgress));
}

/** Options of convertGgufToHf. */
export interface ToHfOptions {
  readonly model: string;
  readonly mmproj: string;
  /** New (or empty) directory for the llava-hf files. */
  readonly outDir: string;
  /** Weight-name layout (default transformers-4). */
  readonly layout?: HfLayout;
  readonly backend?: Backend;
}

/** Whether every value of an f32 tensor survives a round trip through `dtype`. */
function fitsIn(t: Tensor, dtype: 'f16' | 'bf16'): boolean {
  const x = t.toArray() as Float32Array;
  const back = dtype === 'f16' ? (v: number) => f16BitsToF32(f32ToF16Bits(v)) : (v: number) => bf16BitsToF32(f32ToBf16Bits(v));
  return x.every((v) => Object.is(back(v), v) || (Number.isNaN(v) && Number.isNaN(back(v))));
}

/**
 * The one dtype saveLlava can write every weight in without loss: the matrices' type when they
 * share one half-precision type and every f32 tensor (norms, biases, embeddings widened on load)
 * holds values of that type; f32 otherwise.
 */
function losslessDtype(matrixTypes: ReadonlySet<string>, model: LlavaModel): 'f32' | 'f16' | 'bf16' {
  if (matrixTypes.size !== 1 || matrixTypes.has('F32')) return 'f32';
  const half = matrixTypes.has('F16') ? 'f16' : 'bf16';
  return model.namedParameters().every(([, p]) => p.value.dtype !== 'f32' || fitsIn(p.value, half)) ? half : 'f32';
}

/** Writes a JSON file through a temporary name. */
function writeJsonAtomic(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp-${process.pid}`, JSON.stringify(value, null, 2) + '\n');
  renameSync(`${path}.tmp-${process.pid}`, path);
}

/**
 * Writes a llava-hf directory (config.json, safetensors, tokenizer.json, tokenizer_config.json,
 * preprocessor_config.json) from a float GGUF pair. Quantised pairs are refused: their weights
 * would come back dequantised, not as they were.
 */
export async function convertGgufToHf(o: ToHfOptions): Promise<string[]> {
  const types = [o.model, o.mmproj].flatMap((p) => readGgufHeader(p).tensors.map((t) => ({ file: p, name: t.name, type: t.type, matrix: t.dims.length > 1 })));
  const quantised = types.filter((t) => !isFloatGgml(t.type));
  if (quantised.length > 0) {
    const q = quantised[0]!;
    throw new GgufError(`${q.file}: tensor ${q.name} is ${q.type}: only F32, F16 and BF16 GGUFs convert to llava-hf (quantised weights cannot come back as they were; ${quantised.length} quantised tensor(s))`);
  }
  if (existsSync(o.outDir) && readdirSync(o.outDir).length > 0) throw new Error(`--out ${o.outDir} already exists and is not empty; choose another directory`);
  const loaded = loadGgufLlava(o.model, o.mmproj, { backend: o.backend });
  try {
    const dtype = losslessDtype(new Set(types.filter((t) => t.matrix).map((t) => t.type)), loaded.model);
    const written = await saveLlava(loaded.model, o.outDir, { layout: o.layout ?? 'transformers-4', dtype });
    const files: [string, unknown][] = [
      ['tokenizer.json', loaded.tokenizerFiles.tokenizerJson],
      ['tokenizer_config.json', loaded.tokenizerFiles.tokenizerConfig],
      ['preprocessor_config.json', loaded.processorJson],
    ];
    for (const [file, value] of files) {
      writeJsonAtomic(join(o.outDir, file), value);
      written.push(join(o.outDir, file));
    }
    return written;
  } finally {
    loaded.model.dispose();
  }
}
