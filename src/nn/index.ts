// The nn API: modules, parameters, layers, initialisers, optimisers, schedules, clipping.
export { Module, ModuleList } from './module.js';
export { Parameter } from './parameter.js';
export { Linear, Embedding, LayerNorm, RMSNorm, WeightOnly, Group, SourcedModule, randomWeights, fanInWeights, DEFAULT_INIT_STD, type WeightSource, type WeightRole } from './layers.js';
export * from './init.js';
export { AdamW, type AdamWOptions } from './optim/adamw.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export type { Optimizer, ParamGroup } from './optim/optimizer.js';
export { cosineWithWarmup, type CosineScheduleOptions } from './schedule.js';
export { clipGradNorm } from './clip.js';
