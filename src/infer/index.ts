// Inference in one import: sampling, generation with a KV cache, chat sessions.
export * from './options.js';
export * from './sampling.js';
export * from './generate.js';
export * from './chat.js';
export * from './pipeline.js';
