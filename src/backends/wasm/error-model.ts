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
 *   - The softmax-family and cross-entropy row kernels use `exp4ftz`, which
 *     returns 0 for results below FLT_MIN (XNNPACK's threshold; it keeps them
 *     off x86's slow subnormal path: softmax (1024, 4096) on rows with a logit
 *     90 above the rest went from 21.5 ms to 9.4 ms on one thread). So `tiny`,
 *     the magnitude below which a value may become 0, is FLT_MIN here as on
 *     the GL backends; the other kernels keep subnormals, for which FLT_MIN is
 *     only looser.
 */
import { type ErrorModel, F32_MIN_NORMAL, F32_U } from '../../kernels/bounds.js';

/** Worst ULP error of the vectorised functions over every float32 input (docs/wasm-math-ulp.md). */
export const EXP_ULP = 1;
export const LOG_ULP = 1;
export const TANH_ULP = 1;
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
  tiny: F32_MIN_NORMAL,
};

/** asm/gemm.ts's K block. */
export const GEMM_KC = 256;

/**
 * Roundings a product a_ik·b_kj passes through in asm/gemm.ts for an inner
 * size K: the product (1); the additions into its register accumulator within
 * its K block (at most min(K, KC) − 1: the first addition to 0 is exact); one
 * addition per later block into C (⌈K/KC⌉ − 1); and the bias add (1). The dot
 * product analysis (Higham §3.1) then gives
 *   |ĉ_ij − c_ij| ≤ γ(depth)·(Σ_k |a_ik·b_kj| + |bias_j|)
 * with no further rounding: C is float32 and written once per block.
 * This differs from the gpu.js kernels' ⌈K/4⌉ + 2 (src/kernels/matmul.ts,
 * `matmulDepth`): smaller for K > ~340, larger for small K.
 */
export function wasmGemmDepth(K: number, bias: boolean): number {
  if (K <= 0) return bias ? 1 : 0;
  return Math.min(K, GEMM_KC) + Math.ceil(K / GEMM_KC) - 1 + (bias ? 1 : 0);
}

/**
 * Roundings of the column sum of asm/gemm.ts's `colsum` over M rows: each
 * term passes through at most M − 1 additions (summed in row order from 0).
 */
export function wasmColsumDepth(M: number): number {
  return Math.max(0, M - 1);
}
