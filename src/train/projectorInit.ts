// Starts a run's projector from a stage-1 result: its mm_projector.safetensors, or the projector
// tensors of a llava-hf directory (either weight-name layout).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LlavaModel } from '../model/llava.js';
import { fromCanonicalName } from '../model/weightNames.js';
import { openSafetensors, readSafetensorsHeader, readTensorAsF32, type TensorEntry } from '../model/safetensors.js';
import { PROJECTOR_FILE } from './checkpoints.js';

function projectorTensors(path: string): ReadonlyMap<string, TensorEntry> {
  if (!existsSync(path)) throw new Error(`--projector ${path}: not found`);
  if (!statSync(path).isDirectory()) return readSafetensorsHeader(path).tensors;
  const alone = join(path, PROJECTOR_FILE);
  return existsSync(alone) ? readSafetensorsHeader(alone).tensors : openSafetensors(path).tensors;
}

/** Copies projector weights (names in either llava-hf layout) into the model's projector. */
export function loadProjectorWeights(model: LlavaModel, path: string): void {
  const tensors = projectorTensors(path);
  for (const [name, p] of model.projector.namedParameters('projector.')) {
    const entry = tensors.get(fromCanonicalName(name, 'transformers-4')) ?? tensors.get(fromCanonicalName(name, 'transformers-5'));
    if (!entry) throw new Error(`--projector ${path}: no tensor for ${fromCanonicalName(name, 'transformers-4')}`);
    if (entry.shape.join(',') !== p.value.shape.join(',')) throw new Error(`--projector ${path}: ${entry.name} has shape [${entry.shape}], the model's projector needs [${p.value.shape}]`);
    if (p.value.dtype !== 'f32' || p.value.storage.kind === 'mapped') throw new Error(`--projector: the projector must be trainable (f32, owned) to be replaced`);
    p.value.backend.write(p.value.ptr, readTensorAsF32(entry));
  }
}
