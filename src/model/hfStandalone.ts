// The two halves LLaVA is composed from, saved as the Hugging Face directories `llava build`
// reads: a CLIPVisionModel (config + `vision_model.*` weights + a CLIP preprocessor) and a
// LlamaForCausalLM (config + `model.*` / `lm_head.weight` + tokenizer files). The demo's
// stages 0a and 0b write these, as OpenAI's CLIP and Vicuna would be downloaded elsewhere.
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Tensor } from '../tensor/tensor.js';
import { cast } from '../tensor/ops/elementwise.js';
import { contiguous } from '../tensor/ops/view.js';
import type { Module } from '../nn/module.js';
import { DTYPE_BYTES } from '../tensor/dtype.js';
import { fromTensorDtype } from './safetensors.js';
import { writeSafetensors, type TensorToWrite } from './safetensorsWriter.js';
import { hfTextConfig, hfVisionConfig, type HfTorchDtype } from './configWrite.js';
import { clipPreprocessorJson } from './compose.js';
import type { TextConfig, VisionConfig } from './config.js';

/** Stored dtype of a saved half. */
export type SaveDtype = 'f32' | 'bf16' | 'f16';

const HF_DTYPE: { readonly [D in SaveDtype]: HfTorchDtype } = { f32: 'float32', bf16: 'bfloat16', f16: 'float16' };

/** Tokenizer files a LLaMA directory carries when present. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'] as const;

function bytesOf(t: Tensor, dtype: SaveDtype): Uint8Array {
  const c = t.dtype === dtype ? contiguous(t) : cast(t, dtype);
  try {
    return c.backend.read(c.ptr, c.size * DTYPE_BYTES[dtype]);
  } finally {
    c.dispose();
  }
}

/** Every parameter of `module` under `rename(relativeName)`. */
function tensorsOf(module: Module, rename: (name: string) => string, dtype: SaveDtype): TensorToWrite[] {
  return module.namedParameters().map(([name, p]) => {
    const bytes = bytesOf(p.value, dtype);
    return { name: rename(name), dtype: fromTensorDtype(dtype), shape: p.value.shape, data: () => bytes };
  });
}

/** Writes a directory's files into `dir.tmp-PID`, then renames it into place (replacing an old one). */
async function writeDirAtomic(dir: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await write(tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

const json = (path: string, value: unknown): void => writeFileSync(path, JSON.stringify(value, null, 2) + '\n');

/** Saves a vision tower (a module whose parameters are CLIPVisionTransformer paths) as a HF CLIPVisionModel directory. */
export async function saveClipVisionModel(tower: Module, config: VisionConfig, dir: string, dtype: SaveDtype = 'f32'): Promise<void> {
  await writeDirAtomic(dir, async (tmp) => {
    await writeSafetensors(join(tmp, 'model.safetensors'), tensorsOf(tower, (n) => `vision_model.${n}`, dtype), { metadata: { format: 'pt' } });
    json(join(tmp, 'config.json'), { architectures: ['CLIPVisionModel'], ...hfVisionConfig(config), torch_dtype: HF_DTYPE[dtype] });
    json(join(tmp, 'preprocessor_config.json'), clipPreprocessorJson(config.imageSize));
  });
}

/** Saves a language model (parameters named as in LlamaModel, plus `lm_head.weight`) as a HF LlamaForCausalLM directory. */
export async function saveLlamaForCausalLM(lm: Module, config: TextConfig, dir: string, options: { dtype?: SaveDtype; tokenizerFrom?: string } = {}): Promise<void> {
  const dtype = options.dtype ?? 'f32';
  await writeDirAtomic(dir, async (tmp) => {
    const rename = (n: string) => (n.startsWith('lm_head.') ? n : `model.${n}`);
    await writeSafetensors(join(tmp, 'model.safetensors'), tensorsOf(lm, rename, dtype), { metadata: { format: 'pt' } });
    json(join(tmp, 'config.json'), hfTextConfig(config, 'transformers-4', HF_DTYPE[dtype]));
    json(join(tmp, 'generation_config.json'), { bos_token_id: config.bosTokenId, eos_token_id: config.eosTokenIds[0] });
    if (options.tokenizerFrom) {
      for (const f of TOKENIZER_FILES) {
        const src = join(options.tokenizerFrom, f);
        if (existsSync(src)) copyFileSync(src, join(tmp, f));
      }
    }
  });
}
