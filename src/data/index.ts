// The input pipeline in one import: images (decode, Pillow-exact resize, CLIP
// preprocessing), tokenizer, templates and labels, chat templates, constants, .npy files.
export * from './constants.js';
export * from './image.js';
export * from './pillowResize.js';
export * from './preprocess.js';
export * from './tokenizer.js';
export * from './templates.js';
export * from './chatTemplate.js';
export * from './labels.js';
export * from './npy.js';
