/**
 * Closeness checks with strict non-finite rules.
 *
 *   - An expected NaN matches only NaN.
 *   - An expected ±Inf matches only the same Inf.
 *   - An expected finite value beyond the float32 range (for float32 outputs)
 *     rounds to ±Inf, so only that Inf matches it.
 *   - An expected finite value needs a finite actual value within the allowed
 *     error: a NaN or Inf where the reference is finite is always a failure.
 *
 * Failures report the worst element: its index (and multi-index when a shape
 * is given), both values, the error, what was allowed and why.
 */

export const F32_MAX = 3.4028234663852886e38;
/** Values at or beyond this round to ±Inf in float32 (F32_MAX + half an ULP). */
const F32_OVERFLOW = 3.4028235677973366e38;
/** Relative errors are reported where the bound allows at most this relative error. */
const REL_MEANINGFUL = 2 ** -10;

export interface ElementReport {
  index: number;
  actual: number;
  expected: number;
  error: number;
  allowed: number;
}

export interface CompareResult {
  ok: boolean;
  /** Elements compared. */
  count: number;
  /** First element that breaks a rule (non-finite mismatch first, else the worst ratio). */
  failure?: ElementReport & { reason: string };
  /** Largest error/allowed over finite elements (0 when everything is exact). */
  maxRatio: number;
  /**
   * Largest |a − e|/|e| over the elements where the allowed error itself is
   * relative (allowed ≤ 2^-10·|e|): where the bound is absolute (results that
   * cancel to near zero), a relative error says nothing.
   */
  maxRel: number;
  /** Largest distance in float32 ULPs from fround(expected), over the same elements as maxRel. */
  maxUlp: number;
  worst?: ElementReport;
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** Maps a float32 to an integer so that adjacent floats differ by 1 (−0 and +0 both map to 0). */
function orderedF32(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0];
  return b & 0x80000000 ? -(b & 0x7fffffff) : b;
}

/** Distance in float32 ULPs between two float32 values (NaN → Infinity).
 *
 * @example
 * ulpDistanceF32(1, 1 + 2 ** -23); // 1
 */
export function ulpDistanceF32(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  return Math.abs(orderedF32(Math.fround(a)) - orderedF32(Math.fround(b)));
}

export interface CompareOptions {
  /** Output precision: float32 values beyond F32_MAX must be ±Inf. */
  float32?: boolean;
  /** Relative errors are reported only where |expected| ≥ relFloor (default 1e-30). */
  relFloor?: number;
}

/**
 * Compares `actual` with `expected` element by element against a per-element
 * allowed error (or a scalar for every element).
 *
 * @example
 * const r = compareWithAllowed(actual, expected, bound.allowed);
 * if (!r.ok) throw new Error(describeFailure('myKernel', r, [N, V], bound.note));
 */
export function compareWithAllowed(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  allowed: ArrayLike<number> | number,
  options: CompareOptions = {},
): CompareResult {
  const float32 = options.float32 ?? true;
  const relFloor = options.relFloor ?? 1e-30;
  if (actual.length !== expected.length) {
    return {
      ok: false,
      count: 0,
      maxRatio: Infinity,
      maxRel: Infinity,
      maxUlp: Infinity,
      failure: { index: -1, actual: actual.length, expected: expected.length, error: Infinity, allowed: 0, reason: `length ${actual.length} ≠ expected length ${expected.length}` },
    };
  }
  let maxRatio = 0;
  let maxRel = 0;
  let maxUlp = 0;
  let worst: ElementReport | undefined;
  let failure: (ElementReport & { reason: string }) | undefined;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    let e = expected[i];
    const tol = typeof allowed === 'number' ? allowed : allowed[i];
    if (float32 && Number.isFinite(e) && Math.abs(e) >= F32_OVERFLOW) e = e > 0 ? Infinity : -Infinity;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      const same = Number.isNaN(e) ? Number.isNaN(a) : a === e;
      if (!same && !failure) {
        failure = { index: i, actual: a, expected: expected[i], error: Infinity, allowed: 0, reason: `expected ${e} but got ${a}` };
      }
      continue;
    }
    if (!Number.isFinite(a)) {
      if (!failure) failure = { index: i, actual: a, expected: e, error: Infinity, allowed: tol, reason: `got ${a} where the reference is finite (${e})` };
      continue;
    }
    const err = Math.abs(a - e);
    const ratio = err === 0 ? 0 : tol > 0 ? err / tol : Infinity;
    if (ratio > maxRatio) {
      maxRatio = ratio;
      worst = { index: i, actual: a, expected: e, error: err, allowed: tol };
    }
    if (Math.abs(e) >= relFloor && tol <= REL_MEANINGFUL * Math.abs(e)) {
      maxRel = Math.max(maxRel, err / Math.abs(e));
      if (float32) maxUlp = Math.max(maxUlp, ulpDistanceF32(a, e));
    }
  }
  if (!failure && maxRatio > 1 && worst) failure = { ...worst, reason: 'error exceeds the bound' };
  return { ok: !failure, count: expected.length, failure, maxRatio, maxRel, maxUlp, worst };
}

/** Multi-index of a flat index in a row-major shape.
 *
 * @example
 * unravel(7, [2, 4]); // [1, 3]
 */
export function unravel(index: number, shape: readonly number[]): number[] {
  const idx: number[] = new Array(shape.length);
  let r = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = shape[d] === 0 ? 0 : r % shape[d];
    r = shape[d] === 0 ? 0 : Math.floor(r / shape[d]);
  }
  return idx;
}

/** Human-readable report of a failed comparison.
 *
 * @example
 * describeFailure('myKernel', compareWithAllowed([NaN], [1], 0)); // 'myKernel: got NaN where the reference is finite (1) at 0 …'
 */
export function describeFailure(what: string, result: CompareResult, shape?: readonly number[], note?: string): string {
  const f = result.failure;
  if (!f) return `${what}: ok`;
  const at = shape && f.index >= 0 ? `[${unravel(f.index, shape).join(', ')}] (flat ${f.index})` : `${f.index}`;
  const lines = [
    `${what}: ${f.reason} at ${at}`,
    `  actual   ${f.actual}`,
    `  expected ${f.expected}`,
    `  |error|  ${f.error}  allowed ${f.allowed}${Number.isFinite(f.error) && f.allowed > 0 ? `  (${(f.error / f.allowed).toPrecision(3)}× the bound)` : ''}`,
  ];
  if (note) lines.push(`  bound: ${note}`);
  return lines.join('\n');
}

/** Throws with a readable message unless every element is within atol + rtol·|expected|.
 *
 * @example
 * assertClose(mySoftmax(x), reference.softmaxRef(x, 1, 3), { rtol: 1e-6, atol: 1e-30, what: 'mySoftmax' });
 * // throws e.g. 'mySoftmax: error exceeds the bound at 2 …' with both values and the allowed error
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { atol?: number; rtol?: number; shape?: readonly number[]; what?: string; float32?: boolean },
): CompareResult {
  const atol = tol.atol ?? 0;
  const rtol = tol.rtol ?? 0;
  const allowed = new Float64Array(expected.length);
  for (let i = 0; i < expected.length; i++) allowed[i] = atol + rtol * Math.abs(expected[i]);
  const r = compareWithAllowed(actual, expected, allowed, { float32: tol.float32 ?? false });
  if (!r.ok) throw new Error(describeFailure(tol.what ?? 'assertClose', r, tol.shape, `atol ${atol} + rtol ${rtol}·|expected|`));
  return r;
}

/** Throws unless every element is within `maxUlps` float32 ULPs (NaN only matches NaN, Inf only the same Inf).
 *
 * @example
 * assertUlp(Float32Array.of(Math.fround(Math.PI)), [Math.PI], 0); // the correctly rounded value: 0 ULPs
 */
export function assertUlp(actual: ArrayLike<number>, expected: ArrayLike<number>, maxUlps: number, what = 'assertUlp'): number {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} ≠ expected length ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = Math.fround(expected[i]);
    if (Number.isNaN(e) || !Number.isFinite(e) || !Number.isFinite(a)) {
      const same = Number.isNaN(e) ? Number.isNaN(a) : a === e;
      if (!same) throw new Error(`${what}: at ${i} expected ${expected[i]} but got ${a}`);
      continue;
    }
    const d = ulpDistanceF32(a, e);
    if (d > maxUlps) throw new Error(`${what}: at ${i} actual ${a} is ${d} ULPs from expected ${expected[i]} (allowed ${maxUlps})`);
    worst = Math.max(worst, d);
  }
  return worst;
}

/** Bitwise equality of two arrays, NaN payloads included (for "inputs are not mutated").
 *
 * @example
 * sameBits(Float32Array.of(NaN), Float32Array.of(NaN)); // true (the same NaN pattern)
 */
export function sameBits(a: Float32Array | Float64Array | Int32Array, b: Float32Array | Float64Array | Int32Array): boolean {
  if (a.length !== b.length || a.constructor !== b.constructor) return false;
  const ua = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const ub = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}
