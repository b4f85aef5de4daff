// A GGUF file mapped read-only into a backend, its tensors handed out as our Tensors: F32, F16 and
// BF16 and the quantised block formats as views over the mapping (no copy; linear and embedding
// read the blocks), rows that must be reordered as owned copies.
import type { Backend } from '../backend/types.js';
import { Storage } from '../tensor/storage.js';
import { empty, fromStorage, type Tensor } from '../tensor/tensor.js';
import { dtypeBytes, isQuantDType } from '../tensor/dtype.js';
import { GgufError } from './format.js';
import { ggmlBytes, type GgmlType } from './ggmlTypes.js';
import { dtypeOfGgmlType } from './dtypes.js';
import type { GgufHeader, GgufTensorInfo } from './reader.js';

/** Whether a GGUF type is a plain float (F32, F16, BF16: one value per element) rather than a block format. */
export function isFloatGgml(type: GgmlType): boolean {
  return !isQuantDType(dtypeOfGgmlType(type));
}

/** Rewrites a tensor's raw bytes (rows of `rowBytes` bytes each), e.g. the rope row order. */
export type RowTransform = (bytes: Uint8Array, rowBytes: number) => Uint8Array;

/** One mapped GGUF file. Tensors made from it keep the mapping alive; release() drops the file's own hold. */
export class MappedGguf {
  private constructor(
    readonly header: GgufHeader,
    private readonly storage: Storage,
  ) {}

  /** Maps the file whose header was read; a file that changed size since is an error. */
  static open(header: GgufHeader, backend: Backend): MappedGguf {
    const { ptr, bytes } = backend.mapFile(header.path);
    if (bytes !== header.fileBytes) {
      backend.unmap(ptr, bytes);
      throw new GgufError(`${header.path}: mapped ${bytes} bytes, the header was read from ${header.fileBytes} (file changed while loading?)`);
    }
    return new MappedGguf(header, new Storage(backend, ptr, bytes, 'mapped'));
  }

  get backend(): Backend {
    return this.storage.backend;
  }

  /** A copy of a tensor's raw bytes, checked to lie inside the mapping. */
  bytes(info: GgufTensorInfo): Uint8Array {
    this.check(info);
    return this.backend.read(this.storage.ptr + info.offset, info.bytes);
  }

  private check(info: GgufTensorInfo): void {
    if (!Number.isSafeInteger(info.offset) || info.offset < 0 || info.offset + info.bytes > this.storage.bytes) {
      throw new GgufError(`${this.header.path}: tensor ${info.name}: bytes [${info.offset}, ${info.offset + info.bytes}) lie outside the ${this.storage.bytes}-byte file`);
    }
  }

  /**
   * Tensor `info` as `shape` (PyTorch order, the reverse of GGUF's dims): a view over the mapping
   * unless `rows` reorders it or a plain float's offset is misaligned for its dtype; then an owned copy.
   */
  tensor(info: GgufTensorInfo, shape: readonly number[], rows?: RowTransform): Tensor {
    this.check(info);
    const elements = shape.reduce((a, b) => a * b, 1);
    if (elements !== info.elements) throw new GgufError(`${this.header.path}: tensor ${info.name}: ${info.elements} elements, expected [${shape.join(', ')}]`);
    const rowBytes = ggmlBytes(info.type, info.dims[0]!); // the reader checked rows fill whole blocks
    const dtype = dtypeOfGgmlType(info.type);
    // Quantised blocks are read in place at any byte offset (GGUF aligns tensors to 32 bytes,
    // not to whole blocks); plain floats need an offset aligned to their element size.
    const inPlace = isQuantDType(dtype) || info.offset % dtypeBytes(dtype, 1) === 0;
    if (!rows && inPlace) return fromStorage(this.storage.retain(), shape, dtype, info.offset);
    const raw = this.bytes(info);
    const out = empty(shape, { dtype, backend: this.backend });
    this.backend.write(out.ptr, rows ? rows(raw, rowBytes) : raw);
    return out;
  }

  /** Drops the file's own reference; the mapping lives on while tensors use it. */
  release(): void {
    this.storage.release();
  }
}
