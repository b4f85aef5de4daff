// Storage for the reference backend: plain JS ArrayBuffers behind synthetic addresses,
// so kernels of both backends take the same (address + byte offset) arguments.
import type { Ptr } from '../types.js';

/** Bytes of address space per buffer: addresses are slot * SPAN + byte offset. */
const SPAN = 2 ** 33;

export class RefMemory {
  private readonly buffers: (ArrayBuffer | undefined)[] = [undefined];
  private readonly freeSlots: number[] = [];
  private liveBytes = 0;
  private peakLiveBytes = 0;

  alloc(bytes: number): Ptr {
    if (bytes > SPAN) throw new Error(`reference backend: allocation of ${bytes} bytes exceeds ${SPAN}`);
    const slot = this.freeSlots.pop() ?? this.buffers.length;
    this.buffers[slot] = new ArrayBuffer(Math.max(bytes, 1));
    this.liveBytes += bytes;
    this.peakLiveBytes = Math.max(this.peakLiveBytes, this.liveBytes);
    return slot * SPAN;
  }

  free(ptr: Ptr, bytes: number): void {
    const slot = Math.floor(ptr / SPAN);
    if (!this.buffers[slot]) throw new Error(`reference backend: double free of ${ptr}`);
    this.buffers[slot] = undefined;
    this.freeSlots.push(slot);
    this.liveBytes -= bytes;
  }

  /** The buffer holding ptr and the byte offset of ptr inside it. */
  resolve(ptr: Ptr): { buffer: ArrayBuffer; byteOffset: number } {
    const slot = Math.floor(ptr / SPAN);
    const buffer = this.buffers[slot];
    if (!buffer) throw new Error(`reference backend: address ${ptr} is not allocated`);
    return { buffer, byteOffset: ptr - slot * SPAN };
  }

  /** A Float32Array of n elements starting at ptr (ptr must be 4-byte aligned). */
  f32(ptr: Ptr, n: number): Float32Array {
    const { buffer, byteOffset } = this.resolve(ptr);
    return new Float32Array(buffer, byteOffset, n);
  }

  i32(ptr: Ptr, n: number): Int32Array {
    const { buffer, byteOffset } = this.resolve(ptr);
    return new Int32Array(buffer, byteOffset, n);
  }

  u16(ptr: Ptr, n: number): Uint16Array {
    const { buffer, byteOffset } = this.resolve(ptr);
    return new Uint16Array(buffer, byteOffset, n);
  }

  bytes(ptr: Ptr, n: number): Uint8Array {
    const { buffer, byteOffset } = this.resolve(ptr);
    return new Uint8Array(buffer, byteOffset, n);
  }

  stats(): { liveBytes: number; cachedBytes: number; peakLiveBytes: number } {
    return { liveBytes: this.liveBytes, cachedBytes: 0, peakLiveBytes: this.peakLiveBytes };
  }
}
