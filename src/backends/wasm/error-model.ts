/**
 * Error model of the wasm backend, in the vocabulary of src/kernels/bounds.ts,
 * so the shared per-kernel bounds (softmaxBound, …) apply to it unchanged.
 *
 * Where the numbers come from:
 *   - + − × / sqrt are wasm f32x4 / f32 opcodes: correctly rounded (u = 2^-24),
 *     no FMA, no flush of subnormals (V8 on x64 leaves MXCSR's FTZ/DAZ off).
 *   - exp, log, tanh, erf are asm/vmath.ts; their worst errors over all 2^32
 *     float32 inputs, measured by scripts/wasm/ulp-sweep.ts against float64
 *     references rounded once, are in docs/wasm-math-ulp.md and in the
 *     *_ULP constants below (test/wasm/vmath.test.ts re-checks them on a dense
 *     sweep). One ULP of a normal float32 y is at most 2u·|y|, so k ULP is a
 *     relative error of at most 2k·u.
 *   - Divisions by a row sum are a reciprocal and a product: 2 roundings.
 */
import { type ErrorModel, F32_MIN_SUBNORMAL, F32_U } from '../../kernels/bounds.js';

/** Worst ULP error of the vectorised functions over every float32 input (docs/wasm-math-ulp.md). */
export const EXP_ULP = 1;
export const LOG_ULP = 1;
export const TANH_ULP = 2;
export const ERF_ULP = 1;

const ulpRel = (k: number) => 2 * k * F32_U;

/** The wasm SIMD backend (asm/*.ts through src/backends/wasm/runtime.ts). */
export const WASM_SIMD_MODEL: ErrorModel = {
  name: 'wasm-simd-f32',
  u: F32_U,
  uStore: F32_U,
  expRel: () => ulpRel(EXP_ULP),
  logRel: ulpRel(LOG_ULP),
  // |log s| ≤ ln 2 for s ∈ [0.5, 2]: a relative error of 2k·u is at most 2k·u·ln 2 absolute
  logAbsNear1: ulpRel(LOG_ULP) * Math.LN2,
  divRel: 2 * F32_U,
  sqrtRel: F32_U,
  tiny: F32_MIN_SUBNORMAL,
};
