// llava-ts: LLaVA in TypeScript. The package's public API, one namespace per stage of
// the pipeline (data -> model -> train -> infer / eval), plus the tensor core.
export * as tensor from './tensor/index.js';
export * as nn from './nn/index.js';
export * as data from './data/index.js';
export * as datagen from './datagen/index.js';
export * as world from './world/index.js';
export * as model from './model/index.js';
export * as infer from './infer/index.js';
export { getBackend, defaultBackend, setDefaultBackend, withBackend, type Backend, type BackendName } from './backend/index.js';
