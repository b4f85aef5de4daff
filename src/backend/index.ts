// Backend registry: creates backends by name and holds the process default
// (native when the addon is built, else reference, overridable with LLAVA_BACKEND).
import type { Backend, BackendName } from './types.js';
import { createReferenceBackend } from './reference/index.js';
import { createNativeBackend } from './native/index.js';
import { addonAvailable } from './native/addon.js';

const instances = new Map<BackendName, Backend>();

/** The backend of that name (one instance per process). */
export function getBackend(name: BackendName): Backend {
  let b = instances.get(name);
  if (!b) {
    b = name === 'native' ? createNativeBackend() : createReferenceBackend();
    instances.set(name, b);
  }
  return b;
}

let defaultName: BackendName | undefined;

/** The backend tensors are created on unless one is named. */
export function defaultBackend(): Backend {
  if (!defaultName) {
    const env = process.env.LLAVA_BACKEND;
    if (env === 'native' || env === 'reference') defaultName = env;
    else if (env) throw new Error(`LLAVA_BACKEND must be 'native' or 'reference', got '${env}'`);
    else defaultName = addonAvailable() ? 'native' : 'reference';
  }
  return getBackend(defaultName);
}

/** Sets the default backend for tensors created from now on. */
export function setDefaultBackend(name: BackendName): void {
  defaultName = name;
}

export type { Backend, BackendName } from './types.js';

/** Runs fn with `backend` as the default (restored afterwards), e.g. to build a model on it. */
export function withBackend<T>(backend: Backend | undefined, fn: () => T): T {
  if (!backend) return fn();
  const prev = defaultName;
  defaultName = backend.name;
  try {
    return fn();
  } finally {
    defaultName = prev;
  }
}
