/**
 * logSumExp, softmax and logSoftmax over the last axis, forward and backward.
 *
 * Shapes: x (..., V) is read as N rows of V values (N = product of the
 * leading dimensions). lse is (...) i.e. (N); softmax and logSoftmax are (..., V).
 *
 * What is computed, per row, with m = max_j x_j and s = Σ_j exp(x_j − m):
 *   logSumExp(x)  = m + log s
 *   softmax(x)_i  = exp(x_i − m) / s
 *   logSoftmax(x)_i = (x_i − m) − log s
 * Subtracting the max makes every exponent ≤ 0, so nothing overflows and the
 * largest term is exactly 1 (s ≥ 1, log s ∈ [0, log V]).
 *
 * Backward (dy is the gradient of the loss with respect to the output y):
 *   softmax:    dx_i = y_i·(dy_i − Σ_j y_j·dy_j)
 *   logSoftmax: dx_i = dy_i − exp(y_i)·Σ_j dy_j
 *   logSumExp:  dx_i = dlse·exp(x_i − lse)
 *
 * Edge-case contract (the FP64 reference defines it; every backend matches):
 *   - a NaN anywhere in a row: lse is NaN, the softmax/logSoftmax row is all NaN;
 *   - +Inf in a row (no NaN): lse is +Inf and the softmax/logSoftmax row is all
 *     NaN, as in PyTorch: the normaliser is infinite, no finite answer exists;
 *   - all entries −Inf (a fully masked row): lse is −Inf, softmax and
 *     logSoftmax are NaN (0/0, as in PyTorch; attention handles masked rows
 *     itself and returns 0 there);
 *   - −Inf entries in an otherwise finite row: softmax 0 and logSoftmax −Inf
 *     exactly, and they take no part in the sum;
 *   - huge gaps (±1e30 and float32 max): exact zeros for the small terms, no
 *     overflow, because every exponent is ≤ 0;
 *   - V = 1: softmax is 1, logSoftmax 0, lse = x;
 *   - V = 0: lse is −Inf (empty sum), softmax and logSoftmax are empty;
 *     N = 0: every output is empty.
 *   - Backward follows IEEE arithmetic on those formulas (NaN in, NaN out).
 *
 * Error bounds: see `softmaxBound`, `logSoftmaxBound`, `logSumExpBound` and
 * the backward bounds below; each is derived beside its code.
 */
import type { Device } from '../device.js';
import { registerKernel, runKernel } from '../dispatch.js';
import type { Tensor } from '../tensor.js';
import { type Bound, type ErrorModel, flushAbs, gamma, lowRangeAbs, sumDepth, SECOND_ORDER } from './bounds.js';
import { idiv } from './gpujs/index-math.js';
import { rowDot, rowMax, rowSum, rowSumExp } from './gpujs/rows.js';
import { checkOptions } from '../errors.js';
import { checkSameShape, checkShape, emptyLike, f64, lastAxis, out64 } from './shapes.js';

// ---------------------------------------------------------------------------
// FP64 reference
// ---------------------------------------------------------------------------

/** Row max and Σexp(x − max), following the contract's special cases (NaN → NaN; ±Inf max → s NaN). */
export function rowStats64(x: ArrayLike<number>, r: number, V: number): { m: number; s: number } {
  let m = -Infinity;
  let nan = false;
  for (let j = 0; j < V; j++) {
    const v = x[r * V + j];
    if (v !== v) nan = true;
    else if (v > m) m = v;
  }
  if (nan) return { m: NaN, s: NaN };
  if (m === Infinity || m === -Infinity) return { m, s: NaN };
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(x[r * V + j] - m);
  return { m, s };
}

/** lse (N) of x (N, V) in float64. */
export function logSumExpRef(x: Float64Array, N: number, V: number): Float64Array {
  const out = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    const { m, s } = rowStats64(x, r, V);
    out[r] = Number.isFinite(m) ? m + Math.log(s) : m;
  }
  return out;
}

/** softmax (N, V) of x (N, V) in float64. */
export function softmaxRef(x: Float64Array, N: number, V: number): Float64Array {
  const y = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    const { m, s } = rowStats64(x, r, V);
    for (let j = 0; j < V; j++) y[r * V + j] = Number.isFinite(m) ? Math.exp(x[r * V + j] - m) / s : NaN;
  }
  return y;
}

/** logSoftmax (N, V) of x (N, V) in float64. */
export function logSoftmaxRef(x: Float64Array, N: number, V: number): Float64Array {
  const y = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    const { m, s } = rowStats64(x, r, V);
    const ls = Math.log(s);
    for (let j = 0; j < V; j++) y[r * V + j] = Number.isFinite(m) ? x[r * V + j] - m - ls : NaN;
  }
  return y;
}

/** dx (N, V) from dy (N, V) and the softmax output y (N, V). */
export function softmaxBackwardRef(dy: Float64Array, y: Float64Array, N: number, V: number): Float64Array {
  const dx = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    let c = 0;
    for (let j = 0; j < V; j++) c += y[r * V + j] * dy[r * V + j];
    for (let j = 0; j < V; j++) dx[r * V + j] = y[r * V + j] * (dy[r * V + j] - c);
  }
  return dx;
}

/** dx (N, V) from dy (N, V) and the logSoftmax output y (N, V). */
export function logSoftmaxBackwardRef(dy: Float64Array, y: Float64Array, N: number, V: number): Float64Array {
  const dx = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    let S = 0;
    for (let j = 0; j < V; j++) S += dy[r * V + j];
    for (let j = 0; j < V; j++) dx[r * V + j] = dy[r * V + j] - Math.exp(y[r * V + j]) * S;
  }
  return dx;
}

/** dx (N, V) from dlse (N), x (N, V) and lse (N). */
export function logSumExpBackwardRef(dlse: Float64Array, x: Float64Array, lse: Float64Array, N: number, V: number): Float64Array {
  const dx = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    for (let j = 0; j < V; j++) dx[r * V + j] = dlse[r] * Math.exp(x[r * V + j] - lse[r]);
  }
  return dx;
}

// ---------------------------------------------------------------------------
// Error bounds (per element, in float64, for a backend's error model)
// ---------------------------------------------------------------------------


/**
 * Relative error of s = Σ exp(x_j − m) for row r, and of each term:
 *   d_j = fl(x_j − m) has relative error ≤ u, so exp(d̂_j) = exp(d_j)·(1 + θ) with
 *   |θ| ≤ u·|d_j| + expRel(d_j). Summing V terms in chunks adds γ(sumDepth(V))
 *   plus one rounding per stored level (2·uStore). Terms below `tiny` may be
 *   flushed: at most V·tiny absolute, relative to s ≥ 1.
 */
export function sumExpError(M: ErrorModel, x: ArrayLike<number>, r: number, V: number, m: number): number {
  let worstTerm = 0;
  for (let j = 0; j < V; j++) {
    const d = x[r * V + j] - m;
    if (d === -Infinity || d < -104) continue; // exp underflows below 2^-149: covered by V·tiny
    worstTerm = Math.max(worstTerm, M.u * Math.abs(d) + M.expRel(d));
  }
  return worstTerm + gamma(sumDepth(V), M.u) + 2 * M.uStore + V * M.tiny;
}

export function logError(M: ErrorModel, s: number): number {
  // log(s·(1+δ)) = log s + δ to first order; the function's own error is
  // absolute 2^-21 for s in [0.5, 2] on GPUs, relative elsewhere
  return s >= 0.5 && s <= 2 ? M.logAbsNear1 : M.logRel * Math.abs(Math.log(s));
}

/**
 * softmax: y_i = exp(d_i)/s. Relative error ≤ θ_i + δ_s + divRel + uStore, with
 * θ_i the term's error and δ_s the sum's (see sumExpError). Outputs below the
 * flush threshold may become 0: atol = 2·tiny.
 */
export function softmaxBound(M: ErrorModel, x: Float64Array, N: number, V: number, ref: Float64Array): Bound {
  const allowed = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    const { m } = rowStats64(x, r, V);
    if (!Number.isFinite(m)) continue;
    const ds = sumExpError(M, x, r, V, m);
    for (let j = 0; j < V; j++) {
      const d = x[r * V + j] - m;
      const theta = d === -Infinity ? 0 : M.u * Math.abs(d) + M.expRel(d);
      allowed[r * V + j] = SECOND_ORDER * (theta + ds + M.divRel + M.uStore) * Math.abs(ref[r * V + j]) + 2 * M.tiny;
    }
  }
  return { allowed, note: `softmax: |Δy_i| ≤ (u|d_i| + exp_err(d_i) + δ_s + div_err + u_store)·y_i + 2·tiny, ${M.name}` };
}

/**
 * logSoftmax: z_i = fl(fl(x_i − m) − log s). Absolute error
 *   ≤ u·|x_i − m| + δ_s + log_err(s) + 2·uStore·|z_i| (the subtraction and the store).
 */
export function logSoftmaxBound(M: ErrorModel, x: Float64Array, N: number, V: number, ref: Float64Array): Bound {
  const allowed = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    const { m, s } = rowStats64(x, r, V);
    if (!Number.isFinite(m)) continue;
    const ds = sumExpError(M, x, r, V, m);
    const le = logError(M, s);
    for (let j = 0; j < V; j++) {
      const d = x[r * V + j] - m;
      const z = ref[r * V + j];
      allowed[r * V + j] = Number.isFinite(z) ? SECOND_ORDER * (M.u * Math.abs(d) + ds + le + (M.u + M.uStore) * Math.abs(z)) : 0;
    }
  }
  return { allowed, note: `logSoftmax: |Δz_i| ≤ u|x_i − m| + δ_s + log_err(s) + 2u|z_i|, ${M.name}` };
}

/** logSumExp: l = fl(m + log s); |Δl| ≤ δ_s + log_err(s) + (u + uStore)·|l|. */
export function logSumExpBound(M: ErrorModel, x: Float64Array, N: number, V: number, ref: Float64Array): Bound {
  const allowed = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    const { m, s } = rowStats64(x, r, V);
    if (!Number.isFinite(m)) continue;
    allowed[r] = SECOND_ORDER * (sumExpError(M, x, r, V, m) + logError(M, s) + (M.u + M.uStore) * Math.abs(ref[r]));
  }
  return { allowed, note: `logSumExp: |Δl| ≤ δ_s + log_err(s) + 2u|l|, ${M.name}` };
}

/**
 * softmax backward: c = Σ y_j·dy_j is a dot product with |Δc| ≤ γ(depth + 1)·Σ|y_j·dy_j|
 * (+ one stored level); t_i = dy_i − c adds u|t_i|; dx_i = y_i·t_i adds u|dx_i|, the store uStore|dx_i|.
 * Below FLT_MIN the relative terms stop holding (`flushAbs`, `lowRangeAbs`):
 *   - a flushing backend may read a subnormal y_j or dy_j as 0: c loses |y_j·dy_j|
 *     for it, and dx_i loses |y_i|·|t_i| (or |y_i|·|dy_i|) when y_i (or dy_i) is flushed;
 *   - each product y_j·dy_j that lands below FLT_MIN is flushed or rounded on the
 *     subnormal grid: ≤ tiny each, V·tiny in c;
 *   - dx_i itself below FLT_MIN: 2·tiny.
 */
export function softmaxBackwardBound(M: ErrorModel, dy: Float64Array, y: Float64Array, N: number, V: number, ref: Float64Array): Bound {
  const allowed = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    let c = 0;
    let cabs = 0;
    let cflush = 0;
    for (let j = 0; j < V; j++) {
      const yj = y[r * V + j];
      const dyj = dy[r * V + j];
      c += yj * dyj;
      cabs += Math.abs(yj * dyj);
      cflush += flushAbs(M, yj) * Math.abs(dyj) + flushAbs(M, dyj) * Math.abs(yj);
    }
    const dc = (gamma(sumDepth(V) + 1, M.u) + 2 * M.uStore) * cabs + cflush + V * M.tiny;
    for (let j = 0; j < V; j++) {
      const i = r * V + j;
      const t = Math.abs(dy[i] - c);
      allowed[i] =
        SECOND_ORDER * (Math.abs(y[i]) * (dc + M.u * t) + flushAbs(M, y[i]) * (t + dc) + flushAbs(M, dy[i]) * Math.abs(y[i]) + (M.u + M.uStore) * Math.abs(ref[i])) +
        2 * M.tiny;
    }
  }
  return { allowed, note: `softmaxBackward: |Δdx_i| ≤ |y_i|(γ_k Σ|y dy| + flushed terms + u|dy_i − c|) + flushed y_i·|dy_i − c| + 2u|dx_i| + 2·tiny, ${M.name}` };
}

/**
 * logSoftmax backward: S = Σ dy_j with |ΔS| ≤ γ(depth)·Σ|dy_j| (+ V·tiny for flushed
 * subnormal dy_j); p_i = exp(y_i) has relative error expRel(y_i); dx_i = dy_i − p_i·S
 * adds u|p_i S| (product) and u|dx_i| (difference). When p_i lands below FLT_MIN
 * its error is absolute (`lowRangeAbs`: flushed to 0, or rounded on the subnormal
 * grid) and is multiplied by |S|: measured 444× the old bound on webgpu (p flushed,
 * |S| ≈ 1094) and 203× on webasm (p on the subnormal grid) before this term.
 * A masked entry (y_i = −Inf) has p_i = 0 exactly: no exp term (0·expRel(−Inf) would be NaN).
 */
export function logSoftmaxBackwardBound(M: ErrorModel, dy: Float64Array, y: Float64Array, N: number, V: number, ref: Float64Array): Bound {
  const allowed = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    let S = 0;
    let Sabs = 0;
    for (let j = 0; j < V; j++) {
      S += dy[r * V + j];
      Sabs += Math.abs(dy[r * V + j]);
    }
    const dS = (gamma(sumDepth(V), M.u) + 2 * M.uStore) * Sabs + V * M.tiny;
    for (let j = 0; j < V; j++) {
      const i = r * V + j;
      const p = Math.exp(y[i]);
      const expTerm = p > 0 ? p * Math.abs(S) * (M.expRel(y[i]) + M.u) + lowRangeAbs(M, p) * Math.abs(S) : 0;
      allowed[i] = SECOND_ORDER * (p * dS + expTerm + (M.u + M.uStore) * Math.abs(ref[i])) + 2 * M.tiny;
    }
  }
  return { allowed, note: `logSoftmaxBackward: |Δdx_i| ≤ p_i γ_k Σ|dy| + p_i|S|(exp_err + u) + low-range(p_i)|S| + 2u|dx_i| + 2·tiny, ${M.name}` };
}

/** logSumExp backward: dx_i = dlse·exp(x_i − lse): relative error u|x_i − lse| + expRel + u + uStore. */
export function logSumExpBackwardBound(M: ErrorModel, x: Float64Array, lse: Float64Array, N: number, V: number, ref: Float64Array, dlse: Float64Array): Bound {
  const allowed = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    for (let j = 0; j < V; j++) {
      const i = r * V + j;
      const d = x[i] - lse[r];
      // exp(d) below FLT_MIN carries an absolute error (lowRangeAbs), scaled by |dlse|
      allowed[i] = Number.isFinite(d)
        ? SECOND_ORDER * ((M.u * Math.abs(d) + M.expRel(d) + M.u + M.uStore) * Math.abs(ref[i]) + lowRangeAbs(M, Math.exp(d)) * Math.abs(dlse[r])) + 2 * M.tiny
        : 0;
    }
  }
  return { allowed, note: `logSumExpBackward: relative u|x_i − lse| + exp_err + 2u, ${M.name}` };
}

// ---------------------------------------------------------------------------
// gpu.js kernels (float32; one thread per output element)
// ---------------------------------------------------------------------------

interface ElemThis {
  thread: { x: number };
  constants: { V: number };
}

function softmaxOutKernel(this: ElemThis, x: number[], m: number[], s: number[], nan: number): number {
  const r = idiv(this.thread.x, this.constants.V);
  const mr = m[r];
  if (mr != mr || mr > 3.4028234663852886e38 || mr < -3.4028234663852886e38) {
    return nan;
  }
  return Math.exp(x[this.thread.x] - mr) / s[r];
}

function logSoftmaxOutKernel(this: ElemThis, x: number[], m: number[], s: number[], nan: number): number {
  const r = idiv(this.thread.x, this.constants.V);
  const mr = m[r];
  if (mr != mr || mr > 3.4028234663852886e38 || mr < -3.4028234663852886e38) {
    return nan;
  }
  return x[this.thread.x] - mr - Math.log(s[r]);
}

/** lse_r = m_r + log s_r; a non-finite m (NaN, ±Inf) is the answer itself. */
function lseOutKernel(this: ElemThis, m: number[], s: number[]): number {
  const mr = m[this.thread.x];
  if (mr != mr || mr > 3.4028234663852886e38 || mr < -3.4028234663852886e38) {
    return mr;
  }
  return mr + Math.log(s[this.thread.x]);
}

function softmaxBackwardKernel(this: ElemThis, dy: number[], y: number[], c: number[]): number {
  const r = idiv(this.thread.x, this.constants.V);
  return y[this.thread.x] * (dy[this.thread.x] - c[r]);
}

function logSoftmaxBackwardKernel(this: ElemThis, dy: number[], y: number[], S: number[]): number {
  const r = idiv(this.thread.x, this.constants.V);
  return dy[this.thread.x] - Math.exp(y[this.thread.x]) * S[r];
}

function logSumExpBackwardKernel(this: ElemThis, dlse: number[], x: number[], lse: number[]): number {
  const r = idiv(this.thread.x, this.constants.V);
  return dlse[r] * Math.exp(x[this.thread.x] - lse[r]);
}

/** m (N) and s (N) of x (N, V) on a gpu.js device. V ≥ 1. */
async function gpuRowStats(device: Device, x: Tensor, N: number, V: number): Promise<{ m: Tensor; s: Tensor }> {
  const rt = device.gpujs!;
  const m = await rowMax(rt, x, N, V);
  const s = await rowSumExp(rt, x, m, N, V);
  return { m, s };
}

// ---------------------------------------------------------------------------
// Registration: reference and gpu.js implementations under one name each
// ---------------------------------------------------------------------------

/** Attributes of the softmax-family calls: N rows of V, and the caller's shape. */
export interface RowsAttrs {
  N: number;
  V: number;
  shape: readonly number[];
}

registerKernel<RowsAttrs>({
  kernel: 'logSumExp',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { x }, { N, V, shape }) => ({ lse: out64(logSumExpRef(f64(x), N, V), shape.slice(0, -1)) }),
});
registerKernel<RowsAttrs>({
  kernel: 'logSumExp',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { x }, { N, V, shape }) => {
    const { m, s } = await gpuRowStats(d, x, N, V);
    const lse = await d.gpujs!.run({ name: 'softmax.lse', fn: lseOutKernel, outputs: N, constants: { V } }, [m, s], shape.slice(0, -1));
    m.dispose();
    s.dispose();
    return { lse };
  },
});

registerKernel<RowsAttrs>({
  kernel: 'softmax',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { x }, { N, V, shape }) => ({ y: out64(softmaxRef(f64(x), N, V), shape) }),
});
registerKernel<RowsAttrs>({
  kernel: 'softmax',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { x }, { N, V, shape }) => {
    const { m, s } = await gpuRowStats(d, x, N, V);
    const y = await d.gpujs!.run({ name: 'softmax.out', fn: softmaxOutKernel, outputs: N * V, constants: { V } }, [x, m, s, NaN], shape);
    m.dispose();
    s.dispose();
    return { y };
  },
});

registerKernel<RowsAttrs>({
  kernel: 'logSoftmax',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { x }, { N, V, shape }) => ({ y: out64(logSoftmaxRef(f64(x), N, V), shape) }),
});
registerKernel<RowsAttrs>({
  kernel: 'logSoftmax',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { x }, { N, V, shape }) => {
    const { m, s } = await gpuRowStats(d, x, N, V);
    const y = await d.gpujs!.run({ name: 'logsoftmax.out', fn: logSoftmaxOutKernel, outputs: N * V, constants: { V } }, [x, m, s, NaN], shape);
    m.dispose();
    s.dispose();
    return { y };
  },
});

registerKernel<RowsAttrs>({
  kernel: 'softmax',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dy, y }, { N, V, shape }) => ({ dx: out64(softmaxBackwardRef(f64(dy), f64(y), N, V), shape) }),
});
registerKernel<RowsAttrs>({
  kernel: 'softmax',
  phase: 'backward',
  backend: 'gpujs',
  impl: async (d, { dy, y }, { N, V, shape }) => {
    const rt = d.gpujs!;
    const c = await rowDot(rt, y, dy, N, V);
    const dx = await rt.run({ name: 'softmax.backward', fn: softmaxBackwardKernel, outputs: N * V, constants: { V } }, [dy, y, c], shape);
    c.dispose();
    return { dx };
  },
});

registerKernel<RowsAttrs>({
  kernel: 'logSoftmax',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dy, y }, { N, V, shape }) => ({ dx: out64(logSoftmaxBackwardRef(f64(dy), f64(y), N, V), shape) }),
});
registerKernel<RowsAttrs>({
  kernel: 'logSoftmax',
  phase: 'backward',
  backend: 'gpujs',
  impl: async (d, { dy, y }, { N, V, shape }) => {
    const rt = d.gpujs!;
    const S = await rowSum(rt, dy, N, V);
    const dx = await rt.run({ name: 'logsoftmax.backward', fn: logSoftmaxBackwardKernel, outputs: N * V, constants: { V } }, [dy, y, S], shape);
    S.dispose();
    return { dx };
  },
});

registerKernel<RowsAttrs>({
  kernel: 'logSumExp',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dlse, x, lse }, { N, V, shape }) => ({ dx: out64(logSumExpBackwardRef(f64(dlse), f64(x), f64(lse), N, V), shape) }),
});
registerKernel<RowsAttrs>({
  kernel: 'logSumExp',
  phase: 'backward',
  backend: 'gpujs',
  impl: async (d, { dlse, x, lse }, { N, V, shape }) => {
    const dx = await d.gpujs!.run({ name: 'logsumexp.backward', fn: logSumExpBackwardKernel, outputs: N * V, constants: { V } }, [dlse, x, lse], shape);
    return { dx };
  },
});

// ---------------------------------------------------------------------------
// Public functions: validate, handle empty shapes, dispatch
// ---------------------------------------------------------------------------

/**
 * log Σ_j exp(x_j) over the last axis, computed as m + log Σ exp(x_j − m).
 *
 * @param x (..., V)
 * @returns lse (...)
 * @example
 * const lse = await logSumExp(dev, tensor([1000, 1000], [1, 2])); // [1000.6931…], no overflow
 */
export async function logSumExp(device: Device, x: Tensor, options?: Record<string, never>): Promise<Tensor> {
  checkOptions('logSumExp', options, []);
  const { N, L: V } = lastAxis('logSumExp', 'x', x, ['N', 'V']);
  const shape = x.shape.slice(0, -1);
  if (N === 0) return emptyLike(device.info.precision, shape);
  if (V === 0) {
    const lse = emptyLike(device.info.precision, shape);
    (lse.data as Float32Array | Float64Array).fill(-Infinity);
    return lse;
  }
  return (await runKernel(device, 'logSumExp', 'forward', { x }, { N, V, shape: x.shape })).lse;
}

/**
 * Gradient of logSumExp: dx_i = dlse·exp(x_i − lse).
 *
 * @param dlse (...) gradient of the loss with respect to lse
 * @param x (..., V) the forward input
 * @param lse (...) the forward output
 * @returns dx (..., V)
 *
 * @example
 * const lse = await logSumExp(dev, x);
 * const dx = await logSumExpBackward(dev, tensor([1], [1]), x, lse); // = softmax(x) for dlse = 1
 */
export async function logSumExpBackward(device: Device, dlse: Tensor, x: Tensor, lse: Tensor): Promise<Tensor> {
  const { N, L: V } = lastAxis('logSumExpBackward', 'x', x, ['N', 'V']);
  checkShape('logSumExpBackward', 'lse', lse, x.shape.slice(0, -1), x.shape.slice(0, -1).map((_, i) => `d${i}`));
  checkSameShape('logSumExpBackward', 'dlse', dlse, 'lse', lse);
  if (N * V === 0) return emptyLike(device.info.precision, x.shape);
  return (await runKernel(device, 'logSumExp', 'backward', { dlse, x, lse }, { N, V, shape: x.shape })).dx;
}

/**
 * softmax over the last axis: exp(x_i − max)/Σ exp(x_j − max).
 *
 * @param x (..., V)
 * @returns y (..., V), each row sums to 1
 * @example
 * const y = await softmax(dev, tensor([1e30, 0, -1e30], [1, 3])); // [1, 0, 0]
 */
export async function softmax(device: Device, x: Tensor, options?: Record<string, never>): Promise<Tensor> {
  checkOptions('softmax', options, []);
  const { N, L: V } = lastAxis('softmax', 'x', x, ['N', 'V']);
  if (N * V === 0) return emptyLike(device.info.precision, x.shape);
  return (await runKernel(device, 'softmax', 'forward', { x }, { N, V, shape: x.shape })).y;
}

/**
 * Gradient of softmax: dx_i = y_i·(dy_i − Σ_j y_j·dy_j).
 *
 * @param dy (..., V) gradient with respect to the softmax output
 * @param y (..., V) the softmax output
 * @returns dx (..., V)
 *
 * @example
 * const y = await softmax(dev, x);
 * const dx = await softmaxBackward(dev, dy, y); // dL/dx for L with dL/dy = dy
 */
export async function softmaxBackward(device: Device, dy: Tensor, y: Tensor): Promise<Tensor> {
  const { N, L: V } = lastAxis('softmaxBackward', 'y', y, ['N', 'V']);
  checkSameShape('softmaxBackward', 'dy', dy, 'y', y);
  if (N * V === 0) return emptyLike(device.info.precision, y.shape);
  return (await runKernel(device, 'softmax', 'backward', { dy, y }, { N, V, shape: y.shape })).dx;
}

/**
 * logSoftmax over the last axis: (x_i − max) − log Σ exp(x_j − max).
 *
 * @param x (..., V)
 * @returns y (..., V)
 *
 * @example
 * const y = await logSoftmax(dev, tensor([0, 0, -Infinity], [1, 3])); // [-0.6931…, -0.6931…, -Infinity]
 */
export async function logSoftmax(device: Device, x: Tensor, options?: Record<string, never>): Promise<Tensor> {
  checkOptions('logSoftmax', options, []);
  const { N, L: V } = lastAxis('logSoftmax', 'x', x, ['N', 'V']);
  if (N * V === 0) return emptyLike(device.info.precision, x.shape);
  return (await runKernel(device, 'logSoftmax', 'forward', { x }, { N, V, shape: x.shape })).y;
}

/**
 * Gradient of logSoftmax: dx_i = dy_i − exp(y_i)·Σ_j dy_j.
 *
 * @param dy (..., V) gradient with respect to the logSoftmax output
 * @param y (..., V) the logSoftmax output
 * @returns dx (..., V)
 *
 * @example
 * const y = await logSoftmax(dev, x);
 * const dx = await logSoftmaxBackward(dev, dy, y);
 */
export async function logSoftmaxBackward(device: Device, dy: Tensor, y: Tensor): Promise<Tensor> {
  const { N, L: V } = lastAxis('logSoftmaxBackward', 'y', y, ['N', 'V']);
  checkSameShape('logSoftmaxBackward', 'dy', dy, 'y', y);
  if (N * V === 0) return emptyLike(device.info.precision, y.shape);
  return (await runKernel(device, 'logSoftmax', 'backward', { dy, y }, { N, V, shape: y.shape })).dx;
}
