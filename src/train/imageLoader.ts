// Training images, decoded and preprocessed in worker threads (round robin), so data loading
// overlaps the step being computed; with 0 workers it runs on the main thread.
import type { Worker } from 'node:worker_threads';
import { preprocessImage, type ImageProcessorConfig, type PixelValues } from '../data/preprocess.js';
import { startModuleWorker } from '../util/moduleWorker.js';
import type { ImageReply, ImageRequest } from './imageWorker.js';

/** Loads images into pixel values, in workers when it has any. */
export class ImageLoader {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, { resolve: (p: PixelValues) => void; reject: (e: Error) => void }>();
  private nextId = 0;

  constructor(
    private readonly config: ImageProcessorConfig,
    workers: number,
  ) {
    if (!Number.isInteger(workers) || workers < 0) throw new Error(`image workers must be a non-negative integer, got ${workers}`);
    this.workers = Array.from({ length: workers }, () => {
      const w = startModuleWorker(import.meta.url, 'imageWorker', config);
      w.on('message', (reply: ImageReply) => this.settle(reply));
      w.on('error', (e) => this.failAll(e));
      return w;
    });
  }

  private settle(reply: ImageReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if ('error' in reply) p.reject(new Error(reply.error));
    else p.resolve({ data: reply.data, channels: 3, height: reply.shape[1], width: reply.shape[2] });
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Pixel values of one image file. */
  load(path: string): Promise<PixelValues> {
    if (this.workers.length === 0) return preprocessImage(path, this.config);
    const id = this.nextId++;
    const worker = this.workers[id % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, path } satisfies ImageRequest);
    });
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    this.failAll(new Error('image loader closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
