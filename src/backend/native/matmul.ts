// Native matmul: the addon's GEMM (OpenBLAS sgemm for f32 B when present, else the built-in
// packed kernel; bf16/f16 B always the built-in one, widened while packing).
import type { MatmulKernels, MatmulParams } from '../types.js';
import type { NativeAddon } from './addon.js';
import { DTYPE_CODE } from '../../tensor/dtype.js';
import { checkMatmulParams } from '../reference/matmul.js';

/** Positional arguments of the addon's matmul/matmulSerial, in MatmulParams order. */
function addonArgs(p: MatmulParams): unknown[] {
  return [
    p.batch, p.m, p.n, p.k,
    p.a, p.transA, p.lda, p.strideA,
    p.b, DTYPE_CODE[p.bDtype], p.transB, p.ldb, p.strideB,
    p.c, p.ldc, p.strideC,
    p.alpha, p.beta,
  ];
}

/** The native matmul family. */
export function nativeMatmul(addon: NativeAddon): MatmulKernels {
  return {
    matmul(p: MatmulParams): void {
      checkMatmulParams(p);
      addon.matmul!(...addonArgs(p));
    },
    gemmInfo: () => addon.gemmInfo!() as ReturnType<MatmulKernels['gemmInfo']>,
    setBlasDisabled: (disabled?: boolean) => addon.setBlasDisabled!(disabled),
  };
}

/**
 * The single-threaded built-in kernel (`gemm_serial`, which attention runs per head inside
 * pool tasks), exposed for tests: it must agree bit for bit with the threaded built-in kernel.
 */
export function nativeMatmulSerial(addon: NativeAddon, p: MatmulParams): void {
  checkMatmulParams(p);
  addon.matmulSerial!(...addonArgs(p));
}
