// Throughput of the native elementwise kernels that training leans on, next to a plain
// memcpy of the same traffic. Prints one JSON object per case; nothing here is asserted.
// Single-threaded cases are timed in process CPU time, which stays meaningful on a busy
// machine; the threaded figure is wall-clock time and only as good as the machine is idle.
import { getBackend } from '../src/backend/index.js';
import { loadAddon } from '../src/backend/native/addon.js';
import type { Backend, Ptr } from '../src/backend/types.js';
import { Rng } from '../src/tensor/random.js';

/** Seconds each case is repeated for (after one warm-up call). */
const SECONDS_PER_CASE = 0.5;
const GB = 1e9;

interface Case {
  readonly name: string;
  /** Bytes read plus bytes written by one call. */
  readonly traffic: number;
  readonly run: () => void;
}

function randomBuffer(b: Backend, rng: Rng, n: number): Ptr {
  const p = b.alloc(n * 4);
  b.write(p, rng.normalArray(n));
  return p;
}

/** Seconds per call, after one warm-up call, over a fixed window of the chosen clock. */
function secondsPerCall(run: () => void, clock: 'cpu' | 'wall'): number {
  const now = (): number => {
    if (clock === 'wall') return Number(process.hrtime.bigint()) / 1e9;
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  run();
  let calls = 0;
  const start = now();
  let elapsed = 0;
  while (elapsed < SECONDS_PER_CASE) {
    run();
    calls++;
    elapsed = now() - start;
  }
  return elapsed / calls;
}

function main(): void {
  const b = getBackend('native');
  const addon = loadAddon();
  const rng = new Rng(1);
  const R = 256;
  const C = 2048;
  const n = R * C;
  const x = randomBuffer(b, rng, n);
  const y = randomBuffer(b, rng, n);
  const out = b.alloc(n * 4);
  const bias = randomBuffer(b, rng, C);
  const P = 10_000_000;
  const [p, g, m, v] = [0, 1, 2, 3].map(() => randomBuffer(b, rng, P)) as [Ptr, Ptr, Ptr, Ptr];
  b.fill('f32', P, v, 1e-3);
  const T = 1024;
  const big = randomBuffer(b, rng, T * T);
  const bigOut = b.alloc(T * T * 4);
  const vocab = 32000;
  const dim = 4096;
  const table = b.alloc(vocab * dim * 2);
  b.fill('bf16', vocab * dim, table, 0.5);
  const ids = b.alloc(512 * 4);
  b.write(ids, Int32Array.from({ length: 512 }, () => rng.int(vocab)));
  const embOut = b.alloc(512 * dim * 4);
  const step = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, biasCorrection1: 0.1, biasCorrection2: 0.001 };

  const cases: Case[] = [
    { name: 'add 256x2048 contiguous', traffic: 3 * n * 4, run: () => b.binary('add', [R, C], { ptr: x, strides: [C, 1] }, { ptr: y, strides: [C, 1] }, out) },
    { name: 'bias add 256x2048 + (2048)', traffic: 2 * n * 4, run: () => b.binary('add', [R, C], { ptr: x, strides: [C, 1] }, { ptr: bias, strides: [0, 1] }, out) },
    { name: 'mul by scalar 256x2048', traffic: 2 * n * 4, run: () => b.binary('mul', [R, C], { ptr: x, strides: [C, 1] }, { ptr: bias, strides: [0, 0] }, out) },
    { name: 'add transposed a 256x2048', traffic: 3 * n * 4, run: () => b.binary('add', [R, C], { ptr: x, strides: [1, R] }, { ptr: y, strides: [C, 1] }, out) },
    { name: 'gelu 256x2048', traffic: 2 * n * 4, run: () => b.unary('gelu', n, x, out, 0, 0) },
    { name: 'gelu backward 256x2048', traffic: 3 * n * 4, run: () => b.unaryBackward('gelu', n, x, y, out, 0, 0) },
    { name: 'quick_gelu 256x2048', traffic: 2 * n * 4, run: () => b.unary('quick_gelu', n, x, out, 0, 0) },
    { name: 'silu 256x2048', traffic: 2 * n * 4, run: () => b.unary('silu', n, x, out, 0, 0) },
    { name: 'silu backward 256x2048', traffic: 3 * n * 4, run: () => b.unaryBackward('silu', n, x, y, out, 0, 0) },
    { name: 'exp 256x2048', traffic: 2 * n * 4, run: () => b.unary('exp', n, x, out, 0, 0) },
    { name: 'tanh 256x2048', traffic: 2 * n * 4, run: () => b.unary('tanh', n, x, out, 0, 0) },
    { name: 'sum rows 256x2048 (inner 1)', traffic: n * 4, run: () => b.reduce('sum', R, C, 1, x, out) },
    { name: 'sum columns 256x2048 (outer 1, bias grad)', traffic: n * 4, run: () => b.reduce('sum', 1, R, C, x, out) },
    { name: 'argmax rows 256x2048', traffic: n * 4, run: () => b.argmax(R, C, 1, x, out) },
    { name: 'adamw 10M params', traffic: 7 * P * 4, run: () => b.adamw(P, p, g, m, v, step) },
    { name: 'transpose copy 1024x1024 f32', traffic: 2 * T * T * 4, run: () => b.copy('f32', [T, T], { ptr: big, strides: [1, T] }, { ptr: bigOut, strides: [T, 1] }) },
    { name: 'contiguous copy 1024x1024 f32', traffic: 2 * T * T * 4, run: () => b.copy('f32', [T, T], { ptr: big, strides: [T, 1] }, { ptr: bigOut, strides: [T, 1] }) },
    { name: 'cast f32->bf16 1024x1024', traffic: T * T * 6, run: () => b.cast(T * T, big, 'f32', bigOut, 'bf16') },
    { name: 'embedding 512 ids from bf16 32000x4096', traffic: 512 * dim * 6, run: () => b.embedding(512, dim, vocab, table, 'bf16', ids, embOut) },
  ];
  const memcpyTo = b.alloc(7 * P * 4);
  const memcpyFrom = b.alloc(7 * P * 4);
  b.fill('f32', 7 * P, memcpyFrom, 1);
  b.fill('f32', 7 * P, memcpyTo, 1);
  const threads = b.threads();
  for (const c of cases) {
    const only = process.argv[2];
    if (only && !c.name.includes(only)) continue;
    // memcpy moving the same traffic: half read, half written.
    const copySame = (): void => void addon.copyBytes!(memcpyTo, memcpyFrom, c.traffic / 2);
    b.threads(1);
    const t1 = secondsPerCall(c.run, 'cpu');
    const m1 = secondsPerCall(copySame, 'cpu');
    b.threads(threads);
    const tn = secondsPerCall(c.run, 'wall');
    console.log(
      JSON.stringify({
        case: c.name,
        usOneThread: +(t1 * 1e6).toFixed(1),
        gbpsOneThread: +(c.traffic / t1 / GB).toFixed(2),
        memcpyGbpsOneThread: +(c.traffic / m1 / GB).toFixed(2),
        ofMemcpy: +(m1 / t1).toFixed(2),
        [`usWall${threads}Threads`]: +(tn * 1e6).toFixed(1),
      }),
    );
  }
}

main();
