/**
 * fast-check arbitraries for tensors and logits with the library's
 * extreme-value mix. Each arbitrary yields a small description (shape and a
 * `ValueSpec`); `generate()` expands it, so counterexamples print compactly
 * and shrink towards small shapes and ordinary values.
 */
import fc from 'fast-check';
import { PROFILES, type Profile, type ValueSpec } from './values.js';

export interface SpecOptions {
  /** Profiles to draw from (default: all). */
  profiles?: readonly Profile[];
  /** Scales of ordinary values (default 1e-3, 1, 10, 100). */
  scales?: readonly number[];
  /** Allow NaN / ±Inf planting (default true). */
  specials?: boolean;
  /** Allow fully masked (all −Inf) rows (default false). */
  maskedRows?: boolean;
}

/** A ValueSpec: ordinary values most of the time, every extreme some of the time.
 *
 * @example
 * fc.sample(valueSpecArb({ profiles: ['normal', 'tiny'] }), 3); // three ValueSpecs
 */
export function valueSpecArb(o: SpecOptions = {}): fc.Arbitrary<ValueSpec> {
  const profiles = o.profiles ?? PROFILES;
  const scales = o.scales ?? [1e-3, 1, 10, 100];
  const p = (allowed: boolean | undefined) => (allowed === false ? fc.constant(0) : fc.constantFrom(0, 0, 0, 0.002, 0.05));
  return fc.record({
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    // the first entry is what shrinking moves towards
    profile: fc.constantFrom(...profiles),
    scale: fc.constantFrom(...scales),
    nan: p(o.specials),
    posInf: p(o.specials),
    negInf: p(o.specials),
    maskedRow: o.maskedRows ? fc.constantFrom(0, 0, 0.2) : fc.constant(0),
  });
}

/** Dimension sizes from 1 to `max`, biased towards small and odd sizes and chunk edges.
 *
 * @example
 * fc.sample(dimArb(4096), 5); // sizes like 1, 7, 256, 257, 4097 …
 */
export function dimArb(max: number): fc.Arbitrary<number> {
  const edges = [1, 2, 3, 7, 31, 64, 255, 256, 257, 1023, 1024, 1025, 2048, 4097].filter((d) => d <= max);
  return fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 1, max: Math.min(max, 16) }) },
    { weight: 2, arbitrary: fc.constantFrom(...edges) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max }) },
  );
}

export interface MatrixCase {
  N: number;
  L: number;
  spec: ValueSpec;
}

/** An (N, L) matrix description with N·L ≤ maxElements.
 *
 * @example
 * fc.assert(fc.property(matrixArb({ maxCols: 3000, maskedRows: true }), ({ N, L, spec }) => {
 *   const x = generate(spec, N, L); // … check a kernel on x (N, L)
 * }));
 */
export function matrixArb(o: { maxRows?: number; maxCols?: number; maxElements?: number } & SpecOptions = {}): fc.Arbitrary<MatrixCase> {
  const maxRows = o.maxRows ?? 64;
  const maxCols = o.maxCols ?? 3000;
  const maxElements = o.maxElements ?? 40_000;
  return fc
    .record({ N: dimArb(maxRows), L: dimArb(maxCols), spec: valueSpecArb(o) })
    .map(({ N, L, spec }) => ({ N: Math.max(1, Math.min(N, Math.floor(maxElements / L))), L, spec }));
}

/** Seed and run count for property checks: fixed in CI, `FUZZ_SEED`/`FUZZ_RUNS` for long fuzzing.
 *
 * @example
 * const { seed, numRuns } = propertyParams(25); // FUZZ_SEED / FUZZ_RUNS override the CI defaults
 */
export function propertyParams(defaultRuns: number): { seed: number; numRuns: number } {
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 20261204;
  const scale = process.env.FUZZ_RUNS !== undefined ? Number(process.env.FUZZ_RUNS) : undefined;
  return { seed, numRuns: scale !== undefined ? Math.max(1, Math.round(scale)) : defaultRuns };
}
