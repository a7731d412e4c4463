/**
 * matmul: c = a·b (+ bias), forward and backward.
 *
 * Shapes: a (..., K) is read as M rows of K values (M = product of the
 * leading dimensions, e.g. (B, T, C) → M = B·T, K = C). b is (K, N), or
 * (N, K) with `transB` — PyTorch Linear's weight layout (OC, C), so
 * `matmul(x, w, { transB: true, bias })` is `x @ w.T + bias`. bias is (N).
 * c is (..., N).
 *
 *   forward:   c_ij = Σ_k a_ik·b_kj (+ bias_j)
 *   backward:  da_ik = Σ_j dout_ij·b_kj         (da has a's shape)
 *              db_kj = Σ_i a_ik·dout_ij          (db has b's layout: (K, N), or (N, K) with transB)
 *              dbias_j = Σ_i dout_ij             (a column sum)
 *
 * Algorithm (gpu.js, float32): one thread per output element with a loop
 * over the reduction index whose bound is a compile-time constant. The loop
 * is unrolled by 4 into four independent accumulators (term k goes to
 * accumulator k mod 4), combined as (s0 + s1) + (s2 + s3), then the bias is
 * added. Measured on this machine (256×768×768, arrays in and out): webasm
 * 1.17 → 1.93 GFLOP/s against the plain loop, webgpu on llvmpipe 2.2 → 2.4;
 * the four short chains also cut the error bound by 4 (see `matmulDepth`).
 * One strided kernel serves the forward pass and both backward products:
 * da = dout·bᵀ and db = aᵀ·dout are the same loop with other strides. dbias
 * uses the chunked column sum of gpujs/rows.ts.
 *
 * Edge-case contract (the FP64 reference defines it; every backend matches):
 *   - NaN and ±Inf propagate per IEEE: 0·Inf = NaN, Inf + (−Inf) = NaN, a NaN
 *     anywhere in row i of a or column j of b makes c_ij NaN, a NaN bias_j
 *     makes column j NaN. The kernels test nothing and fold nothing: these
 *     values come from the hardware's own IEEE arithmetic on the data.
 *   - Results beyond the float32 range are ±Inf (what rounding the exact
 *     value to float32 gives). Products of magnitude up to 1e30 (inputs up to
 *     1e15) and sums of thousands of them stay finite.
 *   - Partial sums are float32: when Σ_k |a_ik·b_kj| exceeds float32 max the
 *     result may be ±Inf or NaN even if the exact c_ij is representable
 *     (e.g. F32_MAX + F32_MAX − F32_MAX); the bound below is then infinite.
 *     The tests use such cases only where every order overflows alike.
 *   - Subnormal inputs: headlessgl flushes them to zero (1e-40·1e10 = 0 there;
 *     a subnormal times ±Inf gives NaN); the bound allows |a_ik·b_kj| for
 *     every term with a flushable factor.
 *   - K = 0: c is zeros, plus the bias (c_ij = bias_j exactly).
 *     M = 0 or N = 0: c is empty. K, M, N = 1 need nothing special.
 *   - Backward: K = 0 gives empty da and db, and dbias = Σ_i dout_ij;
 *     M = 0 gives zeros for db and dbias; N = 0 gives zeros for da.
 *   - Sizes: gpu.js computes flat indices in float32 on webgpu, webasm and
 *     headlessgl, exact only below 2^24, so a tensor of more than 2^24
 *     elements is refused there with an ArgumentError (cpu and reference are
 *     unaffected). Measured: reading element 2^24 + 1 returns element 2^24.
 *
 * Error bound (per element, derived in `matmulBound` and below):
 *   |ĉ_ij − c_ij| ≤ γ(depth)·(Σ_k |a_ik||b_kj| + |bias_j|) + uStore|c_ij|
 *                 + Σ_k [a_ik or b_kj flushable]·|a_ik b_kj| + (K + 2)·tiny,
 *   depth = ⌈K/4⌉ + 2 (+1 with bias) for this summation order.
 */
import type { Device } from '../device.js';
import { registerKernel, runKernel } from '../dispatch.js';
import { ArgumentError, checkBoolean, checkOptions, fmtShape } from '../errors.js';
import { Tensor } from '../tensor.js';
import { type Bound, type ErrorModel, ROW_CHUNK, gamma, sumDepth, SECOND_ORDER } from './bounds.js';
import { colSum } from './gpujs/rows.js';
import { checkFloat, checkGpuIndexable, checkRank, checkShape, checkTensor, emptyLike, f64, out64 } from './shapes.js';

// ---------------------------------------------------------------------------
// FP64 reference
// ---------------------------------------------------------------------------

/** b_kj for b stored as (K, N), or as (N, K) when transB. */
function bAt(b: Float64Array, k: number, j: number, K: number, N: number, transB: boolean): number {
  return transB ? b[j * K + k] : b[k * N + j];
}

/** c (M, N) = a (M, K)·b (+ bias (N)) in float64, summing k = 0 … K−1 in order, the bias last. */
export function matmulRef(a: Float64Array, b: Float64Array, M: number, K: number, N: number, transB: boolean, bias?: Float64Array): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * K + k] * bAt(b, k, j, K, N, transB);
      c[i * N + j] = bias ? s + bias[j] : s;
    }
  }
  return c;
}

/** da (M, K), db (b's layout) and dbias (N) from dout (M, N) in float64. */
export function matmulBackwardRef(
  dout: Float64Array,
  a: Float64Array,
  b: Float64Array,
  M: number,
  K: number,
  N: number,
  transB: boolean,
): { da: Float64Array; db: Float64Array; dbias: Float64Array } {
  const da = new Float64Array(M * K);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let j = 0; j < N; j++) s += dout[i * N + j] * bAt(b, k, j, K, N, transB);
      da[i * K + k] = s;
    }
  }
  const db = new Float64Array(K * N);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let i = 0; i < M; i++) s += a[i * K + k] * dout[i * N + j];
      db[transB ? j * K + k : k * N + j] = s;
    }
  }
  const dbias = new Float64Array(N);
  for (let j = 0; j < N; j++) {
    let s = 0;
    for (let i = 0; i < M; i++) s += dout[i * N + j];
    dbias[j] = s;
  }
  return { da, db, dbias };
}

// ---------------------------------------------------------------------------
// Error bounds (per element, in float64, for a backend's error model)
// ---------------------------------------------------------------------------


/** Terms per accumulator in the unrolled loop. */
export const MATMUL_UNROLL = 4;

/**
 * Roundings a product a_ik·b_kj passes through in the gpu.js kernel, for a
 * reduction of length K: the product itself (1), the additions into its
 * accumulator (at most ⌈K/4⌉ − 1; the first addition to 0 is exact), and the
 * two levels of (s0 + s1) + (s2 + s3). A fused multiply-add only removes
 * roundings. The classic dot-product analysis (Higham §3.1) then gives
 * |ŝ − s| ≤ γ(depth)·Σ|a_ik b_kj|.
 */
export function matmulDepth(K: number): number {
  if (K <= 0) return 0;
  return Math.ceil(K / MATMUL_UNROLL) + 2;
}

/**
 * Absolute error allowance of one reduction Σ_k x_k·y_k (x, y read with the
 * given accessors) of length L, with `extra` more roundings after the sum
 * (the bias add) and `addAbs` added to Σ|x y| (|bias_j|):
 *   γ(depth)·(Σ|x_k y_k| + addAbs)   the arithmetic,
 *   Σ [x_k or y_k below tiny]·|x_k y_k|   a factor flushed to zero (headlessgl),
 *   (L + 2)·tiny                      products and partial sums flushed or underflowing.
 * Returns NaN where a term is NaN or infinite (the element is then compared exactly).
 */
function dotAllowance(M: ErrorModel, L: number, x: (k: number) => number, y: (k: number) => number, extra: number, addAbs: number): number {
  let S = addAbs;
  let flushed = 0;
  for (let k = 0; k < L; k++) {
    const xk = x(k);
    const yk = y(k);
    const p = Math.abs(xk * yk);
    S += p;
    if (Math.abs(xk) < M.tiny || Math.abs(yk) < M.tiny) flushed += p;
  }
  return gamma((M.dotDepth ?? matmulDepth)(L) + extra, M.u) * S + flushed + (L + 2) * M.tiny;
}

/**
 * Forward: the products and their sum as in `dotAllowance`, the bias add one
 * more rounding, and on backends that compute in float64 (cpu) the final
 * rounding to float32, uStore·|c_ij|.
 */
export function matmulBound(
  M: ErrorModel,
  a: Float64Array,
  b: Float64Array,
  rows: number,
  K: number,
  N: number,
  transB: boolean,
  bias: Float64Array | undefined,
  ref: Float64Array,
): Bound {
  const allowed = new Float64Array(rows * N);
  const extra = bias ? 1 : 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < N; j++) {
      const dot = dotAllowance(M, K, (k) => a[i * K + k], (k) => bAt(b, k, j, K, N, transB), extra, bias ? Math.abs(bias[j]) : 0);
      allowed[i * N + j] = SECOND_ORDER * (dot + M.uStore * Math.abs(ref[i * N + j]));
    }
  }
  return { allowed, note: `matmul: |Δc_ij| ≤ γ(⌈K/4⌉ + 2 + bias)·(Σ_k|a_ik b_kj| + |bias_j|) + u_store|c_ij| + flushed terms, ${M.name}` };
}

/** Passes of the chunked column sum over L rows (each pass stores its partials in float32). */
function colSumLevels(L: number): number {
  let levels = 1;
  for (let n = Math.ceil(L / ROW_CHUNK); n > 1; n = Math.ceil(n / ROW_CHUNK)) levels++;
  return levels;
}

/**
 * Backward:
 *   da_ik = Σ_j dout_ij·b_kj and db_kj = Σ_i a_ik·dout_ij run the forward
 *   kernel with reductions of length N and M: the forward bound with K → N, M.
 *   dbias_j = Σ_i dout_ij is the chunked column sum: each term passes through
 *   at most sumDepth(M) additions, and every pass stores in float32,
 *   |Δdbias_j| ≤ (γ(sumDepth(M)) + levels·uStore)·Σ_i|dout_ij| + M·tiny.
 */
export function matmulBackwardBound(
  Me: ErrorModel,
  dout: Float64Array,
  a: Float64Array,
  b: Float64Array,
  M: number,
  K: number,
  N: number,
  transB: boolean,
  ref: { da: Float64Array; db: Float64Array; dbias: Float64Array },
): { da: Bound; db: Bound; dbias: Bound } {
  const da = new Float64Array(M * K);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const dot = dotAllowance(Me, N, (j) => dout[i * N + j], (j) => bAt(b, k, j, K, N, transB), 0, 0);
      da[i * K + k] = SECOND_ORDER * (dot + Me.uStore * Math.abs(ref.da[i * K + k]));
    }
  }
  const db = new Float64Array(K * N);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < N; j++) {
      const at = transB ? j * K + k : k * N + j;
      const dot = dotAllowance(Me, M, (i) => a[i * K + k], (i) => dout[i * N + j], 0, 0);
      db[at] = SECOND_ORDER * (dot + Me.uStore * Math.abs(ref.db[at]));
    }
  }
  const dbias = new Float64Array(N);
  const levels = colSumLevels(M);
  for (let j = 0; j < N; j++) {
    let S = 0;
    for (let i = 0; i < M; i++) S += Math.abs(dout[i * N + j]);
    dbias[j] = SECOND_ORDER * ((gamma((Me.colSumDepth ?? sumDepth)(M), Me.u) + levels * Me.uStore) * S + (M + 1) * Me.tiny);
  }
  return {
    da: { allowed: da, note: `matmulBackward da: |Δda_ik| ≤ γ(⌈N/4⌉ + 2)·Σ_j|dout_ij b_kj| + u_store|da_ik| + flushed terms, ${Me.name}` },
    db: { allowed: db, note: `matmulBackward db: |Δdb_kj| ≤ γ(⌈M/4⌉ + 2)·Σ_i|a_ik dout_ij| + u_store|db_kj| + flushed terms, ${Me.name}` },
    dbias: { allowed: dbias, note: `matmulBackward dbias: |Δdbias_j| ≤ (γ(sumDepth(M)) + levels·u_store)·Σ_i|dout_ij|, ${Me.name}` },
  };
}

// ---------------------------------------------------------------------------
// gpu.js kernel (float32; one thread per output element)
// ---------------------------------------------------------------------------

/**
 * Strides of the generic product out (R, Cc) = Σ_k A[r, k]·B[k, c]:
 * A[r, k] = a[r·sAr + k·sAk], B[k, c] = b[k·sBk + c·sBc]; L is the reduction
 * length, L4 = ⌊L/4⌋ and LR = L mod 4 the unrolled part and the ragged end.
 */
interface MatmulConstants {
  [key: string]: number;
  Cc: number;
  L4: number;
  LR: number;
  sAr: number;
  sAk: number;
  sBk: number;
  sBc: number;
  /** 1 when the third argument is a bias (Cc) to add. */
  HB: number;
}

interface MatmulThis {
  thread: { x: number };
  constants: MatmulConstants;
}

/**
 * out[r, c] = ((s0 + s1) + (s2 + s3)) (+ bias[c]) with s_q = Σ_{k ≡ q mod 4} A[r, k]·B[k, c].
 * The row/column split of the thread index is corrected with exact integer
 * arithmetic, so a division that is off by an ULP cannot pick a wrong row.
 */
function matmulKernel(this: MatmulThis, a: number[], b: number[], bias: number[]): number {
  let r = Math.floor(this.thread.x / this.constants.Cc);
  let c = this.thread.x - r * this.constants.Cc;
  if (c < 0) {
    r = r - 1;
    c = c + this.constants.Cc;
  }
  if (c >= this.constants.Cc) {
    r = r + 1;
    c = c - this.constants.Cc;
  }
  const aBase = r * this.constants.sAr;
  const bBase = c * this.constants.sBc;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let q = 0; q < this.constants.L4; q++) {
    const ak = aBase + q * 4 * this.constants.sAk;
    const bk = bBase + q * 4 * this.constants.sBk;
    s0 += a[ak] * b[bk];
    s1 += a[ak + this.constants.sAk] * b[bk + this.constants.sBk];
    s2 += a[ak + 2 * this.constants.sAk] * b[bk + 2 * this.constants.sBk];
    s3 += a[ak + 3 * this.constants.sAk] * b[bk + 3 * this.constants.sBk];
  }
  const at = aBase + this.constants.L4 * 4 * this.constants.sAk;
  const bt = bBase + this.constants.L4 * 4 * this.constants.sBk;
  if (this.constants.LR > 0) {
    s0 += a[at] * b[bt];
  }
  if (this.constants.LR > 1) {
    s1 += a[at + this.constants.sAk] * b[bt + this.constants.sBk];
  }
  if (this.constants.LR > 2) {
    s2 += a[at + 2 * this.constants.sAk] * b[bt + 2 * this.constants.sBk];
  }
  let s = s0 + s1 + (s2 + s3);
  if (this.constants.HB > 0) {
    s = s + bias[c];
  }
  return s;
}

/** A one-element placeholder for the bias argument when there is none (never read: HB = 0). */
const NO_BIAS = Tensor.fromHost(new Float32Array(1), [1]);

/**
 * out (R, Cc) = A·B on a gpu.js device, A and B given by strides (see
 * MatmulConstants). L ≥ 1, R·Cc ≥ 1.
 */
export async function gpuMatmul(
  device: Device,
  a: Tensor,
  b: Tensor,
  bias: Tensor | undefined,
  dims: { R: number; Cc: number; L: number; sAr: number; sAk: number; sBk: number; sBc: number },
  shape: readonly number[],
  name = 'matmul',
): Promise<Tensor> {
  const { R, Cc, L, sAr, sAk, sBk, sBc } = dims;
  const constants: MatmulConstants = { Cc, L4: Math.floor(L / MATMUL_UNROLL), LR: L % MATMUL_UNROLL, sAr, sAk, sBk, sBc, HB: bias ? 1 : 0 };
  return device.gpujs!.run({ name, fn: matmulKernel, outputs: R * Cc, constants }, [a, b, bias ?? NO_BIAS], shape);
}

// ---------------------------------------------------------------------------
// Registration: reference and gpu.js implementations under one name
// ---------------------------------------------------------------------------

export interface MatmulAttrs {
  M: number;
  K: number;
  N: number;
  transB: boolean;
  /** Shape of c (forward) or of a (backward). */
  shape: readonly number[];
}

export interface MatmulBackwardAttrs extends MatmulAttrs {
  bShape: readonly number[];
  wantBias: boolean;
}

registerKernel<MatmulAttrs>({
  kernel: 'matmul',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { a, b, bias }, { M, K, N, transB, shape }) => ({
    c: out64(matmulRef(f64(a), f64(b), M, K, N, transB, bias ? f64(bias) : undefined), shape),
  }),
});
registerKernel<MatmulAttrs>({
  kernel: 'matmul',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { a, b, bias }, { M, K, N, transB, shape }) => ({
    c: await gpuMatmul(d, a, b, bias, { R: M, Cc: N, L: K, sAr: K, sAk: 1, sBk: transB ? 1 : N, sBc: transB ? K : 1 }, shape),
  }),
});

registerKernel<MatmulBackwardAttrs>({
  kernel: 'matmul',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dout, a, b }, { M, K, N, transB, shape, bShape, wantBias }) => {
    const r = matmulBackwardRef(f64(dout), f64(a), f64(b), M, K, N, transB);
    const out: Record<string, Tensor> = { da: out64(r.da, shape), db: out64(r.db, bShape) };
    if (wantBias) out.dbias = out64(r.dbias, [N]);
    return out;
  },
});
registerKernel<MatmulBackwardAttrs>({
  kernel: 'matmul',
  phase: 'backward',
  backend: 'gpujs',
  impl: async (d, { dout, a, b }, { M, K, N, transB, shape, bShape, wantBias }) => {
    const zeros = (sh: readonly number[]) => emptyLike('float32', sh);
    // da (M, K) = dout (M, N)·bᵀ: B[j, k] = b_kj is b[k·N + j], or b[j·K + k] with transB
    let da: Tensor;
    if (M * K === 0 || N === 0) da = zeros(shape);
    else da = await gpuMatmul(d, dout, b, undefined, { R: M, Cc: K, L: N, sAr: N, sAk: 1, sBk: transB ? K : 1, sBc: transB ? 1 : N }, shape, 'matmul.da');
    // db_kj = Σ_i a_ik·dout_ij: rows k, columns j (K, N); with transB rows j, columns k (N, K)
    let db: Tensor;
    if (K * N === 0 || M === 0) db = zeros(bShape);
    else if (transB) db = await gpuMatmul(d, dout, a, undefined, { R: N, Cc: K, L: M, sAr: 1, sAk: N, sBk: K, sBc: 1 }, bShape, 'matmul.db');
    else db = await gpuMatmul(d, a, dout, undefined, { R: K, Cc: N, L: M, sAr: 1, sAk: K, sBk: N, sBc: 1 }, bShape, 'matmul.db');
    const out: Record<string, Tensor> = { da, db };
    if (wantBias) out.dbias = M * N === 0 ? zeros([N]) : (await colSum(d.gpujs!, dout, M, N)).reshape([N]);
    return out;
  },
});

// ---------------------------------------------------------------------------
// Public functions: validate, handle empty shapes, dispatch
// ---------------------------------------------------------------------------

export interface MatmulOptions {
  /** (N), added to every row of the product. */
  bias?: Tensor;
  /** b is (N, K) (PyTorch Linear's weight layout) instead of (K, N). Default false. */
  transB?: boolean;
}

export interface MatmulBackwardOptions {
  /** b is (N, K), as in the forward call. Default false. */
  transB?: boolean;
  /** Also return dbias (N). Default false. */
  bias?: boolean;
}

/** Validates a and b; returns the sizes. */
function matmulShapes(fn: string, device: Device, a: Tensor, b: Tensor, transB: boolean): { M: number; K: number; N: number } {
  checkTensor(fn, 'a', a);
  checkFloat(fn, 'a', a);
  if (a.shape.length < 1) throw new ArgumentError(`${fn}: 'a' must have at least one dimension (..., K), got a scalar of shape []`);
  checkRank(fn, 'b', b, 2, transB ? ['N', 'K'] : ['K', 'N']);
  checkFloat(fn, 'b', b);
  const K = a.shape[a.shape.length - 1];
  const M = a.shape.slice(0, -1).reduce((x, y) => x * y, 1);
  const bK = transB ? b.shape[1] : b.shape[0];
  const N = transB ? b.shape[0] : b.shape[1];
  if (bK !== K) {
    const layout = transB ? `[N, K] = ${fmtShape(b.shape)} (transB)` : `[K, N] = ${fmtShape(b.shape)}`;
    throw new ArgumentError(`${fn}: inner dimensions differ: 'a' has shape ${fmtShape(a.shape)} (K = ${K}) but 'b' has shape ${layout} (K = ${bK})`);
  }
  checkGpuIndexable(fn, device, 'a', a.shape);
  checkGpuIndexable(fn, device, 'b', b.shape);
  checkGpuIndexable(fn, device, 'output', [...a.shape.slice(0, -1), N]);
  return { M, K, N };
}

/**
 * Matrix product over the last axis of `a`, optionally with `b` transposed
 * and a bias: c = a·b + bias (or a·bᵀ + bias with `transB`).
 *
 * @param a (..., K); leading dimensions flatten into M rows
 * @param b (K, N), or (N, K) with `transB` (PyTorch Linear's weight layout)
 * @param options.bias (N)
 * @returns c (..., N)
 * @example
 * const y = await matmul(dev, x, w, { transB: true, bias }); // x (B, T, C), w (OC, C) → y (B, T, OC)
 */
export async function matmul(device: Device, a: Tensor, b: Tensor, options?: MatmulOptions): Promise<Tensor> {
  checkOptions('matmul', options, ['bias', 'transB']);
  const transB = options?.transB === undefined ? false : checkBoolean('matmul', 'transB', options.transB);
  const { M, K, N } = matmulShapes('matmul', device, a, b, transB);
  const bias = options?.bias;
  if (bias !== undefined) {
    checkShape('matmul', 'bias', bias, [N], ['N']);
    checkFloat('matmul', 'bias', bias);
  }
  const shape = [...a.shape.slice(0, -1), N];
  if (M * N === 0) return emptyLike(device.info.precision, shape);
  if (K === 0) {
    // the empty sum: zeros, plus the bias exactly
    const c = emptyLike(device.info.precision, shape);
    if (bias) {
      const bv = await bias.read();
      const cd = c.data;
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) cd[i * N + j] = bv[j];
    }
    return c;
  }
  const inputs: Record<string, Tensor> = bias ? { a, b, bias } : { a, b };
  return (await runKernel(device, 'matmul', 'forward', inputs, { M, K, N, transB, shape })).c;
}

/**
 * Gradients of c = a·b (+ bias) from dout = ∂L/∂c:
 * da = dout·bᵀ, db = aᵀ·dout (in b's layout), dbias = column sums of dout.
 *
 * @param dout (..., N)
 * @param a (..., K) the forward input
 * @param b (K, N), or (N, K) with `transB`
 * @returns da (a's shape), db (b's shape), dbias (N) when `options.bias`
 * @example
 * const { da, db, dbias } = await matmulBackward(dev, dy, x, w, { transB: true, bias: true });
 */
export async function matmulBackward(
  device: Device,
  dout: Tensor,
  a: Tensor,
  b: Tensor,
  options?: MatmulBackwardOptions,
): Promise<{ da: Tensor; db: Tensor; dbias?: Tensor }> {
  checkOptions('matmulBackward', options, ['transB', 'bias']);
  const transB = options?.transB === undefined ? false : checkBoolean('matmulBackward', 'transB', options.transB);
  const wantBias = options?.bias === undefined ? false : checkBoolean('matmulBackward', 'bias', options.bias);
  const { M, K, N } = matmulShapes('matmulBackward', device, a, b, transB);
  const outShape = [...a.shape.slice(0, -1), N];
  checkTensor('matmulBackward', 'dout', dout);
  checkFloat('matmulBackward', 'dout', dout);
  if (dout.shape.length !== outShape.length || dout.shape.some((d, i) => d !== outShape[i])) {
    throw new ArgumentError(
      `matmulBackward: 'dout' must have shape ${fmtShape(outShape)} (a's leading dimensions and N = ${N}), got ${fmtShape(dout.shape)}; 'a' is ${fmtShape(a.shape)}, 'b' is ${fmtShape(b.shape)}`,
    );
  }
  if (M * K === 0 && K * N === 0 && (!wantBias || N === 0)) {
    const p = device.info.precision;
    const res: { da: Tensor; db: Tensor; dbias?: Tensor } = { da: emptyLike(p, a.shape), db: emptyLike(p, b.shape) };
    if (wantBias) res.dbias = emptyLike(p, [N]);
    return res;
  }
  const r = await runKernel(device, 'matmul', 'backward', { dout, a, b }, { M, K, N, transB, shape: a.shape, bShape: b.shape, wantBias });
  const res: { da: Tensor; db: Tensor; dbias?: Tensor } = { da: r.da, db: r.db };
  if (wantBias) res.dbias = r.dbias;
  return res;
}
