// q4_0x8 in the reference backend: q4_0 rows interleaved in groups of 8 (native/quant.h's layout,
// what native/gemm_quant.cpp's repack writes byte for byte), and back, so the reference matmul can
// dequantise an interleaved weight as plain q4_0 rows.
import { X8_ROWS } from '../../tensor/dtype.js';

const BLOCK = 32;
const BLOCK_BYTES = 18;
const GROUP_BYTES = X8_ROWS * BLOCK_BYTES;

/** Byte of an X8 group and whether the high nibble holds element e of row r (quant.h's layout). */
function place(r: number, e: number): { byte: number; high: boolean } {
  const t = (e & 15) >> 3;
  const h = (e & 7) >> 2;
  const j = e & 3;
  return { byte: 16 + 64 * t + 4 * (2 * r + h) + j, high: e >= 16 };
}

function checkShape(rows: number, k: number): void {
  if (rows % X8_ROWS !== 0 || k % BLOCK !== 0) throw new Error(`q4_0x8: rows (${rows}) must be a multiple of ${X8_ROWS} and columns (${k}) of ${BLOCK}`);
}

/**
 * Visits every block of every row: o is the byte offset of its q4_0x8 group, s that of its q4_0
 * block, r the row within the group.
 */
function forEachBlock(rows: number, k: number, visit: (o: number, s: number, r: number) => void): void {
  checkShape(rows, k);
  const nb = k / BLOCK;
  for (let g = 0; g < rows / X8_ROWS; g++) {
    for (let b = 0; b < nb; b++) {
      for (let r = 0; r < X8_ROWS; r++) visit((g * nb + b) * GROUP_BYTES, ((g * X8_ROWS + r) * nb + b) * BLOCK_BYTES, r);
    }
  }
}

/** Nibble e of a q4_0 block's quants (element order: low nibbles 0..15, then the high ones). */
function q4Element(qs: Uint8Array, at: number, e: number): number {
  return e < 16 ? qs[at + e]! & 15 : qs[at + e - 16]! >> 4;
}

/** rows q4_0 rows of k values (row after row) as q4_0x8. */
export function interleaveQ4_0(src: Uint8Array, rows: number, k: number): Uint8Array {
  const out = new Uint8Array(src.length);
  forEachBlock(rows, k, (o, s, r) => {
    out.set(src.subarray(s, s + 2), o + 2 * r);
    for (let e = 0; e < BLOCK; e++) {
      const { byte, high } = place(r, e);
      const q = q4Element(src, s + 2, e);
      out[o + byte]! |= high ? q << 4 : q;
    }
  });
  return out;
}

/** q4_0x8 bytes back to rows of q4_0 blocks. */
export function deinterleaveQ4_0(src: Uint8Array, rows: number, k: number): Uint8Array {
  const out = new Uint8Array(src.length);
  forEachBlock(rows, k, (o, s, r) => {
    out.set(src.subarray(o + 2 * r, o + 2 * r + 2), s);
    for (let e = 0; e < BLOCK; e++) {
      const { byte, high } = place(r, e);
      const q = high ? src[o + byte]! >> 4 : src[o + byte]! & 15;
      out[s + 2 + (e & 15)]! |= e < 16 ? q : q << 4;
    }
  });
  return out;
}
