/**
 * Row reductions shared by the gpu.js kernels: max, sum, Σexp(x − m) and dot
 * products along the last axis of an (N, L) matrix.
 *
 * One thread per row would give too little parallel work for long rows
 * (64 rows of 50,304 logits is 64 threads), so a row is split into chunks of
 * ROW_CHUNK: pass 1 has one thread per (row, chunk), pass 2 reduces the
 * chunk partials of each row. Rows no longer than a chunk take one pass.
 *
 * Special values, with the float64 reference's semantics:
 *   - rowMax: NaN if the row has a NaN, else the IEEE maximum (so +Inf wins,
 *     and an all −Inf row gives −Inf). GPU `max()` drops NaNs and the
 *     `Infinity` literal compiles to FLT_MAX, so NaN and ±Inf are passed in as
 *     arguments (`nan`, `inf`) and NaN is tested with v != v.
 *   - sums follow IEEE arithmetic.
 */
import type { GpuJsRuntime } from '../../backends/gpujs.js';
import { ROW_CHUNK } from '../bounds.js';
import { idiv } from './index-math.js';
import type { Tensor } from '../../tensor.js';

interface RowThis {
  thread: { x: number };
  constants: { L: number; CH: number; NC: number };
}

/** NaN-propagating max of chunk `c` of row `r`; thread = r·NC + c. */
function rowMaxKernel(this: RowThis, x: number[], nan: number, inf: number): number {
  const r = idiv(this.thread.x, this.constants.NC);
  const c = this.thread.x - r * this.constants.NC;
  const start = r * this.constants.L + c * this.constants.CH;
  let m = -inf;
  let sawNaN = 0;
  for (let i = 0; i < this.constants.CH; i++) {
    if (c * this.constants.CH + i < this.constants.L) {
      const v = x[start + i];
      if (v != v) {
        sawNaN = 1;
      } else if (v > m) {
        m = v;
      }
    }
  }
  if (sawNaN > 0) {
    return nan;
  }
  return m;
}

/** Plain sum of a chunk. */
function rowSumKernel(this: RowThis, x: number[]): number {
  const r = idiv(this.thread.x, this.constants.NC);
  const c = this.thread.x - r * this.constants.NC;
  const start = r * this.constants.L + c * this.constants.CH;
  let s = 0;
  for (let i = 0; i < this.constants.CH; i++) {
    if (c * this.constants.CH + i < this.constants.L) {
      s += x[start + i];
    }
  }
  return s;
}

/** Σ exp(x − m[row]) over a chunk. Terms with x = −Inf contribute exactly 0. */
function rowSumExpKernel(this: RowThis, x: number[], m: number[]): number {
  const r = idiv(this.thread.x, this.constants.NC);
  const c = this.thread.x - r * this.constants.NC;
  const start = r * this.constants.L + c * this.constants.CH;
  const mr = m[r];
  let s = 0;
  for (let i = 0; i < this.constants.CH; i++) {
    if (c * this.constants.CH + i < this.constants.L) {
      s += Math.exp(x[start + i] - mr);
    }
  }
  return s;
}

/** Σ a·b over a chunk. */
function rowDotKernel(this: RowThis, a: number[], b: number[]): number {
  const r = idiv(this.thread.x, this.constants.NC);
  const c = this.thread.x - r * this.constants.NC;
  const start = r * this.constants.L + c * this.constants.CH;
  let s = 0;
  for (let i = 0; i < this.constants.CH; i++) {
    if (c * this.constants.CH + i < this.constants.L) {
      s += a[start + i] * b[start + i];
    }
  }
  return s;
}

/** Σ (x − mean[row])² over a chunk (the second pass of a two-pass variance). */
function rowSumSqDevKernel(this: RowThis, x: number[], mean: number[]): number {
  const r = idiv(this.thread.x, this.constants.NC);
  const c = this.thread.x - r * this.constants.NC;
  const start = r * this.constants.L + c * this.constants.CH;
  const mu = mean[r];
  let s = 0;
  for (let i = 0; i < this.constants.CH; i++) {
    if (c * this.constants.CH + i < this.constants.L) {
      const d = x[start + i] - mu;
      s += d * d;
    }
  }
  return s;
}

function consts(L: number) {
  const CH = Math.min(L, ROW_CHUNK);
  return { L, CH, NC: Math.ceil(L / CH) };
}

/** Reduces chunk partials (N, NC) to (N) with `combine`, disposing the partials. */
async function finish(rt: GpuJsRuntime, partial: Tensor, N: number, NC: number, combine: 'max' | 'sum'): Promise<Tensor> {
  if (NC === 1) return partial;
  const out = combine === 'max' ? await rowMax(rt, partial, N, NC) : await rowSum(rt, partial, N, NC);
  partial.dispose();
  return out;
}

/** Row max of x (N, L) → (N). L ≥ 1. */
export async function rowMax(rt: GpuJsRuntime, x: Tensor, N: number, L: number): Promise<Tensor> {
  const c = consts(L);
  const p = await rt.run({ name: 'rows.max', fn: rowMaxKernel, outputs: N * c.NC, constants: c }, [x, NaN, Infinity], [N, c.NC]);
  return finish(rt, p, N, c.NC, 'max');
}

/** Row sum of x (N, L) → (N). L ≥ 1. */
export async function rowSum(rt: GpuJsRuntime, x: Tensor, N: number, L: number): Promise<Tensor> {
  const c = consts(L);
  const p = await rt.run({ name: 'rows.sum', fn: rowSumKernel, outputs: N * c.NC, constants: c }, [x], [N, c.NC]);
  return finish(rt, p, N, c.NC, 'sum');
}

/** Σ_j exp(x[r, j] − m[r]) → (N). L ≥ 1. */
export async function rowSumExp(rt: GpuJsRuntime, x: Tensor, m: Tensor, N: number, L: number): Promise<Tensor> {
  const c = consts(L);
  const p = await rt.run({ name: 'rows.sumexp', fn: rowSumExpKernel, outputs: N * c.NC, constants: c }, [x, m], [N, c.NC]);
  return finish(rt, p, N, c.NC, 'sum');
}

/** Σ_j a[r, j]·b[r, j] → (N). L ≥ 1. */
export async function rowDot(rt: GpuJsRuntime, a: Tensor, b: Tensor, N: number, L: number): Promise<Tensor> {
  const c = consts(L);
  const p = await rt.run({ name: 'rows.dot', fn: rowDotKernel, outputs: N * c.NC, constants: c }, [a, b], [N, c.NC]);
  return finish(rt, p, N, c.NC, 'sum');
}

/** Σ_j (x[r, j] − mean[r])² → (N). L ≥ 1. */
export async function rowSumSqDev(rt: GpuJsRuntime, x: Tensor, mean: Tensor, N: number, L: number): Promise<Tensor> {
  const c = consts(L);
  const p = await rt.run({ name: 'rows.sumsqdev', fn: rowSumSqDevKernel, outputs: N * c.NC, constants: c }, [x, mean], [N, c.NC]);
  return finish(rt, p, N, c.NC, 'sum');
}

// ---------------------------------------------------------------------------
// Column reductions over the first axis of an (N, C) matrix: bias and
// LayerNorm-weight gradients. Threads own (chunk of rows, column); a second
// pass sums the chunk partials of each column.
// ---------------------------------------------------------------------------

interface ColThis {
  thread: { x: number };
  constants: { N: number; C: number; CH: number };
}

/** Σ over the rows of chunk `k` of column `c`; thread = k·C + c. */
function colSumKernel(this: ColThis, x: number[]): number {
  const k = idiv(this.thread.x, this.constants.C);
  const c = this.thread.x - k * this.constants.C;
  let s = 0;
  for (let i = 0; i < this.constants.CH; i++) {
    const n = k * this.constants.CH + i;
    if (n < this.constants.N) {
      s += x[n * this.constants.C + c];
    }
  }
  return s;
}

/** Σ a·b over the rows of chunk `k` of column `c`. */
function colDotKernel(this: ColThis, a: number[], b: number[]): number {
  const k = idiv(this.thread.x, this.constants.C);
  const c = this.thread.x - k * this.constants.C;
  let s = 0;
  for (let i = 0; i < this.constants.CH; i++) {
    const n = k * this.constants.CH + i;
    if (n < this.constants.N) {
      s += a[n * this.constants.C + c] * b[n * this.constants.C + c];
    }
  }
  return s;
}

async function finishCols(rt: GpuJsRuntime, partial: Tensor, chunks: number, C: number): Promise<Tensor> {
  if (chunks === 1) return partial;
  const out = await colSum(rt, partial, chunks, C);
  partial.dispose();
  return out;
}

/** Column sums of x (N, C) → (C). N ≥ 1. Each element passes through ≤ sumDepth(N) additions. */
export async function colSum(rt: GpuJsRuntime, x: Tensor, N: number, C: number): Promise<Tensor> {
  const CH = Math.min(N, ROW_CHUNK);
  const chunks = Math.ceil(N / CH);
  const p = await rt.run({ name: 'cols.sum', fn: colSumKernel, outputs: chunks * C, constants: { N, C, CH } }, [x], [chunks, C]);
  return finishCols(rt, p, chunks, C);
}

/** Σ_n a[n, c]·b[n, c] of a, b (N, C) → (C). N ≥ 1. */
export async function colDot(rt: GpuJsRuntime, a: Tensor, b: Tensor, N: number, C: number): Promise<Tensor> {
  const CH = Math.min(N, ROW_CHUNK);
  const chunks = Math.ceil(N / CH);
  const p = await rt.run({ name: 'cols.dot', fn: colDotKernel, outputs: chunks * C, constants: { N, C, CH } }, [a, b], [chunks, C]);
  return finishCols(rt, p, chunks, C);
}
