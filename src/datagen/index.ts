// Instruction-data generation in one import: inputs, symbolic context, prompts, teachers,
// the resumable pipeline, export to LLaVA JSON and stage-1 caption pairs.
export * from './types.js';
export * from './inputs.js';
export * from './context.js';
export * from './prompts.js';
export * from './parse.js';
export * from './pipeline.js';
export * from './export.js';
export * from './pretrain.js';
