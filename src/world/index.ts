// The synthetic world's programmatic API: scenes, rendering, annotations, captions and the
// world-bench questions with their scoring, for the trainer, evaluator and data generator.

export * from './vocabulary.js';
export * from './phrasings.js';
export { DEFAULT_SCENE_CONFIG, generateScene, objectBox, sceneSeed } from './scene.js';
export type { GradientDirection, Scene, SceneConfig, SceneObject, UnitBox } from './scene.js';
export { MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, checkImageSize, renderScene } from './raster.js';
export type { RgbImage } from './raster.js';
export { encodePng } from './png.js';
export { CAPTIONS_PER_IMAGE, captionScene } from './captions.js';
export { RELATIONS, REGION_PHRASES, holds, opposite, regionOf } from './spatial.js';
export type { Located, Relation } from './spatial.js';
export { CATEGORIES, buildAnnotations, imageFileName, loadWorld, makeSplits, worldImages } from './annotations.js';
export type { CocoAnnotation, CocoCategory, CocoImage, LoadedWorld, WorldAnnotations, WorldImage, WorldObject, WorldSplits } from './annotations.js';
export { DEFAULT_IMAGE_SIZE, describeWorld, generateScenes, generateWorld, writeFileAtomic, writeFileAtomicMkdir } from './world.js';
export type { WorldOptions, WorldSummary } from './world.js';
export { COUNT_ANSWERS, DEFAULT_BENCH_OPTIONS, POPE_SETTINGS, benchmarkToJsonLines, generateBenchmark, generateTrainingQuestions } from './benchmark.js';
export type { BenchOptions, BenchQuestion, PopeSetting } from './benchmark.js';
export { DEFAULT_SHEET_OPTIONS, drawContactSheet } from './sheet.js';
export type { SheetOptions } from './sheet.js';
export { formatWorldBenchReport, readBenchQuestions, readBenchReplies, readReply, scoreWorldBench } from '../eval/worldBench.js';
export type { BenchReply, WorldBenchReport } from '../eval/worldBench.js';
export { parseChoice, parseColor, parseCount, parseMentions, parseYesNo } from '../eval/worldBenchParse.js';
export { DEFAULT_VQA_OPTIONS, shortAnswer, worldVqaEntries } from './vqa.js';
export type { WorldVqaOptions } from './vqa.js';
