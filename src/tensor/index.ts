// The public tensor API in one import: tensors and factories, every op, scopes,
// autograd entry points and the seeded generator.
export { Tensor, empty, tensor, full, zeros, ones, fromStorage, contiguousCopy, type TensorOptions } from './tensor.js';
export { Storage, liveStorageCount } from './storage.js';
export { tidy, keep } from './scope.js';
export { Rng } from './random.js';
export type { DType, PlainDType, QuantDType } from './dtype.js';
export * from './shape.js';
export * from './ops/view.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/matmul.js';
export * from './ops/join.js';
export * from './ops/quant.js';
export * from './ops/nn.js';
export * from './ops/random.js';
export { noGrad, isGradEnabled } from '../autograd/tape.js';
export { backward } from '../autograd/backward.js';
