// Worker thread of the training image loader: decodes and preprocesses images on request, so
// the next batch is ready while the main thread computes the current step.
import { parentPort, workerData } from 'node:worker_threads';
import { preprocessImage, type ImageProcessorConfig } from '../data/preprocess.js';

/** A request: preprocess the image at `path`. */
export interface ImageRequest {
  readonly id: number;
  readonly path: string;
}

/** The reply: pixel values (transferred), or the error message. */
export type ImageReply =
  | { readonly id: number; readonly data: Float32Array; readonly shape: readonly [number, number, number] }
  | { readonly id: number; readonly error: string };

const config = workerData as ImageProcessorConfig;
parentPort!.on('message', (req: ImageRequest) => {
  preprocessImage(req.path, config).then(
    (px) => parentPort!.postMessage({ id: req.id, data: px.data, shape: [px.channels, px.height, px.width] } satisfies ImageReply, [px.data.buffer as ArrayBuffer]),
    (e: Error) => parentPort!.postMessage({ id: req.id, error: e.message } satisfies ImageReply),
  );
});
