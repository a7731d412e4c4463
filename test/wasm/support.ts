/**
 * Helpers of the wasm backend's tests: one runtime per test file (two
 * threads, destroyed after the file), bound checks that print the worst
 * element, and value generators with outliers.
 */
import { afterAll } from 'vitest';
import { WasmRuntime } from '../../src/backends/wasm/runtime.js';
import { type Bound } from '../../src/kernels/bounds.js';
import { compareWithAllowed, describeFailure } from '../../src/testing/compare.js';
import { Rng } from '../../src/testing/values.js';

/**
 * A runtime with two threads for this test file, destroyed after the file.
 * Call it at the top level of the file (`const rt = await runtime();`), where
 * its afterAll hook belongs to the whole file. Its split thresholds are low,
 * so even small property cases run through the worker pool.
 */
export async function runtime(): Promise<WasmRuntime> {
  const rt = await WasmRuntime.create({ threads: 2, minFlopsPerThread: 1e5, minElementsPerThread: 1024 });
  afterAll(() => rt.destroy());
  return rt;
}

/**
 * Throws unless `actual` is within the bound of `ref` element by element
 * (NaN only matches NaN, ±Inf only the same Inf, a non-finite value where the
 * reference is finite always fails). Returns the largest error/allowed ratio.
 */
export function expectWithin(what: string, actual: Float32Array, ref: Float64Array, bound: Bound, shape?: readonly number[]): number {
  const r = compareWithAllowed(actual, ref, bound.allowed, { float32: true });
  if (!r.ok) throw new Error(describeFailure(what, r, shape, bound.note));
  return r.maxRatio;
}

/** Bitwise equality of two float32 arrays (NaN payloads included), with the first difference in the message. */
export function expectSameBits(what: string, a: Float32Array, b: Float32Array): void {
  if (a.length !== b.length) throw new Error(`${what}: lengths ${a.length} and ${b.length}`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ua[i] !== ub[i]) throw new Error(`${what}: element ${i} differs: ${a[i]} vs ${b[i]}`);
  }
}

/**
 * Values for matmul operands: mostly N(0, scale²), with outliers (±1e15 at
 * rate `outliers`), exact zeros and −0, and subnormals. Magnitudes stay below
 * 1e15 so products (≤ 1e30) and their sums stay in float32 range: the
 * float32-overflow cases are tested separately with exact expectations.
 */
export function matmulValues(seed: number, n: number, scale = 1, outliers = 0.01): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = rng.uniform();
    if (p < outliers) out[i] = (rng.uniform() < 0.5 ? -1 : 1) * 1e15 * (0.5 + rng.uniform());
    else if (p < outliers + 0.02) out[i] = rng.uniform() < 0.5 ? 0 : -0;
    else if (p < outliers + 0.03) out[i] = (rng.uniform() < 0.5 ? -1 : 1) * rng.int(1, 2 ** 23 - 1) * 2 ** -149;
    else out[i] = rng.normal() * scale;
  }
  return out;
}

/** A copy, for checking that a kernel left its inputs as they were. */
export function snapshot(...xs: (Float32Array | undefined)[]): (Float32Array | undefined)[] {
  return xs.map((x) => x?.slice());
}

export function expectUnchanged(what: string, before: (Float32Array | undefined)[], after: (Float32Array | undefined)[]): void {
  before.forEach((b, i) => {
    const a = after[i];
    if (b === undefined || a === undefined) return;
    expectSameBits(`${what}: input ${i} was modified`, a, b);
  });
}
