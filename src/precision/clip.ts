/**
 * Gradient clipping by total norm, as PyTorch's `torch.nn.utils.clip_grad_norm_`.
 *
 *   total = ‖ concat(all gradients) ‖_p          (p = 2 or ∞)
 *   coef  = min(maxNorm / (total + 1e−6), 1)
 *   g    ← g · coef   for every gradient, in place
 *
 * The norm is computed in float64 without overflow or underflow for any
 * finite input:
 *   - Float32Array elements: each square x² is exact in float64 (24-bit
 *     significand → ≤ 48 bits) and lies in [2^−298, 2^256], far inside
 *     float64's normal range, so a plain float64 sum of squares neither
 *     overflows nor underflows (n < 2^53 terms of at most 2^256).
 *   - Float64Array elements: Blue's algorithm with the constants of LAPACK's
 *     dnrm2 (Anderson, "Algorithm 978: Safe scaling in the Level 1 BLAS",
 *     2017): values above 2^486 are scaled by 2^−538 and values below
 *     2^−511 by 2^537 before squaring, into separate accumulators that are
 *     combined at the end. Scaling by powers of two is exact.
 * Error: the float64 sum of n non-negative terms has relative error
 * ≤ (n − 1)·u (u = 2^−53); the square root halves it and adds ≤ u, so the
 * norm is within about (n/2 + 2)·u relative of the exact one (the tests
 * check this against exact BigInt arithmetic).
 */
import { ArgumentError, checkOptions } from '../errors.js';
import { checkGradRecord, type GradientRecord } from './loss-scaler.js';

export interface ClipOptions {
  /** 2 (default) or Infinity (max |g|). */
  normType?: 2 | number;
  /** Throw a `NonFiniteGradientError` (before touching the gradients) when the total norm is NaN or ±Inf. Default false. */
  errorIfNonfinite?: boolean;
  /**
   * Accepted for parity with PyTorch's signature; it selects PyTorch's
   * multi-tensor kernels there and changes nothing here (one loop per tensor
   * either way, same results).
   */
  foreach?: boolean;
}

export interface ClipResult {
  /** The total norm of all gradients before clipping (float64). */
  totalNorm: number;
  /** The factor every gradient was multiplied by: min(maxNorm / (totalNorm + 1e−6), 1). */
  clipCoef: number;
  /** Name of the first tensor (in key order) holding a NaN or ±Inf, when the norm is not finite. */
  culprit?: string;
  /** Flat index of that value in the culprit tensor. */
  culpritIndex?: number;
}

/** Thrown by `clipGradNorm` with `errorIfNonfinite: true`. */
export class NonFiniteGradientError extends Error {
  override name = 'NonFiniteGradientError';
  constructor(
    message: string,
    readonly tensor: string | undefined,
    readonly index: number | undefined,
  ) {
    super(message);
  }
}

/** PyTorch's guard against division by zero in the coefficient. */
export const CLIP_EPSILON = 1e-6;

// Blue's constants for binary64 (LAPACK la_constants.f90):
// tsml = 2^ceil((emin−1)/2), tbig = 2^floor((emax−t+1)/2), ssml = 2^(−floor((emin−t)/2)), sbig = 2^(−ceil((emax+t−1)/2))
// with emin = −1021, emax = 1024, t = 53 (LAPACK's radix-2 conventions).
const TSML = 2 ** -511;
const TBIG = 2 ** 486;
const SSML = 2 ** 537;
const SBIG = 2 ** -538;

/** Running sums of Blue's algorithm; all squares are of scaled values. */
interface BlueSums {
  small: number;
  medium: number;
  big: number;
}

function accumulate64(g: Float64Array, s: BlueSums): void {
  let small = s.small;
  let medium = s.medium;
  let big = s.big;
  for (let i = 0; i < g.length; i++) {
    const a = Math.abs(g[i]);
    if (a > TBIG) {
      const y = a * SBIG;
      big += y * y;
    } else if (a < TSML) {
      const y = a * SSML;
      small += y * y;
    } else {
      // NaN fails both comparisons and lands here, making the sum NaN
      medium += a * a;
    }
  }
  s.small = small;
  s.medium = medium;
  s.big = big;
}

function sumSquares32(g: Float32Array): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return s;
}

/** Combines Blue's sums into sqrt(small/SSML² + medium + big/SBIG²) without overflow or underflow. */
function combine(s: BlueSums): number {
  const { small, medium, big } = s;
  if (big !== 0 || Number.isNaN(big)) {
    // medium and small are negligible against a big value unless NaN
    const b = Number.isNaN(medium) ? NaN : big + medium * SBIG * SBIG;
    return Math.sqrt(b) / SBIG;
  }
  if (small !== 0) {
    if (medium !== 0 || Number.isNaN(medium)) {
      const ym = Math.sqrt(medium);
      const ys = Math.sqrt(small) / SSML;
      const ymin = Math.min(ym, ys);
      const ymax = Math.max(ym, ys);
      const r = ymin / ymax;
      return ymax * Math.sqrt(1 + r * r);
    }
    return Math.sqrt(small) / SSML;
  }
  return Math.sqrt(medium);
}

/**
 * The total norm of a record of gradients, in float64, without modifying them.
 *
 * Special cases: an empty record (or only empty arrays) → 0; any NaN → NaN;
 * otherwise any ±Inf → Infinity; finite inputs never overflow or underflow
 * (a true norm above float64's max — possible only for Float64Array inputs
 * near 1.8e308 — is Infinity).
 *
 * @example
 * totalNorm({ w: new Float32Array([3, 4]) }); // 5
 */
export function totalNorm(grads: GradientRecord, normType: number = 2): number {
  const entries = checkGradRecord('totalNorm', grads);
  checkNormType('totalNorm', normType);
  return normOf(entries, normType);
}

function normOf(entries: [string, Float32Array | Float64Array][], normType: number): number {
  if (normType === Infinity) {
    let m = 0;
    for (const [, g] of entries) {
      for (let i = 0; i < g.length; i++) {
        const a = Math.abs(g[i]);
        if (a > m) m = a;
        else if (a !== a) return NaN;
      }
    }
    return m;
  }
  const s: BlueSums = { small: 0, medium: 0, big: 0 };
  for (const [, g] of entries) {
    // float32 sums of squares are safe as "medium" terms: they lie in [2^−298, n·2^256]
    if (g instanceof Float32Array) s.medium += sumSquares32(g);
    else accumulate64(g, s);
  }
  return combine(s);
}

function checkNormType(fn: string, normType: unknown): void {
  if (normType !== 2 && normType !== Infinity) {
    throw new ArgumentError(`${fn}: 'normType' must be 2 or Infinity, got ${String(normType)}`);
  }
}

function findNonFinite(entries: [string, Float32Array | Float64Array][]): { tensor: string; index: number } | undefined {
  for (const [name, g] of entries) {
    for (let i = 0; i < g.length; i++) {
      const v = g[i];
      if (v - v !== 0) return { tensor: name, index: i };
    }
  }
  return undefined;
}

/**
 * Clips gradients by their total norm, in place (as PyTorch's
 * `clip_grad_norm_`: the record's arrays are modified, not copied).
 *
 * Special cases:
 *   - totalNorm ≤ maxNorm − 1e−6 (coef ≥ 1): nothing is written; the
 *     gradients stay bit-for-bit as they were.
 *   - coef < 1: g ← g·coef with coef in float64; for Float32Array the product
 *     is rounded once to float32, so |g| never grows and the norm after
 *     clipping is at most maxNorm·total/(total + 1e−6) plus rounding. A second
 *     clip then multiplies by a coefficient within about 1e−6/maxNorm of 1
 *     (the 1e−6 in PyTorch's formula), not exactly 1.
 *   - non-finite total norm: `culprit` names the first tensor (key order)
 *     with a NaN/±Inf. With `errorIfNonfinite` a `NonFiniteGradientError`
 *     naming it is thrown before anything is modified. Without it, as in
 *     PyTorch, the coefficient is applied anyway: NaN norm → every gradient
 *     becomes NaN; Inf norm → coef 0, finite values become ±0 and ±Inf NaN.
 *   - maxNorm = Infinity only measures (coef 1); maxNorm = 0 zeroes the gradients.
 *   - empty record: totalNorm 0, coef 1.
 *
 * @param grads named gradients (Float32Array or Float64Array), modified in place
 * @param maxNorm the largest allowed total norm, ≥ 0
 * @example
 * const r = clipGradNorm({ w: new Float32Array([3, 4]) }, 1); // r.totalNorm = 5, w ≈ [0.6, 0.8]
 */
export function clipGradNorm(grads: GradientRecord, maxNorm: number, options?: ClipOptions): ClipResult {
  checkOptions('clipGradNorm', options, ['normType', 'errorIfNonfinite', 'foreach']);
  const entries = checkGradRecord('clipGradNorm', grads);
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm) || maxNorm < 0) {
    throw new ArgumentError(`clipGradNorm: 'maxNorm' must be a number ≥ 0 (Infinity to only measure), got ${String(maxNorm)}`);
  }
  const normType = options?.normType ?? 2;
  checkNormType('clipGradNorm', normType);
  const errorIfNonfinite = options?.errorIfNonfinite ?? false;
  if (typeof errorIfNonfinite !== 'boolean') throw new ArgumentError(`clipGradNorm: option 'errorIfNonfinite' must be a boolean, got ${JSON.stringify(errorIfNonfinite)}`);
  if (options?.foreach !== undefined && typeof options.foreach !== 'boolean') {
    throw new ArgumentError(`clipGradNorm: option 'foreach' must be a boolean, got ${JSON.stringify(options.foreach)}`);
  }

  const total = normOf(entries, normType);
  const result: ClipResult = { totalNorm: total, clipCoef: 1 };
  if (!Number.isFinite(total)) {
    const c = findNonFinite(entries);
    if (c) {
      result.culprit = c.tensor;
      result.culpritIndex = c.index;
    }
    if (errorIfNonfinite) {
      const where = c ? `first non-finite value in '${c.tensor}' at index ${c.index} (${entries.find(([n]) => n === c.tensor)![1][c.index]})` : 'every value is finite but the norm exceeds float64';
      throw new NonFiniteGradientError(
        `clipGradNorm: the total norm of order ${normType} of the gradients is ${total}, so they cannot be clipped; ${where}. Pass errorIfNonfinite: false to clip anyway (as PyTorch, that makes them NaN or 0).`,
        c?.tensor,
        c?.index,
      );
    }
  }
  // PyTorch: clip_coef = max_norm / (total_norm + 1e-6), clamped to at most 1 (NaN stays NaN)
  const coef = maxNorm / (total + CLIP_EPSILON);
  const clamped = coef > 1 ? 1 : coef;
  result.clipCoef = clamped;
  if (clamped !== 1) {
    for (const [, g] of entries) {
      for (let i = 0; i < g.length; i++) g[i] *= clamped;
    }
  }
  return result;
}
