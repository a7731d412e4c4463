/**
 * Float64 references for the special functions JavaScript's Math lacks: erf
 * and erfc. They are the oracle of the wasm backend's vectorised float32
 * versions (scripts/wasm/ulp-sweep.ts, test/wasm/vmath.test.ts) and of the
 * Remez fits that produced their coefficients (scripts/wasm/remez.ts).
 *
 * Accuracy: a few units of 2^-53 relative for erf everywhere and for erfc up to
 * x = 27 (where erfc underflows float64). That is ~10^8 times finer than the
 * float32 ULP it is used to measure.
 *
 * Algorithms (both converge fast and have no cancellation in their domain):
 *   |x| < 2.5:  erf(x) = (2/√π)·x·e^{−x²}·Σ_{n≥0} (2x²)^n / (1·3·5···(2n+1))
 *               (Abramowitz & Stegun 7.1.6). Every term is positive, so the sum
 *               is accurate to ~n·u; e^{−x²} adds 2x²·u from rounding x².
 *   |x| ≥ 2.5:  erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
 *               (A&S 7.1.14), evaluated bottom-up from depth 120, where its
 *               truncation error is below 2^-60 for x ≥ 2.5.
 *   erfc(x) for x < 2.5 is 1 − erf(x): erfc ≥ 4·10^-4 there, so the
 *   subtraction loses at most 12 bits of the 53.
 *
 * Special values: erf(±0) = ±0, erf(±Inf) = ±1, erfc(+Inf) = 0, erfc(−Inf) = 2,
 * NaN → NaN.
 */

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;
const SERIES_LIMIT = 2.5;
const CF_DEPTH = 120;

/** erf(x) for 0 ≤ x < 2.5 by the positive series. */
function erfSeries(x: number): number {
  const t = 2 * x * x;
  let term = 1;
  let sum = 1;
  for (let n = 0; n < 200; n++) {
    term *= t / (2 * n + 3);
    sum += term;
    if (term < sum * 1e-18) break;
  }
  return TWO_OVER_SQRT_PI * x * Math.exp(-x * x) * sum;
}

/** erfc(x) for x ≥ 2.5 by the continued fraction. */
function erfcFraction(x: number): number {
  let k = x;
  for (let n = CF_DEPTH; n >= 1; n--) k = x + n / 2 / k;
  return (Math.exp(-x * x) * ONE_OVER_SQRT_PI) / k;
}

/** erf(x) in float64. erf(±0) = ±0, erf(±Inf) = ±1, erf(NaN) = NaN. */
export function erf64(x: number): number {
  if (x !== x) return NaN;
  const a = Math.abs(x);
  if (a === 0) return x; // keeps the sign of zero
  const r = a < SERIES_LIMIT ? erfSeries(a) : 1 - erfcFraction(a);
  return x < 0 ? -r : r;
}

/** erfc(x) = 1 − erf(x) in float64, without cancellation for large x. erfc(+Inf) = 0, erfc(−Inf) = 2. */
export function erfc64(x: number): number {
  if (x !== x) return NaN;
  if (x === Infinity) return 0;
  if (x === -Infinity) return 2;
  if (x >= SERIES_LIMIT) return erfcFraction(x);
  if (x <= -SERIES_LIMIT) return 2 - erfcFraction(-x);
  return 1 - erf64(x);
}

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/**
 * Position of a float32 on the number line: consecutive floats differ by 1,
 * ±0 both map to 0, −x maps to −key(x). NaN has no position (returns NaN).
 */
export function f32Key(x: number): number {
  if (x !== x) return NaN;
  f32[0] = x;
  const b = i32[0];
  return b < 0 ? -(b & 0x7fffffff) : b;
}

/**
 * Distance in float32 ULPs between two float32 values (after rounding both to
 * float32): 0 for equal values (and for +0 vs −0), 1 for neighbours,
 * FLT_MAX to +Inf is 1. 0 when both are NaN, Infinity when only one is.
 */
export function ulpDistanceF32(a: number, b: number): number {
  const an = a !== a;
  const bn = b !== b;
  if (an || bn) return an && bn ? 0 : Infinity;
  return Math.abs(f32Key(a) - f32Key(b));
}

/** The float64 references of the vectorised float32 functions (each rounded once to float32 by the caller). */
export const MATH_REFERENCES = {
  exp: Math.exp,
  log: Math.log,
  tanh: Math.tanh,
  erf: erf64,
} as const;

export type MathFunctionName = keyof typeof MATH_REFERENCES;
