// Magic numbers of the LLaVA input pipeline, named once (as LLaVA's constants.py does).
// Label masking, image placeholders and the CLIP normalisation all read from here.

/** Label value the loss ignores (PyTorch's cross-entropy default ignore_index). */
export const IGNORE_INDEX = -100;

/** Internal id of the single image placeholder the original LLaVA splices features into. */
export const IMAGE_TOKEN_INDEX = -200;

/** The image placeholder as it appears in prompts and instruction data. */
export const DEFAULT_IMAGE_TOKEN = '<image>';

/** Padding token llava-hf adds after `<image>`. */
export const DEFAULT_PAD_TOKEN = '<pad>';

/** CLIP's per-channel RGB mean (OpenAI CLIP, used by every LLaVA vision tower). */
export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];

/** CLIP's per-channel RGB standard deviation. */
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** Largest image we decode, in pixels: larger files are rejected from their header alone. */
export const MAX_IMAGE_PIXELS = 50_000_000;

/** Pillow's resample code for bicubic, as stored in preprocessor_config.json. */
export const PIL_BICUBIC = 3;

/** Pillow's resample code for bilinear. */
export const PIL_BILINEAR = 2;
