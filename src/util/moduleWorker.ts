// Starts a worker thread on a module beside the caller, both when running compiled (the .js file)
// and from the TypeScript sources under tsx (a two-line module registers tsx's loader first).
import { Worker } from 'node:worker_threads';

/**
 * A worker running `name` (without extension) from the folder of `callerUrl` (import.meta.url).
 * Compiled, it runs name.js; from .ts sources it registers tsx in the worker, then imports name.ts.
 */
export function startModuleWorker(callerUrl: string, name: string, workerData?: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const code = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(entry)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData });
}
