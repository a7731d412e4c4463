/**
 * Deterministic generation of float32 test data with the extreme-value mix
 * the suite uses: ordinary values, huge magnitudes (up to ±1e30 and float32
 * max), tiny and subnormal values, ties, exact zeros, ±Inf, NaN and fully
 * masked (all −Inf) rows.
 *
 * fast-check draws a small `ValueSpec` (a seed and a few knobs) and the data
 * is expanded from it with a PRNG: shrinking then works on shapes and knobs,
 * and arrays of thousands of elements cost nothing to describe.
 */

export { Rng } from '../random.js';
import { Rng } from '../random.js';

export const PROFILES = ['normal', 'wide', 'huge', 'tiny', 'ties', 'zeros'] as const;
export type Profile = (typeof PROFILES)[number];

export interface ValueSpec {
  seed: number;
  /** How finite values are distributed. */
  profile: Profile;
  /** Scale of the ordinary values (their standard deviation). */
  scale: number;
  /** Per-element probabilities of planting NaN, +Inf and −Inf. */
  nan: number;
  posInf: number;
  negInf: number;
  /** Probability that a whole row (last axis) is −Inf (a fully masked row). */
  maskedRow: number;
}

export const ORDINARY: Omit<ValueSpec, 'seed'> = { profile: 'normal', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 };

const F32_MAX = 3.4028234663852886e38;

/** One finite float32 value under a profile. */
function finiteValue(rng: Rng, profile: Profile, scale: number): number {
  switch (profile) {
    case 'normal':
      return rng.normal() * scale;
    case 'wide': {
      // log-uniform magnitude over 1e-30 … 1e30, random sign
      const mag = 10 ** (rng.uniform() * 60 - 30);
      return rng.uniform() < 0.5 ? -mag : mag;
    }
    case 'huge': {
      const r = rng.uniform();
      if (r < 0.1) return (rng.uniform() < 0.5 ? -1 : 1) * 1e30 * (1 + rng.uniform());
      if (r < 0.15) return (rng.uniform() < 0.5 ? -1 : 1) * F32_MAX * (0.5 + 0.5 * rng.uniform());
      return rng.normal() * scale;
    }
    case 'tiny': {
      const r = rng.uniform();
      // subnormals: k·2^-149 for k < 2^23; tiny normals near FLT_MIN; some ordinary
      if (r < 0.4) return (rng.uniform() < 0.5 ? -1 : 1) * rng.int(1, 2 ** 23 - 1) * 2 ** -149;
      if (r < 0.7) return (rng.uniform() < 0.5 ? -1 : 1) * 2 ** -126 * (1 + rng.uniform()) * 2 ** rng.int(0, 20);
      return rng.normal() * scale;
    }
    case 'ties':
      return rng.pick([-1, 0.5, 2, 2, 2]) * scale;
    case 'zeros': {
      const r = rng.uniform();
      if (r < 0.3) return 0;
      if (r < 0.5) return -0;
      return rng.normal() * scale;
    }
  }
}

/**
 * Fills a float32 array of `rows × rowLength` values from a spec. Values are
 * exactly representable in float32 (they are stored in a Float32Array).
 *
 * @example
 * const x = generate({ seed: 1, profile: 'huge', scale: 10, nan: 0.01, posInf: 0, negInf: 0.01, maskedRow: 0.1 }, 8, 256); // Float32Array (8·256)
 */
export function generate(spec: ValueSpec, rows: number, rowLength: number): Float32Array {
  const rng = new Rng(spec.seed);
  const out = new Float32Array(rows * rowLength);
  for (let r = 0; r < rows; r++) {
    const masked = spec.maskedRow > 0 && rng.uniform() < spec.maskedRow;
    for (let j = 0; j < rowLength; j++) {
      const i = r * rowLength + j;
      if (masked) {
        out[i] = -Infinity;
        continue;
      }
      const p = rng.uniform();
      if (p < spec.nan) out[i] = NaN;
      else if (p < spec.nan + spec.posInf) out[i] = Infinity;
      else if (p < spec.nan + spec.posInf + spec.negInf) out[i] = -Infinity;
      else out[i] = finiteValue(rng, spec.profile, spec.scale);
    }
  }
  return out;
}

/** The same values widened to float64 (exact).
 *
 * @example
 * const x64 = widen(x32); // exact float64 copy for the reference
 */
export function widen(x: Float32Array): Float64Array {
  return Float64Array.from(x);
}
