// `llava serve`: the OpenAI- and Ollama-compatible API and the chat page for one llava-hf
// checkpoint. It listens at once (/health says 503 until the model is loaded), decodes up to
// --parallel requests together, and on SIGTERM or SIGINT stops taking requests, lets running
// ones finish (up to --grace seconds) and exits.
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { LlavaPipeline } from '../infer/pipeline.js';
import { addImageAspectFlag, parseImageAspectFlag } from '../infer/options.js';
import { createServer, DEFAULT_SERVE_OPTIONS } from '../serve/server.js';
import { DEFAULT_IMAGE_POLICY } from '../serve/images.js';
import { addQuantizeFlag, quantizeFlag } from './flags.js';

interface ServeFlags {
  model: string;
  host: string;
  port: string;
  parallel: string;
  queue: string;
  queueTimeout: string;
  apiKey?: string;
  apiKeyEnv?: string;
  mediaRoot?: string;
  allowRemoteImages?: boolean;
  cors?: string;
  adapter?: string;
  mmproj?: string;
  maxBodyMb: string;
  maxImageMb: string;
  maxImagePixels: string;
  maxImages: string;
  grace: string;
  imageAspect?: string;
  accessLog: boolean;
  quantize?: string;
}

function positive(flag: string, v: string): number {
  const x = Number(v);
  if (!Number.isFinite(x) || x <= 0) throw new Error(`--${flag} must be a positive number, got '${v}'`);
  return x;
}

export function register(program: Command): void {
  const cmd = program
    .command('serve')
    .description('serve a llava-hf checkpoint: OpenAI and Ollama APIs, /health, /metrics and a chat page')
    .requiredOption('--model <path>', 'llava-hf model directory, or a llama.cpp language model .gguf (with --mmproj)')
    .option('--mmproj <file>', 'with a .gguf model: the CLIP mmproj .gguf (vision tower and projector)')
    .option('--host <addr>', 'address to bind (127.0.0.1: this machine only)', '127.0.0.1')
    .option('--port <n>', 'port', '8080')
    .option('--parallel <n>', 'requests decoded together (continuous batching)', String(DEFAULT_SERVE_OPTIONS.parallel))
    .option('--queue <n>', 'requests waiting for a slot at most; more get 503', String(DEFAULT_SERVE_OPTIONS.queue))
    .option('--queue-timeout <s>', 'seconds a request may wait for a slot before 503', String(DEFAULT_SERVE_OPTIONS.queueTimeoutMs / 1000))
    .option('--api-key <key>', 'require Authorization: Bearer KEY on /v1, /api and /metrics')
    .option('--api-key-env <var>', 'read the API key from this environment variable instead')
    .option('--media-root <dir>', 'allow file:// images below this folder')
    .option('--allow-remote-images', 'fetch http(s) image URLs (public addresses only)')
    .option('--cors <origin>', 'allow this browser origin (* for any)')
    .option('--adapter <dir>', 'apply a PEFT LoRA adapter directory')
    .option('--max-body-mb <n>', 'request body limit in MB', String(DEFAULT_SERVE_OPTIONS.bodyLimitBytes >> 20))
    .option('--max-image-mb <n>', 'encoded image size limit in MB', String(DEFAULT_IMAGE_POLICY.maxImageBytes >> 20))
    .option('--max-image-pixels <n>', 'decoded image size limit in pixels', String(DEFAULT_SERVE_OPTIONS.maxImagePixels))
    .option('--max-images <n>', 'images one request may carry', String(DEFAULT_SERVE_OPTIONS.maxImages))
    .option('--grace <s>', 'seconds running requests get to finish on SIGTERM', '30')
    .option('--no-access-log', 'do not write the JSON access log to stderr');
  addQuantizeFlag(addImageAspectFlag(cmd)).action(async (flags: ServeFlags) => {
    const quantize = quantizeFlag(flags.quantize);
    const apiKey = flags.apiKeyEnv ? process.env[flags.apiKeyEnv] : flags.apiKey;
    if (flags.apiKeyEnv && !apiKey) throw new Error(`--api-key-env: ${flags.apiKeyEnv} is not set`);
    const port = Number(flags.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got '${flags.port}'`);
    const server = createServer({
      modelId: basename(resolve(flags.model)),
      parallel: Math.floor(positive('parallel', flags.parallel)),
      queue: Math.floor(positive('queue', flags.queue)),
      queueTimeoutMs: positive('queue-timeout', flags.queueTimeout) * 1000,
      apiKey,
      cors: flags.cors,
      bodyLimitBytes: Math.floor(positive('max-body-mb', flags.maxBodyMb) * (1 << 20)),
      maxImagePixels: Math.floor(positive('max-image-pixels', flags.maxImagePixels)),
      maxImages: Math.floor(positive('max-images', flags.maxImages)),
      imagePolicy: {
        ...DEFAULT_IMAGE_POLICY,
        maxImageBytes: Math.floor(positive('max-image-mb', flags.maxImageMb) * (1 << 20)),
        mediaRoot: flags.mediaRoot ? resolve(flags.mediaRoot) : undefined,
        allowRemote: flags.allowRemoteImages === true,
      },
      accessLog: flags.accessLog ? (entry) => process.stderr.write(JSON.stringify(entry) + '\n') : undefined,
    });
    const address = await server.app.listen({ host: flags.host, port });
    process.stderr.write(`llava serve: listening on ${address} (loading ${flags.model})\n`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`llava serve: ${signal}: finishing running requests (up to ${flags.grace} s)\n`);
      server.shutdown(positive('grace', flags.grace) * 1000).then(
        () => process.exit(0),
        (e: Error) => {
          process.stderr.write(`llava serve: shutdown failed: ${e.message}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // Let the listen settle (health answers 503) before the synchronous load.
    await new Promise((r) => setImmediate(r));
    const pipeline = LlavaPipeline.load(flags.model, { imageAspect: parseImageAspectFlag(flags.imageAspect), adapter: flags.adapter, mmproj: flags.mmproj, quantize });
    server.attach(pipeline);
    process.stderr.write(`llava serve: ready: ${address}/ (chat page), ${address}/v1 (OpenAI), ${address}/api (Ollama)\n`);
  });
}
