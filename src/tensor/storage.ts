// Refcounted backend memory behind tensors. Views share one Storage; memory returns to
// the backend's pool when the last reference is released (a finaliser is the safety net).
import type { Backend, Ptr } from '../backend/types.js';

/** How the memory was obtained, which decides how it is given back. */
export type StorageKind = 'owned' | 'mapped' | 'borrowed';

interface Held {
  backend: Backend;
  ptr: Ptr;
  bytes: number;
  kind: StorageKind;
}

// Frees memory of storages that were garbage-collected without being released.
const finalizer = new FinalizationRegistry<Held>((h) => {
  liveStorages--;
  giveBack(h);
});

function giveBack(h: Held): void {
  if (h.kind === 'owned') h.backend.free(h.ptr, h.bytes);
  else if (h.kind === 'mapped') h.backend.unmap(h.ptr, h.bytes);
}

let liveStorages = 0;

/** A block of backend memory with a reference count. */
export class Storage {
  private refs = 1;
  private readonly held: Held;

  constructor(
    readonly backend: Backend,
    readonly ptr: Ptr,
    readonly bytes: number,
    /** 'mapped' memory is a read-only file mapping: kernels must never write to it. */
    readonly kind: StorageKind = 'owned',
  ) {
    this.held = { backend, ptr, bytes, kind };
    finalizer.register(this, this.held, this);
    liveStorages++;
  }

  /** Allocates uninitialised memory on a backend. */
  static alloc(backend: Backend, bytes: number): Storage {
    return new Storage(backend, backend.alloc(bytes), bytes, 'owned');
  }

  /** Number of tensors (and saved views) holding this storage. */
  get refCount(): number {
    return this.refs;
  }

  get alive(): boolean {
    return this.refs > 0;
  }

  retain(): this {
    if (this.refs <= 0) throw new Error('storage already released');
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) throw new Error('storage released twice');
    if (--this.refs === 0) {
      finalizer.unregister(this);
      liveStorages--;
      giveBack(this.held);
    }
  }
}

/** Storages not yet released (for leak tests). */
export function liveStorageCount(): number {
  return liveStorages;
}
