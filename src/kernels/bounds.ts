/**
 * Error models of the backends, and the vocabulary every kernel's bound is
 * written in.
 *
 * A kernel's bound is a function of the inputs that returns, per output
 * element, the largest |computed − exact| the kernel is allowed. Each kernel
 * file derives its own bound in a comment beside the function, from the
 * algorithm its implementations run and from the error model of the backend:
 *
 *   u          unit roundoff of + − × in the working precision (2^-24 in float32),
 *   γ(n)       n·u/(1 − n·u), the classic bound for n rounded operations in a chain
 *              (Higham, Accuracy and Stability of Numerical Algorithms, §3.1),
 *   exp, log, division, sqrt: the accuracy each backend promises.
 *
 * Where the promises come from:
 *   - webgpu: the WGSL spec, §"Floating Point Accuracy": + − × correctly rounded,
 *     x/y within 2.5 ULP, exp within 3 + 2·|x| ULP, log within 3 ULP outside
 *     [0.5, 2] and 2^-21 absolute inside, inverseSqrt 2 ULP, sqrt inherited from
 *     1/inverseSqrt (4.5 ULP); implementations may flush subnormals to zero.
 *   - headlessgl: GLSL ES 3.00 §4.5.1 gives the same figures; Mesa and ANGLE
 *     flush subnormals (measured: 1e-45 · 1 = 0 there).
 *   - webasm: gpu.js computes + − × / sqrt as wasm f32 opcodes (correctly
 *     rounded) and calls JavaScript's Math.exp/Math.log in float64 for the
 *     rest, demoting the result to float32: within 1 ULP.
 *   - cpu: gpu.js runs the kernel as JavaScript, so everything is float64 and
 *     only the stored output is rounded to float32.
 *   - reference: float64 throughout (u = 2^-53).
 * One ULP of a float32 x is at most 2u·|x| for normal x, so k ULP ≤ 2k·u relative.
 */

export interface ErrorModel {
  name: string;
  /** Unit roundoff of the arithmetic (+ − × and sums). */
  u: number;
  /** Unit roundoff of stored outputs and intermediates written to memory. */
  uStore: number;
  /** Relative error of exp(x) at argument x. */
  expRel(x: number): number;
  /** Relative error of log(x) away from 1, and its absolute error for x in [0.5, 2]. */
  logRel: number;
  logAbsNear1: number;
  /** Relative error of a division. */
  divRel: number;
  /** Relative error of sqrt and of 1/sqrt. */
  sqrtRel: number;
  /** Magnitudes below this may be flushed to zero (FLT_MIN where subnormals flush, else the smallest subnormal). */
  tiny: number;
  /**
   * Roundings one product passes through in the backend's dot products of
   * length K (its matmul's summation order). Absent: the gpu.js kernel's
   * (`matmulDepth` in matmul.ts).
   */
  dotDepth?: (K: number) => number;
  /** Roundings one term passes through in the backend's column sums of M rows. Absent: the chunked `sumDepth`. */
  colSumDepth?: (M: number) => number;
}

export const F32_EPS = 2 ** -23;
export const F32_U = 2 ** -24;
export const F32_MAX = 3.4028234663852886e38;
export const F32_MIN_NORMAL = 2 ** -126;
export const F32_MIN_SUBNORMAL = 2 ** -149;
export const F64_U = 2 ** -53;

const ulp = (k: number) => 2 * k * F32_U;

/** WGSL / GLSL ES specification accuracy (webgpu, headlessgl). */
export const GPU_SPEC_MODEL: ErrorModel = {
  name: 'gpu-spec',
  u: F32_U,
  uStore: F32_U,
  expRel: (x) => ulp(3 + 2 * Math.abs(x)),
  logRel: ulp(3),
  logAbsNear1: 2 ** -21,
  divRel: ulp(2.5),
  sqrtRel: ulp(4.5),
  tiny: F32_MIN_NORMAL,
};

/** gpu.js webasm: f32 opcodes, transcendental functions through float64 JavaScript. */
export const WASM_MODEL: ErrorModel = {
  name: 'wasm-f32',
  u: F32_U,
  uStore: F32_U,
  expRel: () => ulp(1),
  logRel: ulp(1),
  logAbsNear1: ulp(1),
  divRel: F32_U,
  sqrtRel: F32_U,
  tiny: F32_MIN_SUBNORMAL,
};

/** gpu.js cpu: float64 JavaScript, outputs stored as float32. */
export const JS_MODEL: ErrorModel = {
  name: 'js-f64-store-f32',
  u: F64_U,
  uStore: F32_U,
  expRel: () => 2 * F64_U,
  logRel: 2 * F64_U,
  logAbsNear1: 2 * F64_U,
  divRel: F64_U,
  sqrtRel: F64_U,
  tiny: F32_MIN_SUBNORMAL,
};

/** The FP64 reference itself (used when a kernel is checked against finite differences). */
export const F64_MODEL: ErrorModel = {
  name: 'f64',
  u: F64_U,
  uStore: F64_U,
  expRel: () => 2 * F64_U,
  logRel: 2 * F64_U,
  logAbsNear1: 2 * F64_U,
  divRel: F64_U,
  sqrtRel: F64_U,
  tiny: 2 ** -1074,
};

const registeredModels = new Map<string, ErrorModel>();

/** Declares the error model of a backend (the wasm backend registers its own).
 *
 * @example
 * registerErrorModel('my-backend', { ...WASM_MODEL, name: 'my-backend', expRel: () => 8 * 2 ** -24 });
 */
export function registerErrorModel(backend: string, model: ErrorModel): void {
  registeredModels.set(backend, model);
}

/**
 * The error model the bounds use for a backend: a registered one, else the built-in model of the gpu.js mode or the reference.
 *
 * @example
 * const M = errorModelFor('webgpu'); // the WGSL accuracy: M.expRel(x) = (3 + 2|x|) ULP
 */
export function errorModelFor(backend: string): ErrorModel {
  const registered = registeredModels.get(backend);
  if (registered) return registered;
  switch (backend) {
    case 'webgpu':
    case 'headlessgl':
      return GPU_SPEC_MODEL;
    case 'webasm':
      return WASM_MODEL;
    case 'cpu':
      return JS_MODEL;
    case 'reference':
      return F64_MODEL;
    default:
      // an unknown (user-registered) backend is held to the loosest float32 promise
      return GPU_SPEC_MODEL;
  }
}

/** γ(n) = n·u / (1 − n·u): relative error bound of n chained roundings.
 *
 * @example
 * gamma(255, 2 ** -24); // ≈ 1.52e-5: the relative error bound of a 256-term float32 sum
 */
export function gamma(n: number, u: number): number {
  const nu = n * u;
  if (nu >= 1) return Infinity;
  return nu / (1 - nu);
}

/**
 * Row reductions in the gpu.js kernels sum a row of length L in chunks of
 * `ROW_CHUNK` (each thread sums one chunk), then sum the chunk partials. An
 * element passes through at most (chunk − 1) + (chunks − 1) additions.
 */
export const ROW_CHUNK = 256;

/**
 * The most additions any term goes through in the gpu.js chunked row sum of L terms (chunks of ROW_CHUNK, then the chunk partials).
 *
 * @example
 * sumDepth(4096); // 255 + 15 = 270 additions along any term's path
 */
export function sumDepth(L: number): number {
  if (L <= 1) return 0;
  const chunk = Math.min(L, ROW_CHUNK);
  const chunks = Math.ceil(L / ROW_CHUNK);
  return chunk - 1 + (chunks - 1);
}

/**
 * The bounds sum first-order error terms (each a relative error below 1e-2);
 * the products of two or more of them are covered by this factor:
 * (1 + a)(1 + b) − 1 = a + b + ab ≤ (a + b)·1.01 when a, b < 1e-2.
 */
export const SECOND_ORDER = 1.01;

/**
 * Absolute error of an **input** value v on a backend that flushes subnormals
 * (tiny = FLT_MIN): it may read v as 0, an error of |v|. Zero on backends that
 * keep subnormals (their inputs are read exactly).
 *
 * @example
 * flushAbs(GPU_SPEC_MODEL, 1e-39); // 1e-39: GL may read it as 0
 * flushAbs(WASM_MODEL, 1e-39);     // 0
 */
export function flushAbs(M: ErrorModel, v: number): number {
  const a = Math.abs(v);
  return M.tiny >= F32_MIN_NORMAL && a < F32_MIN_NORMAL ? a : 0;
}

/**
 * Absolute error of a float32 **intermediate** whose exact magnitude |v| is
 * below FLT_MIN. Relative error models (u, expRel) stop holding there: a
 * backend that flushes may make it 0 (error |v|); one that keeps subnormals
 * rounds it to the subnormal grid of spacing 2^-149 (round-to-nearest gives
 * half of that; an exp that scales by 2^k in two steps rounds twice, so one
 * full spacing). Zero where the arithmetic is wider than float32 (u < 2^-24):
 * the value is normal there.
 *
 * Found by the benchmark's outlier inputs: p = exp(y) ≈ 1e-38 times an
 * upstream sum |S| ≈ 1e3 in logSoftmax backward (bench/NOTES.md).
 *
 * @example
 * lowRangeAbs(GPU_SPEC_MODEL, 1e-39); // 1e-39 + 2^-149
 * lowRangeAbs(WASM_MODEL, 1e-39);     // 2^-149
 * lowRangeAbs(JS_MODEL, 1e-39);       // 0
 */
export function lowRangeAbs(M: ErrorModel, v: number): number {
  const a = Math.abs(v);
  if (M.u < F32_U || !(a < F32_MIN_NORMAL)) return 0;
  return (M.tiny >= F32_MIN_NORMAL ? a : 0) + F32_MIN_SUBNORMAL;
}

/** An allowed error per output element, plus how it was obtained (for reports). */
export interface Bound {
  /** allowed |computed − exact| for each element (same length as the output). */
  allowed: Float64Array;
  /** One-line summary of the derivation, printed with failures. */
  note: string;
}

/** Bound of the form atol + rtol·|r_i| over a reference array.
 *
 * @example
 * const b = relBound(ref, 1e-6, 1e-30, 'my tolerance'); // allowed[i] = 1e-30 + 1e-6·|ref[i]|
 */
export function relBound(ref: ArrayLike<number>, rtol: number, atol: number, note: string): Bound {
  const allowed = new Float64Array(ref.length);
  for (let i = 0; i < ref.length; i++) allowed[i] = atol + rtol * Math.abs(ref[i]);
  return { allowed, note };
}
