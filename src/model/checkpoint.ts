// llava-hf checkpoint directories: load (config.json + safetensors, memory-mapped, weights kept
// in their stored dtype, or the language model quantised on the way in) and save (4.x or 5.x names,
// one dtype, sharded when large). Matrices stay bf16/f16 (or become q8_0/q4_0 blocks) and go to the
// GEMM as they are; vectors are cast to f32 (the norm and add kernels read f32).
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../tensor/tensor.js';
import { fromStorage, tensor } from '../tensor/tensor.js';
import { Storage } from '../tensor/storage.js';
import { cast } from '../tensor/ops/elementwise.js';
import { contiguous } from '../tensor/ops/view.js';
import { DTYPE_BYTES, QUANT_BLOCKS, dtypeBytes, isQuantDType, type PlainDType } from '../tensor/dtype.js';
import { forLinear, quantizeWeight } from '../tensor/ops/quant.js';
import { defaultBackend } from '../backend/index.js';
import type { Backend } from '../backend/types.js';
import { readLlavaHfConfig, type HfLayout, type LlavaConfig } from './config.js';
import { toLlavaHfConfig, type HfTorchDtype } from './configWrite.js';
import {
  SafetensorsError,
  fromTensorDtype,
  openSafetensors,
  readTensorAsF32,
  toTensorDtype,
  type SafetensorsCheckpoint,
  type TensorEntry,
} from './safetensors.js';
import { writeShardedSafetensors, type TensorToWrite } from './safetensorsWriter.js';
import { WEIGHT, canonicalizeNames, checkWeightShapes, fromCanonicalName } from './weightNames.js';
import { LlavaModel } from './llava.js';
import type { WeightRole, WeightSource } from '../nn/layers.js';

/** Files besides the weights that make a llava-hf directory usable (tokenizer, processor, template). */
export const CHECKPOINT_ASSET_FILES: readonly string[] = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'preprocessor_config.json',
  'processor_config.json',
  'chat_template.json',
  'chat_template.jinja',
  'generation_config.json',
];

/** transformers' default shard size ("5GB"). */
export const DEFAULT_MAX_SHARD_BYTES = 5 * 1000 ** 3;
/** Largest slice of a tensor copied out of the backend at once while saving. */
const SAVE_CHUNK_BYTES = 256 * 1024 * 1024;

/** A loaded checkpoint. */
export interface LoadedLlava {
  readonly model: LlavaModel;
  readonly config: LlavaConfig;
  readonly layout: HfLayout;
  /** The directory it came from. */
  readonly dir: string;
  /** Stored dtypes seen, with tensor counts (e.g. { bf16: 412, f32: 0 }). */
  readonly storedDtypes: Readonly<Record<string, number>>;
}

/** Block formats loadLlava can quantise the language model to (llava's `--quantize`). */
export const LOAD_QUANT_DTYPES = ['q8_0', 'q4_0'] as const;
export type LoadQuantDType = (typeof LOAD_QUANT_DTYPES)[number];

/** Options of loadLlava. */
export interface LoadOptions {
  readonly backend?: Backend;
  /**
   * Copy f32 weights into owned memory instead of mapping them (mappings are read-only, so a
   * trainer that updates weights in place needs this). Default false.
   */
  readonly writable?: boolean;
  /** Widen bf16/f16 weights to owned f32 tensors too (for training: only f32 weights get gradients). Default false. */
  readonly castToF32?: boolean;
  /**
   * Canonical names (e.g. `projector.linear_1.weight`) that will train: those become owned f32
   * copies, every other weight stays mapped in its stored dtype (what a trainer wants).
   */
  readonly trainable?: (canonicalName: string) => boolean;
  /**
   * Quantise the language model while loading: every weight quantizesWeight picks (its matrices,
   * lm_head and token embedding) becomes this block format with ggml's rounding; the vision tower,
   * projector, norms and weights that train keep their dtype. Default: none.
   */
  readonly quantize?: LoadQuantDType;
  /** With quantize q4_0: its matrices in the GEMM's interleaved layout (q4_0x8, ~2x faster). Default true. */
  readonly interleaveQ4_0?: boolean;
}

/**
 * Whether loading with `quantize` turns this weight into blocks: the language model's 2-d weights
 * (its matrices, lm_head and token embedding) whose rows fill whole blocks. The vision tower and
 * projector stay as stored: they run once per image, and a quantised CLIP costs accuracy for little.
 */
export function quantizesWeight(name: string, shape: readonly number[], dtype: LoadQuantDType): boolean {
  return name.startsWith('text.') && shape.length === 2 && shape[1]! % QUANT_BLOCKS[dtype].elements === 0;
}

/** Low-precision weights the kernels read directly; everything else becomes f32. */
function keepsStoredDtype(name: string, role: WeightRole): boolean {
  return role === 'matrix' || name === WEIGHT.textEmbedding;
}

/** The storage of each mapped file, by path. */
function mapFiles(ckpt: SafetensorsCheckpoint, backend: Backend): Map<string, Storage> {
  const out = new Map<string, Storage>();
  for (const f of ckpt.files) {
    const { ptr, bytes } = backend.mapFile(f.path);
    if (bytes !== f.fileBytes) throw new SafetensorsError(`${f.path}: mapped ${bytes} bytes, the header was read from ${f.fileBytes} (file changed while loading?)`);
    out.set(f.path, new Storage(backend, ptr, bytes, 'mapped'));
  }
  return out;
}

function checkDtypes(ckpt: SafetensorsCheckpoint, dir: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of ckpt.tensors.values()) {
    const d = toTensorDtype(e.dtype);
    if (d === undefined || d === 'i32') {
      if (e.name.endsWith('.position_ids')) continue;
      throw new SafetensorsError(`${e.path}: tensor "${e.name}" is ${e.dtype}; model weights must be F32, BF16 or F16 (${dir})`);
    }
    counts[d] = (counts[d] ?? 0) + 1;
  }
  return counts;
}

/** A tensor over the mapped bytes of one entry (read into owned memory when asked or when the offset is misaligned). */
function entryTensor(entry: TensorEntry, storages: Map<string, Storage>, backend: Backend, copy: boolean): Tensor {
  const dtype = toTensorDtype(entry.dtype)!;
  const storage = storages.get(entry.path)!;
  if (!copy && entry.byteOffset % DTYPE_BYTES[dtype] === 0) return fromStorage(storage.retain(), entry.shape, dtype, entry.byteOffset);
  // Widening to f32 and re-encoding in the same dtype is exact for every float dtype.
  return tensor(readTensorAsF32(entry), entry.shape, { dtype, backend });
}

/**
 * Loads a llava-hf directory: validates config.json, the safetensors headers (sizes, dtypes,
 * offsets), the weight names (4.x or 5.x) and every shape against the config, then maps the
 * files and builds the model over them without copying matrices.
 */
export function loadLlava(dir: string, options: LoadOptions = {}): LoadedLlava {
  if (!existsSync(dir)) throw new Error(`${dir}: model directory not found`);
  const config = readLlavaHfConfig(dir);
  const ckpt = openSafetensors(dir);
  const storedDtypes = checkDtypes(ckpt, dir);
  const names = canonicalizeNames(ckpt.tensors.keys(), dir);
  const shapes = new Map([...names.toCheckpoint].map(([canonical, stored]) => [canonical, ckpt.tensors.get(stored)!.shape]));
  checkWeightShapes(config, shapes, dir);
  const backend = options.backend ?? defaultBackend();
  const storages = mapFiles(ckpt, backend);
  try {
    const source: WeightSource = (name, _shape, role) => {
      const stored = names.toCheckpoint.get(name);
      if (stored === undefined) throw new SafetensorsError(`${dir}: tensor ${name} is missing`);
      const entry = ckpt.tensors.get(stored)!;
      const dtype = toTensorDtype(entry.dtype)!;
      const trains = options.trainable?.(name) === true;
      const copy = (options.writable === true || trains) && dtype === 'f32';
      const raw = entryTensor(entry, storages, backend, copy);
      const keep = keepsStoredDtype(name, role) && options.castToF32 !== true && !trains;
      if (keep && options.quantize && quantizesWeight(name, entry.shape, options.quantize)) {
        const q = quantized(raw, options.quantize);
        return role === 'matrix' ? forLinear(q, options.interleaveQ4_0 !== false) : q;
      }
      if (dtype === 'f32' || keep) return raw;
      const wide = cast(raw, 'f32');
      raw.dispose();
      return wide;
    };
    const withPostLayerNorm = names.toCheckpoint.has(`${WEIGHT.visionPostLayerNorm}.weight`);
    const model = new LlavaModel(config, source, { withPostLayerNorm });
    return { model, config, layout: names.layout, dir, storedDtypes };
  } finally {
    for (const s of storages.values()) s.release();
  }
}

/** A weight as blocks of dtype (the float original released). */
function quantized(raw: Tensor, dtype: LoadQuantDType): Tensor {
  try {
    return quantizeWeight(raw, dtype);
  } finally {
    raw.dispose();
  }
}

/** Options of saveLlava. */
export interface SaveOptions {
  /** Weight-name layout (default transformers-4, what published llava-hf checkpoints use). */
  readonly layout?: HfLayout;
  /** Stored dtype of every tensor (default: that of the token embedding). */
  readonly dtype?: 'f32' | 'bf16' | 'f16';
  /** Copy tokenizer / processor / template files from this directory. */
  readonly assetsFrom?: string;
  readonly maxShardBytes?: number;
}

const HF_DTYPE: { readonly [D in 'f32' | 'bf16' | 'f16']: HfTorchDtype } = { f32: 'float32', bf16: 'bfloat16', f16: 'float16' };

/** t in a plain dtype: a view when it already is, else a cast copy (quantised blocks through f32). */
function converted(t: Tensor, dtype: PlainDType): Tensor {
  if (t.dtype === dtype) return contiguous(t);
  if (!isQuantDType(t.dtype) || dtype === 'f32') return cast(t, dtype);
  const wide = cast(t, 'f32');
  try {
    return cast(wide, dtype);
  } finally {
    wide.dispose();
  }
}

/** The bytes of a tensor in `dtype`, produced in chunks (a cast copy is made only when the dtype differs). */
function* tensorChunks(t: Tensor, dtype: PlainDType): Generator<Uint8Array> {
  const c = converted(t, dtype);
  try {
    const total = dtypeBytes(dtype, c.size);
    for (let at = 0; at < total; at += SAVE_CHUNK_BYTES) {
      yield c.backend.read(c.ptr + at, Math.min(SAVE_CHUNK_BYTES, total - at));
    }
  } finally {
    c.dispose();
  }
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, path);
}

/** Saves a model as a llava-hf directory (config.json, safetensors, optional tokenizer assets). */
export async function saveLlava(model: LlavaModel, dir: string, options: SaveOptions = {}): Promise<string[]> {
  const layout = options.layout ?? 'transformers-4';
  const embedDtype = model.text.embedTokens.value.dtype;
  const dtype = options.dtype ?? (embedDtype === 'bf16' || embedDtype === 'f16' ? embedDtype : 'f32');
  mkdirSync(dir, { recursive: true });
  const tensors: TensorToWrite[] = model.namedParameters().map(([name, p]) => ({
    name: fromCanonicalName(name, layout),
    dtype: fromTensorDtype(dtype),
    shape: p.value.shape,
    data: () => tensorChunks(p.value, dtype),
  }));
  const written = await writeShardedSafetensors(dir, tensors, { maxShardBytes: options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES, metadata: { format: 'pt' } });
  const configPath = join(dir, 'config.json');
  writeJsonAtomic(configPath, toLlavaHfConfig(model.config, layout, HF_DTYPE[dtype]));
  written.push(configPath);
  if (options.assetsFrom) {
    for (const f of CHECKPOINT_ASSET_FILES) {
      const src = join(options.assetsFrom, f);
      if (!existsSync(src)) continue;
      copyFileSync(src, join(dir, `${f}.tmp`));
      renameSync(join(dir, `${f}.tmp`), join(dir, f));
      written.push(join(dir, f));
    }
  }
  return written;
}
