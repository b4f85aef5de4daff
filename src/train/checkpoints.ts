// Training checkpoints: a complete llava-hf directory plus trainer_state.json and the optimiser
// (f32 master weights and AdamW moments) in optimizer.safetensors, written to a temp folder and
// renamed, so a crash or a full disk never leaves a half checkpoint; the last N are kept.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Parameter } from '../nn/parameter.js';
import type { AdamW } from '../nn/optim/adamw.js';
import type { LlavaModel } from '../model/llava.js';
import { saveLlava } from '../model/checkpoint.js';
import { writePeftAdapter, type AdapterInfo } from '../model/peftAdapter.js';
import { fromCanonicalName } from '../model/weightNames.js';
import { encodeFloats, readSafetensorsHeader, readTensorAsF32 } from '../model/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../model/safetensorsWriter.js';

/** Prefix of checkpoint folders: `checkpoint-STEP`. */
export const CHECKPOINT_PREFIX = 'checkpoint-';
export const TRAINER_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
/** Stage 1's projector alone, as LLaVA's mm_projector file (llava-hf tensor names). */
export const PROJECTOR_FILE = 'mm_projector.safetensors';

/** Where a run stands: enough to continue it exactly. */
export interface TrainerState {
  /** Optimiser steps done. */
  readonly step: number;
  readonly totalSteps: number;
  /** Epoch of the next batch, and its index in that epoch's batch order. */
  readonly epoch: number;
  readonly batchInEpoch: number;
  readonly seed: number;
  /** The options that must not change on resume (data, model, batch shape, schedule). */
  readonly fingerprint: string;
  /** Loss of the last step, and the positions trained on so far. */
  readonly lastLoss: number;
  readonly tokensSeen: number;
}

/** The checkpoint steps present in a run folder (complete ones only: temp folders are ignored). */
export function listCheckpoints(outDir: string): number[] {
  if (!existsSync(outDir)) return [];
  return readdirSync(outDir)
    .filter((n) => new RegExp(`^${CHECKPOINT_PREFIX}\\d+$`).test(n) && existsSync(join(outDir, n, TRAINER_STATE_FILE)))
    .map((n) => Number(n.slice(CHECKPOINT_PREFIX.length)))
    .sort((a, b) => a - b);
}

export function checkpointDir(outDir: string, step: number): string {
  return join(outDir, `${CHECKPOINT_PREFIX}${step}`);
}

/** Options of writeCheckpoint. */
export interface CheckpointContent {
  readonly model: LlavaModel;
  readonly trainable: readonly [string, Parameter][];
  readonly optimizer: AdamW;
  readonly state: TrainerState;
  /** Tokenizer, processor and template files come from here. */
  readonly assetsFrom: string;
  readonly dtype: 'f32' | 'bf16' | 'f16';
  /** Also write the projector alone (stage 1). */
  readonly projectorFile: boolean;
  /** Write a PEFT adapter instead of the whole model (LoRA runs). */
  readonly adapter?: AdapterInfo;
}

function f32Tensor(name: string, shape: readonly number[], values: () => Float32Array): TensorToWrite {
  return { name, dtype: 'F32', shape, data: () => encodeFloats(values(), 'F32') };
}

async function writeOptimizer(path: string, c: CheckpointContent): Promise<void> {
  const tensors: TensorToWrite[] = [];
  for (const [name, p] of c.trainable) {
    const s = c.optimizer.state(p);
    tensors.push(f32Tensor(`${name}.master`, p.value.shape, () => p.value.toArray() as Float32Array));
    tensors.push(f32Tensor(`${name}.exp_avg`, p.value.shape, () => s.m.toArray() as Float32Array));
    tensors.push(f32Tensor(`${name}.exp_avg_sq`, p.value.shape, () => s.v.toArray() as Float32Array));
  }
  await writeSafetensors(path, tensors, { metadata: { step_count: String(c.optimizer.stepCount) } });
}

async function writeProjector(path: string, model: LlavaModel): Promise<void> {
  const tensors = model.projector.namedParameters('projector.').map(([name, p]) => f32Tensor(fromCanonicalName(name, 'transformers-4'), p.value.shape, () => p.value.toArray() as Float32Array));
  await writeSafetensors(path, tensors, { metadata: { format: 'pt' } });
}

/**
 * Writes the model files of a run into `dir` (created): a llava-hf directory, or with LoRA a PEFT
 * adapter directory (adapters + projector) that applies to the base.
 */
export async function writeModelFiles(dir: string, c: Pick<CheckpointContent, 'model' | 'assetsFrom' | 'dtype' | 'projectorFile' | 'adapter'>): Promise<void> {
  if (c.adapter) await writePeftAdapter(dir, c.model, c.adapter);
  else await saveLlava(c.model, dir, { assetsFrom: c.assetsFrom, dtype: c.dtype });
  if (c.projectorFile) await writeProjector(join(dir, PROJECTOR_FILE), c.model);
}

/** Writes checkpoint-STEP atomically (temp folder, then rename) and keeps only the newest `keep`. */
export async function writeCheckpoint(outDir: string, c: CheckpointContent, keep: number | undefined): Promise<string> {
  const final = checkpointDir(outDir, c.state.step);
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    await writeModelFiles(tmp, c);
    await writeOptimizer(join(tmp, OPTIMIZER_FILE), c);
    writeFileSync(join(tmp, TRAINER_STATE_FILE), JSON.stringify(c.state, null, 2) + '\n');
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') {
      const last = listCheckpoints(outDir).at(-1);
      throw new Error(`disk full while writing ${final}; nothing half-written is left (last complete checkpoint: ${last === undefined ? 'none' : checkpointDir(outDir, last)})`);
    }
    throw e;
  }
  if (keep !== undefined) for (const old of listCheckpoints(outDir).slice(0, -keep)) rmSync(checkpointDir(outDir, old), { recursive: true, force: true });
  return final;
}

/** Reads a checkpoint's state and restores master weights and moments into the run. */
export function restoreCheckpoint(dir: string, trainable: readonly [string, Parameter][], optimizer: AdamW): TrainerState {
  const state = JSON.parse(readFileSync(join(dir, TRAINER_STATE_FILE), 'utf8')) as TrainerState;
  const file = readSafetensorsHeader(join(dir, OPTIMIZER_FILE));
  const read = (name: string) => {
    const entry = file.tensors.get(name);
    if (!entry) throw new Error(`${file.path}: ${name} is missing (was the checkpoint written with other trainable weights?)`);
    return readTensorAsF32(entry);
  };
  const moments = new Map<Parameter, { m: Float32Array; v: Float32Array }>();
  for (const [name, p] of trainable) {
    p.value.backend.write(p.value.ptr, read(`${name}.master`));
    moments.set(p, { m: read(`${name}.exp_avg`), v: read(`${name}.exp_avg_sq`) });
  }
  optimizer.restore(Number(file.metadata.step_count ?? state.step), moments);
  return state;
}
