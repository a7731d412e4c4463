/**
 * Integer arithmetic for gpu.js kernels, which compute in float32.
 *
 * `Math.floor(i / n)` is how a kernel finds the row of a flat index, but
 * WGSL and GLSL allow division to be off by 2.5 ULP, and at an exact
 * multiple (i = r·n) a quotient of r·(1 − 2^-23) floors to r − 1: the first
 * element of every row would read the previous row's statistics. `idiv`
 * corrects the floored quotient with exact float products (every value here
 * is an integer below 2^24, so products and comparisons are exact), and
 * `imod` derives the remainder from it instead of using `%` (float fmod,
 * which divides too).
 */

/** floor(a / b) for integers 0 ≤ a < 2^24, 0 < b < 2^24, exact even with an inexact division. */
export function idiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) {
    q = q - 1;
  }
  if ((q + 1) * b <= a) {
    q = q + 1;
  }
  return q;
}

/** a mod b for the same integers, from `idiv`. */
export function imod(a: number, b: number): number {
  return a - idiv(a, b) * b;
}

/** The helper functions to pass as a kernel spec's `functions`. */
export const INDEX_FUNCTIONS = [idiv, imod];
