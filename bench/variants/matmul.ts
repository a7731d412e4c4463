/**
 * matmul forward c = a·b (plain layout), numbered versions, and the
 * elementwise floor.
 *
 *   matmul1  library (src/kernels/matmul.ts): one thread per output, the K
 *            loop unrolled into 4 independent accumulators.
 *   matmul2  8 accumulators: twice the independent multiply-adds in flight
 *            per loop iteration (more instruction-level parallelism for the
 *            webasm f32x4 lanes and for llvmpipe's vectorised invocations),
 *            half the loop overhead. Error bound: the chains are ⌈K/8⌉ long,
 *            so matmulBound (written for 4 chains, ⌈K/4⌉ + 2 roundings)
 *            still covers it.
 *   copy1    out[i] = x[i] over 4M elements (device.upload's kernel on
 *            webgpu): the cheapest possible gpu.js kernel, the floor under
 *            every elementwise kernel (GELU, residual, cast, AdamW).
 */
import type { Device } from '../../src/device.js';
import { idiv } from '../../src/kernels/gpujs/index-math.js';
import { matmul } from '../../src/kernels/matmul.js';
import type { Tensor } from '../../src/tensor.js';

interface MmThis {
  thread: { x: number };
  constants: { N: number; K8: number; KR: number };
}

/** c[r, c] = Σ_k a[r, k]·b[k, c], 8 accumulators (K = 8·K8 + KR). */
function matmul2Kernel(this: MmThis, a: number[], b: number[]): number {
  const r = idiv(this.thread.x, this.constants.N);
  const c = this.thread.x - r * this.constants.N;
  const K = this.constants.K8 * 8 + this.constants.KR;
  const aBase = r * K;
  const N = this.constants.N;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let s4 = 0;
  let s5 = 0;
  let s6 = 0;
  let s7 = 0;
  for (let q = 0; q < this.constants.K8; q++) {
    const ak = aBase + q * 8;
    const bk = q * 8 * N + c;
    s0 += a[ak] * b[bk];
    s1 += a[ak + 1] * b[bk + N];
    s2 += a[ak + 2] * b[bk + 2 * N];
    s3 += a[ak + 3] * b[bk + 3 * N];
    s4 += a[ak + 4] * b[bk + 4 * N];
    s5 += a[ak + 5] * b[bk + 5 * N];
    s6 += a[ak + 6] * b[bk + 6 * N];
    s7 += a[ak + 7] * b[bk + 7 * N];
  }
  for (let q = 0; q < this.constants.KR; q++) {
    s0 += a[aBase + this.constants.K8 * 8 + q] * b[(this.constants.K8 * 8 + q) * N + c];
  }
  return s0 + s1 + (s2 + s3) + (s4 + s5 + (s6 + s7));
}

function copyKernel(this: { thread: { x: number } }, x: number[]): number {
  return x[this.thread.x];
}

export type MatmulVersion = (d: Device, a: Tensor, b: Tensor, M: number, K: number, N: number) => Promise<Tensor[]>;

export const MATMUL_VERSIONS: Record<string, MatmulVersion> = {
  matmul1: async (d, a, b) => [await matmul(d, a, b)],
  matmul2: async (d, a, b, M, K, N) => [
    await d.gpujs!.run({ name: 'v.matmul2', fn: matmul2Kernel, outputs: M * N, constants: { N, K8: Math.floor(K / 8), KR: K % 8 } }, [a, b], [M, N]),
  ],
};

export async function copy1(d: Device, x: Tensor): Promise<Tensor> {
  return d.gpujs!.run({ name: 'v.copy1', fn: copyKernel, outputs: x.size }, [x], x.shape);
}
