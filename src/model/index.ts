// The LLaVA model package in one import: configs, weight names, modules, the wrapper, the KV
// cache and checkpoint I/O. Inference (generation, chat) lives in src/infer.
export * from './config.js';
export * from './namedConfigs.js';
export * from './configWrite.js';
export * from './weightNames.js';
export * from './activation.js';
export * from './clipVit.js';
export * from './projector.js';
export * from './llama.js';
export * from './kvCache.js';
export * from './llava.js';
export * from './checkpoint.js';
export {
  SafetensorsError,
  openSafetensors,
  readSafetensorsHeader,
  type SafetensorsCheckpoint,
  type TensorEntry,
} from './safetensors.js';
export { writeSafetensors, writeShardedSafetensors, type TensorToWrite } from './safetensorsWriter.js';
