/**
 * LayerNorm over the last axis, forward (caching mean and rstd, llm.c style)
 * and backward.
 *
 * Shapes: x (..., C) is read as N rows of C channels (N = product of the
 * leading dimensions); weight (C), bias (C); out (..., C) like x; mean (...)
 * and rstd (...) i.e. (N). Backward: dout (..., C) → dx (..., C),
 * dweight (C), dbias (C).
 *
 * What is computed (PyTorch semantics: biased variance, eps inside the sqrt):
 *   mean = (1/C)·Σ_j x_j,   var = (1/C)·Σ_j (x_j − mean)²,   rstd = 1/√(var + eps)
 *   out_j = (x_j − mean)·rstd·weight_j + bias_j
 * Backward (llm.c's formula), with x̂ = (x − mean)·rstd and g = weight ⊙ dout:
 *   dx_j = rstd·(g_j − mean_j(g) − x̂_j·mean_j(g ⊙ x̂))
 *   dweight = Σ_rows dout ⊙ x̂,   dbias = Σ_rows dout
 *
 * How the variance is computed, and why:
 *   - Two passes, never E[x²] − E[x]². When |mean| ≫ std the two terms agree
 *     in their leading digits and the difference keeps only what is left: a
 *     row of 10⁴ ± 10⁻² loses 12 decimal digits, more than float32 has, and
 *     the result can even come out negative (NaN after the sqrt).
 *   - The passes run on differences from the row's first element,
 *     d_j = x_j − x_0 (the "shifted data" algorithm, Chan, Golub & LeVeque,
 *     1983). Its rounding errors scale with the row's spread, not with |mean|,
 *     and a constant row gives d ≡ 0 exactly: mean = x_0, out = bias exactly.
 *   - Each row is first multiplied by 1/k, k the largest power of two not
 *     above max_j |x_j|/2 (k = 1 when that is below 1; k ≤ 2^126, so 1/k is
 *     a normal float32 even where subnormals flush). The scaled values lie
 *     in (−4, 4), so neither the sum nor the squares can overflow, even for
 *     rows of ±F32_MAX (x² of 1e30 is 1e60, beyond float32); multiplying by
 *     a power of two is exact. The variance is carried scaled:
 *     rstd = (1/k)·1/√(var_s + eps/k²), out_j = e_j·(1/√(var_s + eps/k²))·w_j + b_j
 *     with e_j the scaled deviation, so no unrepresentable rstd·k appears.
 *
 * Edge-case contract (the FP64 reference defines it; every backend matches):
 *   - zero-variance rows (constant rows, including C = 1): out = bias exactly
 *     (as 0·w + b: a NaN or ±Inf weight still gives NaN), mean = x_0,
 *     rstd = 1/√eps; the backward pass is finite: dx = rstd·(g − mean(g));
 *   - huge values (±1e30, ±F32_MAX, any mix): correct results, no overflow
 *     (PyTorch 1.13 returns NaN for a row of 1e30 and 0 for [1e30, −1e30, 0]);
 *   - a NaN or ±Inf anywhere in a row: that row's out, mean and rstd are NaN
 *     (as in PyTorch); in the backward pass NaN follows IEEE arithmetic, so a
 *     NaN row makes dx's row and every column of dweight NaN;
 *   - tiny and subnormal rows: var ≪ eps, out ≈ bias + (x − mean)/√eps;
 *     backends that flush subnormals treat them as 0 (within the bound's tiny terms);
 *   - eps must be finite and ≥ FLT_MIN = 2^-126 (the zero-variance contract
 *     needs eps > 0, and a subnormal eps would be read as 0 where subnormals flush);
 *   - N = 0: out, mean and rstd are empty; backward gives an empty dx and
 *     dweight = dbias = 0 (C) (sums over no rows). C = 0: out is empty, mean
 *     and rstd (N) are NaN (an empty row has no mean: 0/0); backward gives an
 *     empty dx and zero-length dweight and dbias.
 *
 * Error bounds: `layerNormBound` (out, mean, rstd) and `layerNormBackwardBound`
 * (dx, dweight, dbias), derived beside their code from the algorithm above.
 */
import type { Device } from '../device.js';
import { registerKernel, runKernel } from '../dispatch.js';
import { Tensor } from '../tensor.js';
import { ArgumentError, checkFiniteNumber, checkOptions, fmtShape } from '../errors.js';
import { type ErrorModel, F32_MIN_NORMAL, gamma, sumDepth, SECOND_ORDER } from './bounds.js';
import { colDot, colSum, rowDot, rowMax, rowSum, rowSumSqDev } from './gpujs/rows.js';
import { idiv } from './gpujs/index-math.js';
import { ROW_CHUNK } from './bounds.js';
import { checkFloat, checkShape, checkTensor, emptyLike, f64, lastAxis, out64 } from './shapes.js';

export interface LayerNormOptions {
  /** Added to the variance inside the square root (default 1e-5, PyTorch's). Finite, ≥ 2^-126. */
  eps?: number;
}

export interface LayerNormResult {
  /** (..., C) like x. */
  out: Tensor;
  /** (...) the per-row mean, cached for the backward pass. */
  mean: Tensor;
  /** (...) the per-row 1/√(var + eps), cached for the backward pass. */
  rstd: Tensor;
}

export interface LayerNormGradients {
  /** (..., C) like x. */
  dx: Tensor;
  /** (C) */
  dweight: Tensor;
  /** (C) */
  dbias: Tensor;
}

export const LAYERNORM_DEFAULT_EPS = 1e-5;

// ---------------------------------------------------------------------------
// FP64 reference
// ---------------------------------------------------------------------------

/**
 * The row scale k: the largest power of two ≤ max|x|/2 when that is ≥ 1,
 * else 1. The same ladder of exact powers of two as the gpu.js kernels, so
 * the bound can name the scaled values the kernels see.
 */
export function rowScale(m: number): number {
  let k = 1;
  let t = 0.5 * m;
  for (const p of [64, 32, 16, 8, 4, 2, 1]) {
    if (t >= 2 ** p) {
      t *= 2 ** -p;
      k *= 2 ** p;
    }
  }
  return k;
}

/** Per-row statistics in float64: NaN rows flagged, scale k, shifted sums. */
function rowStats64(x: Float64Array, r: number, C: number) {
  let m = 0;
  let bad = false;
  for (let j = 0; j < C; j++) {
    const v = x[r * C + j];
    if (!Number.isFinite(v)) bad = true;
    else m = Math.max(m, Math.abs(v));
  }
  const k = rowScale(m);
  const s = 1 / k;
  const x0 = x[r * C] * s;
  let S = 0;
  for (let j = 0; j < C; j++) S += x[r * C + j] * s - x0;
  const md = S / C;
  let Q = 0;
  for (let j = 0; j < C; j++) {
    const e = x[r * C + j] * s - x0 - md;
    Q += e * e;
  }
  return { bad, k, s, x0, md, varS: Q / C };
}

/** out (N, C), mean (N), rstd (N) of x (N, C) in float64. */
export function layerNormRef(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  N: number,
  C: number,
  eps = LAYERNORM_DEFAULT_EPS,
): { out: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const out = new Float64Array(N * C);
  const mean = new Float64Array(N);
  const rstd = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    const { bad, k, s, x0, md, varS } = rowStats64(x, r, C);
    if (bad) {
      mean[r] = NaN;
      rstd[r] = NaN;
      out.fill(NaN, r * C, (r + 1) * C);
      continue;
    }
    mean[r] = (x0 + md) * k;
    // g = 1/√(var_s + eps/k²) is rstd·k; for a constant row (var_s = 0) every
    // deviation is 0 and any finite g gives out = bias
    const g = varS > 0 ? 1 / Math.sqrt(varS + eps * s * s) : 0;
    rstd[r] = varS > 0 ? g * s : 1 / Math.sqrt(eps);
    for (let j = 0; j < C; j++) {
      const e = x[r * C + j] * s - x0 - md;
      out[r * C + j] = e * g * w[j] + b[j];
    }
  }
  return { out, mean, rstd };
}

/** dx (N, C), dweight (C), dbias (C) in float64 from the cached mean and rstd. */
export function layerNormBackwardRef(
  dout: Float64Array,
  x: Float64Array,
  w: Float64Array,
  mean: Float64Array,
  rstd: Float64Array,
  N: number,
  C: number,
): { dx: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const dx = new Float64Array(N * C);
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  for (let r = 0; r < N; r++) {
    let A = 0;
    let B = 0;
    for (let j = 0; j < C; j++) {
      const i = r * C + j;
      const xhat = (x[i] - mean[r]) * rstd[r];
      const g = w[j] * dout[i];
      A += g;
      B += g * xhat;
      dweight[j] += dout[i] * xhat;
      dbias[j] += dout[i];
    }
    A /= C;
    B /= C;
    for (let j = 0; j < C; j++) {
      const i = r * C + j;
      const xhat = (x[i] - mean[r]) * rstd[r];
      dx[i] = rstd[r] * (w[j] * dout[i] - A - xhat * B);
    }
  }
  return { dx, dweight, dbias };
}

// ---------------------------------------------------------------------------
// Error bounds
// ---------------------------------------------------------------------------


export interface LayerNormBounds {
  out: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
  note: string;
}

/**
 * Forward bound, per row r, in the scaled domain of the gpu.js algorithm
 * (x̃ = x/k exact; all quantities below are exact values computed here in
 * float64, Δ their allowed errors). `tiny` covers every value that may be
 * flushed or rounded in the subnormal range: ξ_j = tiny where |x̃_j| < FLT_MIN.
 *   d_j = fl(x̃_j − x̃_0), stored:      Δd_j ≤ (u + uStore)|d_j| + ξ_j + ξ_0 + tiny
 *   S = Σ d_j (chunked, stored twice):  ΔS ≤ Σ Δd_j + (γ(depth) + 2uStore)·Σ|d_j|
 *   μ_d = S/C, stored:                 Δμ ≤ ΔS/C + (divRel + uStore)|μ_d|
 *   e_j = d_j − μ_d:                    Δe_j ≤ Δd_j + Δμ + u|e_j|
 *   Q = Σ e_j² (chunked, stored twice): ΔQ ≤ Σ(2|e_j|Δe_j + u e_j²) + (γ(depth) + 2uStore)·Σe_j² + C·tiny
 *   v = Q/C + eps/k²:                   Δv ≤ ΔQ/C + divRel·Q/C + u·v + uStore·eps/k² (eps is a float32
 *                                       argument) + tiny (eps/k² may underflow)
 *   g = 1/√v, stored:                  δg ≤ ½Δv/v + sqrtRel + divRel + uStore
 *   out_j = fl(fl(e_j·g)·w_j) + b_j:    Δout_j ≤ |w_j|·(g·Δe_j + |x̂_j|(δg + 2u)) + |x̂_j|·ξ(w_j)
 *                                       + (u + uStore)|out_j| + 2·tiny
 *     (x̂_j = e_j·g, |x̂_j| ≤ √C; a subnormal w_j or b_j may be read as 0: ξ(w_j)·|x̂_j| and tiny)
 *   mean = (x̃_0 + μ_d)·k:              Δmean ≤ k·(ξ_0 + Δμ + u|x̃_0 + μ_d|) + uStore|mean| + tiny
 *   rstd = g/k:                         Δrstd ≤ (δg + uStore)·rstd + tiny
 * A row whose scaled values are all equal (var = 0) takes the exact branch:
 * out = 0·w + b = b, mean = x_0, and rstd = 1/√eps computed directly
 * (eps's rounding ½uStore, sqrtRel, divRel, uStore).
 */
export function layerNormBound(
  M: ErrorModel,
  x: Float64Array,
  w: Float64Array,
  N: number,
  C: number,
  eps: number,
  ref: { out: Float64Array; mean: Float64Array; rstd: Float64Array },
): LayerNormBounds {
  const out = new Float64Array(N * C);
  const mean = new Float64Array(N);
  const rstd = new Float64Array(N);
  const depth = sumDepth(C);
  const gSum = gamma(depth, M.u) + 2 * M.uStore;
  const xi = (v: number) => (Math.abs(v) < F32_MIN_NORMAL ? M.tiny : 0);
  for (let r = 0; r < N; r++) {
    const { bad, k, s, x0, md, varS } = rowStats64(x, r, C);
    if (bad) continue;
    const xi0 = xi(x0);
    if (varS === 0) {
      // the exact branch: d ≡ 0 in the kernels too (the scaled values are equal)
      mean[r] = M.uStore * Math.abs(ref.mean[r]) + M.tiny;
      rstd[r] = SECOND_ORDER * (0.5 * M.uStore + M.sqrtRel + M.divRel + M.uStore) * ref.rstd[r] + M.tiny;
      for (let j = 0; j < C; j++) out[r * C + j] = M.uStore * Math.abs(ref.out[r * C + j]) + 2 * M.tiny;
      continue;
    }
    let sumDd = 0;
    let sumAbsD = 0;
    const dd = new Float64Array(C);
    for (let j = 0; j < C; j++) {
      const xt = x[r * C + j] * s;
      const d = xt - x0;
      dd[j] = (M.u + M.uStore) * Math.abs(d) + xi(xt) + xi0 + M.tiny;
      sumDd += dd[j];
      sumAbsD += Math.abs(d);
    }
    const dS = sumDd + gSum * sumAbsD;
    const dMu = dS / C + (M.divRel + M.uStore) * Math.abs(md);
    let dQ = C * M.tiny;
    let E2 = 0;
    const de = new Float64Array(C);
    for (let j = 0; j < C; j++) {
      const e = x[r * C + j] * s - x0 - md;
      de[j] = dd[j] + dMu + M.u * Math.abs(e);
      dQ += 2 * Math.abs(e) * de[j] + M.u * e * e;
      E2 += e * e;
    }
    dQ += gSum * E2;
    const epsS = eps * s * s;
    const v = varS + epsS;
    const dv = dQ / C + M.divRel * varS + M.u * v + M.uStore * epsS + M.tiny;
    const g = 1 / Math.sqrt(v);
    const dg = (0.5 * dv) / v + M.sqrtRel + M.divRel + M.uStore;
    for (let j = 0; j < C; j++) {
      const i = r * C + j;
      const e = x[i] * s - x0 - md;
      const xhat = Math.abs(e * g);
      out[i] = SECOND_ORDER * (Math.abs(w[j]) * (g * de[j] + xhat * (dg + 2 * M.u)) + xhat * xi(w[j]) + (M.u + M.uStore) * Math.abs(ref.out[i])) + 2 * M.tiny;
    }
    mean[r] = SECOND_ORDER * (k * (xi0 + dMu + M.u * Math.abs(x0 + md)) + M.uStore * Math.abs(ref.mean[r])) + M.tiny;
    rstd[r] = SECOND_ORDER * (dg + M.uStore) * ref.rstd[r] + M.tiny;
  }
  return { out, mean, rstd, note: `layerNorm: shifted two-pass on power-of-two-scaled rows; per-element Δd, Δμ, Δe, ΔQ, δg chain (see layerNormBound), ${M.name}` };
}

export interface LayerNormBackwardBounds {
  dx: Float64Array;
  dweight: Float64Array;
  dbias: Float64Array;
  note: string;
}

/**
 * Backward bound, from the inputs as given (x, mean, rstd, w, dout; the
 * reference x̂_j = (x_j − mean)·rstd is exact here). A subnormal input may be
 * read as 0 where the backend flushes (ξ(v) = tiny for |v| < FLT_MIN, and
 * ρ = rstd itself when rstd < FLT_MIN: rows with std > 8.5e37 lose x̂ there):
 *   x̂_j = fl(fl(½x − ½mean)·2rstd), stored (halving keeps x − mean finite):
 *     Δx̂_j ≤ (2u + uStore)|x̂_j| + 2rstd·(ξ_x + ξ_mean) + |x_j − mean|·ρ + tiny
 *     (ξ here: tiny where a halved input is subnormal)
 *   g_j = fl(w_j·dout_j), stored:           Δg_j ≤ (u + uStore)|g_j| + ξ(w_j)|dout_j| + ξ(dout_j)|w_j| + tiny
 *   A = Σ g (chunked):                      ΔA ≤ Σ Δg_j + (γ(depth) + 2uStore)·Σ|g_j|
 *   B = Σ g·x̂ (chunked):                    ΔB ≤ Σ(Δg_j|x̂_j| + |g_j|Δx̂_j) + (γ(depth + 1) + 2uStore)·Σ|g_j x̂_j| + C·tiny
 *   t_j = (g_j − A/C) − x̂_j·(B/C), with g_j recomputed (u):
 *     Δt_j ≤ u|g_j| + (ΔA + divRel|A|)/C + |x̂_j|(ΔB + divRel|B|)/C + |B/C|·Δx̂_j + u|x̂_j B/C| + u|g_j − A/C| + u|t_j|
 *   dx_j = rstd·t_j:                        Δdx_j ≤ rstd·Δt_j + ρ·|t_j| + (u + uStore)|dx_j| + tiny
 *     (in Δt_j the recomputed g_j carries Δg_j's ξ terms instead of u|g_j| alone)
 *   dweight_c = Σ_n dout·x̂ (column chunks): Σ_n (|dout|Δx̂ + ξ(dout)|x̂|) + (γ(depth_N + 1) + 2uStore)·Σ|dout·x̂| + N·tiny
 *   dbias_c = Σ_n dout:                     (γ(depth_N) + 2uStore)·Σ|dout| + N·tiny
 */
export function layerNormBackwardBound(
  M: ErrorModel,
  dout: Float64Array,
  x: Float64Array,
  w: Float64Array,
  mean: Float64Array,
  rstd: Float64Array,
  N: number,
  C: number,
  ref: { dx: Float64Array; dweight: Float64Array; dbias: Float64Array },
): LayerNormBackwardBounds {
  const dx = new Float64Array(N * C);
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  const depth = sumDepth(C);
  const xi = (v: number) => (Math.abs(v) < 2 * F32_MIN_NORMAL ? M.tiny : 0);
  const flushed = (v: number) => (Math.abs(v) < F32_MIN_NORMAL ? Math.min(Math.abs(v), M.tiny) : 0);
  const dxhat = new Float64Array(C);
  const colAbsDx = new Float64Array(C); // Σ_n |dout|·Δx̂
  const colAbsDoutXhat = new Float64Array(C);
  const colAbsDout = new Float64Array(C);
  for (let r = 0; r < N; r++) {
    const rs = rstd[r];
    const rho = flushed(rs);
    let A = 0;
    let B = 0;
    let sumAbsG = 0;
    let sumDg = 0;
    let sumAbsGX = 0;
    let sumB = 0;
    for (let j = 0; j < C; j++) {
      const i = r * C + j;
      const xhat = (x[i] - mean[r]) * rs;
      const g = w[j] * dout[i];
      dxhat[j] = (2 * M.u + M.uStore) * Math.abs(xhat) + 2 * Math.abs(rs) * (xi(x[i]) + xi(mean[r])) + Math.abs(x[i] - mean[r]) * rho + M.tiny;
      const gFlush = flushed(w[j]) * Math.abs(dout[i]) + flushed(dout[i]) * Math.abs(w[j]);
      const dg = (M.u + M.uStore) * Math.abs(g) + gFlush + M.tiny;
      A += g;
      B += g * xhat;
      sumAbsG += Math.abs(g);
      sumDg += dg;
      sumAbsGX += Math.abs(g * xhat);
      sumB += dg * Math.abs(xhat) + Math.abs(g) * dxhat[j];
      colAbsDx[j] += Math.abs(dout[i]) * dxhat[j] + flushed(dout[i]) * Math.abs(xhat);
      colAbsDoutXhat[j] += Math.abs(dout[i] * xhat);
      colAbsDout[j] += Math.abs(dout[i]);
    }
    const dA = sumDg + (gamma(depth, M.u) + 2 * M.uStore) * sumAbsG;
    const dB = sumB + (gamma(depth + 1, M.u) + 2 * M.uStore) * sumAbsGX + C * M.tiny;
    const a = A / C;
    const bb = B / C;
    for (let j = 0; j < C; j++) {
      const i = r * C + j;
      const xhat = (x[i] - mean[r]) * rs;
      const g = w[j] * dout[i];
      const t = g - a - xhat * bb;
      const gFlush = flushed(w[j]) * Math.abs(dout[i]) + flushed(dout[i]) * Math.abs(w[j]);
      const dt =
        M.u * Math.abs(g) +
        gFlush +
        (dA + M.divRel * Math.abs(A)) / C +
        (Math.abs(xhat) * (dB + M.divRel * Math.abs(B))) / C +
        Math.abs(bb) * dxhat[j] +
        M.u * Math.abs(xhat * bb) +
        M.u * Math.abs(g - a) +
        M.u * Math.abs(t);
      dx[i] = SECOND_ORDER * (Math.abs(rs) * dt + rho * Math.abs(t) + (M.u + M.uStore) * Math.abs(ref.dx[i])) + M.tiny;
    }
  }
  const depthN = sumDepth(N);
  for (let j = 0; j < C; j++) {
    dweight[j] = SECOND_ORDER * (colAbsDx[j] + (gamma(depthN + 1, M.u) + 2 * M.uStore) * colAbsDoutXhat[j]) + N * M.tiny;
    dbias[j] = SECOND_ORDER * (gamma(depthN, M.u) + 2 * M.uStore) * colAbsDout[j] + N * M.tiny;
  }
  return { dx, dweight, dbias, note: `layerNormBackward: x̂, g, A, B chains as in layerNormBackwardBound, ${M.name}` };
}

// ---------------------------------------------------------------------------
// gpu.js kernels (float32; one thread per output element)
// ---------------------------------------------------------------------------

/** 1/k for the row scale k of `rowScale` (exact powers of two ≥ 2^-126; NaN → 1). */
function lnInvScale(m: number): number {
  let t = 0.5 * m;
  let s = 1;
  if (t >= 18446744073709551616) {
    t = t * 5.421010862427522e-20;
    s = s * 5.421010862427522e-20;
  }
  if (t >= 4294967296) {
    t = t * 2.3283064365386963e-10;
    s = s * 2.3283064365386963e-10;
  }
  if (t >= 65536) {
    t = t * 0.0000152587890625;
    s = s * 0.0000152587890625;
  }
  if (t >= 256) {
    t = t * 0.00390625;
    s = s * 0.00390625;
  }
  if (t >= 16) {
    t = t * 0.0625;
    s = s * 0.0625;
  }
  if (t >= 4) {
    t = t * 0.25;
    s = s * 0.25;
  }
  if (t >= 2) {
    s = s * 0.5;
  }
  return s;
}

/** k itself (the same ladder). */
function lnScale(m: number): number {
  let t = 0.5 * m;
  let k = 1;
  if (t >= 18446744073709551616) {
    t = t * 5.421010862427522e-20;
    k = k * 18446744073709551616;
  }
  if (t >= 4294967296) {
    t = t * 2.3283064365386963e-10;
    k = k * 4294967296;
  }
  if (t >= 65536) {
    t = t * 0.0000152587890625;
    k = k * 65536;
  }
  if (t >= 256) {
    t = t * 0.00390625;
    k = k * 256;
  }
  if (t >= 16) {
    t = t * 0.0625;
    k = k * 16;
  }
  if (t >= 4) {
    t = t * 0.25;
    k = k * 4;
  }
  if (t >= 2) {
    k = k * 2;
  }
  return k;
}

interface ChunkThis {
  thread: { x: number };
  constants: { L: number; CH: number; NC: number };
}

/** max |x| over chunk c of row r (thread r·NC + c); NaN if the chunk has a NaN. */
function lnAbsMaxKernel(this: ChunkThis, x: number[], nan: number): number {
  const r = idiv(this.thread.x, this.constants.NC);
  const c = this.thread.x - r * this.constants.NC;
  const start = r * this.constants.L + c * this.constants.CH;
  let m = 0;
  let sawNaN = 0;
  for (let i = 0; i < this.constants.CH; i++) {
    if (c * this.constants.CH + i < this.constants.L) {
      const v = x[start + i];
      if (v != v) {
        sawNaN = 1;
      } else if (Math.abs(v) > m) {
        m = Math.abs(v);
      }
    }
  }
  if (sawNaN > 0) {
    return nan;
  }
  return m;
}

interface RowThis {
  thread: { x: number };
  constants: { C: number };
}

/** d = x·(1/k) − x_0·(1/k) for each element; NaN for rows holding NaN or ±Inf. */
function lnShiftKernel(this: RowThis, x: number[], m: number[], nan: number): number {
  const r = idiv(this.thread.x, this.constants.C);
  const mr = m[r];
  if (mr != mr || mr > 3.4028234663852886e38) {
    return nan;
  }
  const s = lnInvScale(mr);
  return x[this.thread.x] * s - x[r * this.constants.C] * s;
}

/** μ_d = S/C per row. */
function lnMeanShiftKernel(this: RowThis, S: number[]): number {
  return S[this.thread.x] / this.constants.C;
}

/**
 * g = 1/√(Q/C + eps/k²) per row (the scaled rstd); 0 where that is Inf (a
 * constant huge row, whose deviations are all 0). NaN is tested first: GPU
 * compilers may turn a clamp into min(), which drops NaN.
 */
function lnScaledRstdKernel(this: RowThis, Q: number[], m: number[], eps: number): number {
  const s = lnInvScale(m[this.thread.x]);
  const g = 1 / Math.sqrt(Q[this.thread.x] / this.constants.C + eps * s * s);
  if (g != g) {
    return g;
  }
  if (g > 3.4028234663852886e38) {
    return 0;
  }
  return g;
}

/** out = (d − μ_d)·g·w + b. */
function lnOutKernel(this: RowThis, d: number[], md: number[], g: number[], w: number[], b: number[]): number {
  const r = idiv(this.thread.x, this.constants.C);
  const c = this.thread.x - r * this.constants.C;
  return (d[this.thread.x] - md[r]) * g[r] * w[c] + b[c];
}

/** mean = (x_0/k + μ_d)·k, clamped to ±F32_MAX (rounding cannot push a mean past its row's max). */
function lnMeanKernel(this: RowThis, x: number[], md: number[], m: number[], nan: number): number {
  const mr = m[this.thread.x];
  const mdr = md[this.thread.x];
  if (mdr != mdr) {
    return nan;
  }
  const s = lnInvScale(mr);
  const k = lnScale(mr);
  let mu = (x[this.thread.x * this.constants.C] * s + mdr) * k;
  if (mu > 3.4028234663852886e38) {
    mu = 3.4028234663852886e38;
  }
  if (mu < -3.4028234663852886e38) {
    mu = -3.4028234663852886e38;
  }
  return mu;
}

/** rstd = g/k, or 1/√eps for a zero-variance row. */
function lnRstdKernel(this: RowThis, Q: number[], g: number[], m: number[], eps: number, nan: number): number {
  const q = Q[this.thread.x];
  if (q != q) {
    return nan;
  }
  if (q == 0) {
    return 1 / Math.sqrt(eps);
  }
  return g[this.thread.x] * lnInvScale(m[this.thread.x]);
}

/** x̂ = (½x − ½mean)·(2·rstd): halving keeps x − mean finite for rows spanning ±F32_MAX. */
function lnXhatKernel(this: RowThis, x: number[], mean: number[], rstd: number[]): number {
  const r = idiv(this.thread.x, this.constants.C);
  return (0.5 * x[this.thread.x] - 0.5 * mean[r]) * (2 * rstd[r]);
}

/** g = w ⊙ dout. */
function lnWeightedKernel(this: RowThis, dout: number[], w: number[]): number {
  const r = idiv(this.thread.x, this.constants.C);
  return w[this.thread.x - r * this.constants.C] * dout[this.thread.x];
}

/** dx = rstd·((g − A/C) − x̂·(B/C)), g recomputed from w and dout. */
function lnDxKernel(this: RowThis, dout: number[], w: number[], xhat: number[], A: number[], B: number[], rstd: number[]): number {
  const r = idiv(this.thread.x, this.constants.C);
  const c = this.thread.x - r * this.constants.C;
  const g = w[c] * dout[this.thread.x];
  return rstd[r] * (g - A[r] / this.constants.C - xhat[this.thread.x] * (B[r] / this.constants.C));
}

const SCALE_FUNCTIONS = [lnInvScale, lnScale];

/** Row max of |x| (N, C) → (N), NaN-propagating. */
async function gpuRowAbsMax(device: Device, x: Tensor, N: number, C: number): Promise<Tensor> {
  const rt = device.gpujs!;
  const CH = Math.min(C, ROW_CHUNK);
  const NC = Math.ceil(C / CH);
  const partial = await rt.run({ name: 'layernorm.absmax', fn: lnAbsMaxKernel, outputs: N * NC, constants: { L: C, CH, NC } }, [x, NaN], [N, NC]);
  if (NC === 1) return partial;
  // the partials are ≥ 0 or NaN; rowMax keeps NaN
  const m = await rowMax(rt, partial, N, NC);
  partial.dispose();
  return m;
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

/** Attributes of the layerNorm calls: N rows of C, eps, and the caller's shape. */
export interface LayerNormAttrs {
  N: number;
  C: number;
  eps: number;
  shape: readonly number[];
}

registerKernel<LayerNormAttrs>({
  kernel: 'layerNorm',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { x, weight, bias }, { N, C, eps, shape }) => {
    const r = layerNormRef(f64(x), f64(weight), f64(bias), N, C, eps);
    const lead = shape.slice(0, -1);
    return { out: out64(r.out, shape), mean: out64(r.mean, lead), rstd: out64(r.rstd, lead) };
  },
});
registerKernel<LayerNormAttrs>({
  kernel: 'layerNorm',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { x, weight, bias }, { N, C, eps, shape }) => {
    const rt = d.gpujs!;
    const lead = shape.slice(0, -1);
    const consts = { C };
    const m = await gpuRowAbsMax(d, x, N, C);
    const dd = await rt.run({ name: 'layernorm.shift', fn: lnShiftKernel, outputs: N * C, constants: consts, functions: SCALE_FUNCTIONS }, [x, m, NaN], [N, C]);
    const S = await rowSum(rt, dd, N, C);
    const md = await rt.run({ name: 'layernorm.meanShift', fn: lnMeanShiftKernel, outputs: N, constants: consts }, [S], [N]);
    S.dispose();
    const Q = await rowSumSqDev(rt, dd, md, N, C);
    const g = await rt.run({ name: 'layernorm.scaledRstd', fn: lnScaledRstdKernel, outputs: N, constants: consts, functions: SCALE_FUNCTIONS }, [Q, m, eps], [N]);
    const out = await rt.run({ name: 'layernorm.out', fn: lnOutKernel, outputs: N * C, constants: consts }, [dd, md, g, weight, bias], shape);
    const mean = await rt.run({ name: 'layernorm.mean', fn: lnMeanKernel, outputs: N, constants: consts, functions: SCALE_FUNCTIONS }, [x, md, m, NaN], lead);
    const rstd = await rt.run({ name: 'layernorm.rstd', fn: lnRstdKernel, outputs: N, constants: consts, functions: SCALE_FUNCTIONS }, [Q, g, m, eps, NaN], lead);
    for (const t of [m, dd, md, Q, g]) t.dispose();
    return { out, mean, rstd };
  },
});

registerKernel<LayerNormAttrs>({
  kernel: 'layerNorm',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dout, x, weight, mean, rstd }, { N, C, shape }) => {
    const r = layerNormBackwardRef(f64(dout), f64(x), f64(weight), f64(mean), f64(rstd), N, C);
    return { dx: out64(r.dx, shape), dweight: out64(r.dweight, [C]), dbias: out64(r.dbias, [C]) };
  },
});
registerKernel<LayerNormAttrs>({
  kernel: 'layerNorm',
  phase: 'backward',
  backend: 'gpujs',
  impl: async (d, { dout, x, weight, mean, rstd }, { N, C, shape }) => {
    const rt = d.gpujs!;
    const consts = { C };
    const xhat = await rt.run({ name: 'layernorm.xhat', fn: lnXhatKernel, outputs: N * C, constants: consts }, [x, mean, rstd], [N, C]);
    const g = await rt.run({ name: 'layernorm.weighted', fn: lnWeightedKernel, outputs: N * C, constants: consts }, [dout, weight], [N, C]);
    const A = await rowSum(rt, g, N, C);
    const B = await rowDot(rt, g, xhat, N, C);
    g.dispose();
    const dx = await rt.run({ name: 'layernorm.dx', fn: lnDxKernel, outputs: N * C, constants: consts }, [dout, weight, xhat, A, B, rstd], shape);
    const dweight = await colDot(rt, dout, xhat, N, C);
    const dbias = await colSum(rt, dout, N, C);
    for (const t of [xhat, A, B]) t.dispose();
    return { dx, dweight: dweight.reshape([C]), dbias: dbias.reshape([C]) };
  },
});

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

function epsOf(fn: string, options: LayerNormOptions | undefined): number {
  checkOptions(fn, options, ['eps']);
  if (options?.eps === undefined) return LAYERNORM_DEFAULT_EPS;
  // below FLT_MIN a float32 eps is subnormal, and backends that flush would read it as 0
  return checkFiniteNumber(fn, 'eps', options.eps, { min: F32_MIN_NORMAL });
}

function checkParam(fn: string, name: string, t: Tensor, C: number, x: Tensor): void {
  checkTensor(fn, name, t);
  checkFloat(fn, name, t);
  if (t.shape.length !== 1 || t.shape[0] !== C) {
    throw new ArgumentError(`${fn}: '${name}' must have shape [C] = [${C}] to match x of shape ${fmtShape(x.shape)}, got ${fmtShape(t.shape)}`);
  }
}

function statsShape(x: Tensor): number[] {
  return x.shape.slice(0, -1);
}

/**
 * LayerNorm over the last axis with PyTorch's semantics, caching the per-row
 * mean and rstd for the backward pass. Zero-variance rows give out = bias and
 * rstd = 1/√eps; rows of ±1e30 or ±F32_MAX are normalised without overflow;
 * a NaN or ±Inf in a row makes that row NaN.
 *
 * @param x (..., C)
 * @param weight (C)
 * @param bias (C)
 * @param options eps (default 1e-5), finite and ≥ 2^-126
 * @returns { out (..., C), mean (...), rstd (...) }
 * @example
 * const { out, mean, rstd } = await layerNorm(dev, x, lnw, lnb); // x (B, T, C)
 * const { dx, dweight, dbias } = await layerNormBackward(dev, dout, x, lnw, mean, rstd);
 */
export async function layerNorm(device: Device, x: Tensor, weight: Tensor, bias: Tensor, options?: LayerNormOptions): Promise<LayerNormResult> {
  const eps = epsOf('layerNorm', options);
  const { N, L: C } = lastAxis('layerNorm', 'x', x, ['N', 'C']);
  checkParam('layerNorm', 'weight', weight, C, x);
  checkParam('layerNorm', 'bias', bias, C, x);
  const lead = statsShape(x);
  if (N === 0 || C === 0) {
    const mean = emptyLike(device.info.precision, lead);
    const rstd = emptyLike(device.info.precision, lead);
    // no channels: nothing to average (0/0), as PyTorch
    (mean.data as Float32Array | Float64Array).fill(NaN);
    (rstd.data as Float32Array | Float64Array).fill(NaN);
    return { out: emptyLike(device.info.precision, x.shape), mean, rstd };
  }
  const r = await runKernel(device, 'layerNorm', 'forward', { x, weight, bias }, { N, C, eps, shape: x.shape });
  return { out: r.out, mean: r.mean, rstd: r.rstd };
}

/**
 * Gradient of LayerNorm from the cached statistics (llm.c's formula):
 * dx = rstd·(w⊙dout − mean(w⊙dout) − x̂·mean(w⊙dout⊙x̂)), dweight = Σ dout⊙x̂,
 * dbias = Σ dout, with x̂ = (x − mean)·rstd.
 *
 * @param dout (..., C) gradient with respect to out
 * @param x (..., C) the forward input
 * @param weight (C)
 * @param mean (...) and rstd (...) as returned by layerNorm (or flattened to (N))
 * @returns { dx (..., C), dweight (C), dbias (C) }
 *
 * @example
 * const { out, mean, rstd } = await layerNorm(dev, x, w, b);
 * const { dx, dweight, dbias } = await layerNormBackward(dev, dout, x, w, mean, rstd);
 */
export async function layerNormBackward(device: Device, dout: Tensor, x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor): Promise<LayerNormGradients> {
  const fn = 'layerNormBackward';
  const { N, L: C } = lastAxis(fn, 'x', x, ['N', 'C']);
  checkTensor(fn, 'dout', dout);
  checkFloat(fn, 'dout', dout);
  checkShape(fn, 'dout', dout, x.shape, x.shape.length === 3 ? ['B', 'T', 'C'] : x.shape.length === 2 ? ['N', 'C'] : []);
  checkParam(fn, 'weight', weight, C, x);
  const lead = statsShape(x);
  const letters = lead.length === 2 ? ['B', 'T'] : lead.length === 1 ? ['N'] : [];
  for (const [name, t] of [['mean', mean], ['rstd', rstd]] as const) {
    checkTensor(fn, name, t);
    checkFloat(fn, name, t);
    // the shape layerNorm returns (x's leading dimensions), or the same values flattened to (N)
    if (!(t.shape.length === 1 && t.shape[0] === N)) checkShape(fn, name, t, lead, letters);
  }
  if (N === 0 || C === 0) {
    const zeros = () => Tensor.fromHost(device.info.precision === 'float64' ? new Float64Array(C) : new Float32Array(C), [C]);
    return { dx: emptyLike(device.info.precision, x.shape), dweight: zeros(), dbias: zeros() };
  }
  const r = await runKernel(device, 'layerNorm', 'backward', { dout, x, weight, mean, rstd }, { N, C, eps: 0, shape: x.shape });
  return { dx: r.dx, dweight: r.dweight, dbias: r.dbias };
}
