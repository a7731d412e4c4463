/**
 * Seeds, a deterministic PRNG and input generators for the precision tests.
 *
 * FUZZ_SEED (default fixed) and FUZZ_RUNS (default per test) control the
 * property checks and the generated sets, so CI is reproducible and a long
 * fuzzing run is one environment variable away.
 */
import { decode, encode } from '../../src/precision/round.js';
import type { FloatFormat } from '../../src/precision/formats.js';

export const DEFAULT_SEED = 20261204;

export function fuzzSeed(): number {
  const s = process.env.FUZZ_SEED;
  return s !== undefined && s !== '' ? Number(s) | 0 : DEFAULT_SEED;
}

/** fast-check parameters: the seed and `FUZZ_RUNS` (or the default) runs. */
export function fuzzParams(defaultRuns: number): { seed: number; numRuns: number } {
  const r = process.env.FUZZ_RUNS;
  return { seed: fuzzSeed(), numRuns: r !== undefined && r !== '' ? Math.max(1, Math.round(Number(r))) : defaultRuns };
}

/** Size of a generated set: `base`, scaled by FUZZ_RUNS/100 when FUZZ_RUNS is set. */
export function setSize(base: number): number {
  const r = process.env.FUZZ_RUNS;
  return r !== undefined && r !== '' ? Math.max(1000, Math.round((base * Number(r)) / 100)) : base;
}

/** mulberry32: a small, fast, seedable PRNG returning uniform floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
/** x moved by k units in the last place of float64 (k may be negative), staying on x's side of zero. */
export function ulpStep64(x: number, k: number): number {
  f64[0] = x;
  u64[0] = BigInt.asUintN(64, u64[0] + BigInt(k));
  return f64[0];
}

const f32 = new Float32Array(1);
const w32 = new Uint32Array(f32.buffer);
/** x (a float32 value) moved by k float32 ulps. */
export function ulpStep32(x: number, k: number): number {
  f32[0] = x;
  w32[0] = (w32[0] + k) >>> 0;
  return f32[0];
}

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)];
}

/** Boundary values of a format: max finite, overflow threshold, min normal, subnormal steps, ties at zero. */
export function boundaries(f: FloatFormat): number[] {
  const ulpMax = 2 ** (f.emax - f.manBits);
  return [
    f.maxFinite,
    f.maxFinite - ulpMax / 2,
    f.overflowThreshold,
    f.maxFinite + ulpMax,
    2 ** (f.emax + 1),
    f.minNormal,
    f.minNormal - f.minSubnormal,
    f.minNormal - f.minSubnormal / 2,
    f.minNormal + f.minSubnormal,
    f.minSubnormal,
    f.minSubnormal / 2,
    f.minSubnormal * 1.5,
    f.minSubnormal * 2.5,
    f.minSubnormal / 4,
    1,
    1 + f.epsilon / 2,
    1 - f.epsilon / 4,
  ];
}

/**
 * float64 inputs for rounding to `f`, weighted towards what goes wrong:
 *   40% near a midpoint between two consecutive values (exactly on it, a few
 *       float64 ulps off, or off by a tiny fraction of the gap),
 *   15% near a boundary (± a few float64 ulps),
 *   25% uniform significands over every binade from below minSubnormal to
 *       above the overflow threshold,
 *   10% in the subnormal range,
 *   10% anything: random float64 bit patterns (huge, tiny, NaN, ±Inf), ±0.
 * Random sign throughout.
 */
export function float64Cases(f: FloatFormat, n: number, rand: () => number): Float64Array {
  const out = new Float64Array(n);
  const bounds = boundaries(f);
  for (let i = 0; i < n; i++) {
    const u = rand();
    let x: number;
    if (u < 0.4) {
      // two neighbours lo < hi = lo + ulp, built from a random binade and significand (no encode/decode:
      // independent of the library, and usable for formats wider than 32 bits); 15% in the subnormal range
      const sub = rand() < 0.15;
      const e = sub ? f.emin : f.emin + Math.floor(rand() * (f.emax - f.emin + 1));
      const ulp = 2 ** (e - f.manBits);
      const k = (sub ? 0 : 2 ** f.manBits) + Math.floor(rand() * 2 ** f.manBits);
      const lo = Math.min(k * ulp, f.maxFinite); // the gap above max is included
      const hi = lo + ulp;
      const m = (lo + hi) / 2;
      const v = rand();
      if (v < 0.3) x = m;
      else if (v < 0.7) x = ulpStep64(m, Math.floor(rand() * 7) - 3);
      else x = m + (hi - lo) * (rand() - 0.5) * 2 ** -Math.floor(rand() * 40);
    } else if (u < 0.55) {
      x = ulpStep64(pick(rand, bounds), Math.floor(rand() * 9) - 4);
    } else if (u < 0.8) {
      const e = f.emin - f.manBits - 3 + Math.floor(rand() * (f.emax - f.emin + f.manBits + 6));
      x = 2 ** e * (1 + rand());
    } else if (u < 0.9) {
      x = f.minNormal * rand();
    } else {
      const v = rand();
      if (v < 0.05) x = pick(rand, [NaN, Infinity, 0, 5e-324, 1.7976931348623157e308]);
      else {
        f64[0] = 0;
        const w = new Uint32Array(f64.buffer);
        w[0] = (rand() * 2 ** 32) >>> 0;
        w[1] = (rand() * 2 ** 32) >>> 0;
        x = Math.abs(f64[0]);
      }
    }
    out[i] = rand() < 0.5 ? -x : x;
  }
  return out;
}

/**
 * float32 inputs (what a gpu.js kernel sees) for rounding to float16,
 * bfloat16 and float8: exact midpoints of each format (representable in
 * float32) and their float32 neighbours, format boundaries, float32
 * subnormals, float32 max, and random finite float32 words of every exponent.
 */
export function float32Cases(formats: FloatFormat[], n: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  const words = new Uint32Array(out.buffer);
  let i = 0;
  const push = (x: number) => {
    if (i < n) out[i++] = x;
  };
  const specials = [0, -0, 1.401298464324817e-45, 1.1754943508222875e-38, 1.1754942106924411e-38, 3.4028234663852886e38, -3.4028234663852886e38, 3.4028232635611926e38];
  for (const s of specials) push(s);
  for (const f of formats) {
    for (const b of boundaries(f)) {
      const x = Math.fround(b);
      if (!Number.isFinite(x)) continue;
      for (let k = -3; k <= 3; k++) {
        push(ulpStep32(x, k));
        push(-ulpStep32(x, k));
      }
    }
  }
  const perFormat = Math.floor((n * 0.6) / formats.length);
  for (const f of formats) {
    const maxPattern = encode(f, f.maxFinite);
    for (let j = 0; j < perFormat && i < n; j++) {
      const b = Math.floor(rand() * (maxPattern + 1));
      const lo = decode(f, b);
      const hi = b === maxPattern ? f.maxFinite + 2 ** (f.emax - f.manBits) : decode(f, b + 1);
      const m = Math.fround((lo + hi) / 2); // exact: one bit more than the format, within float32
      const k = j % 3 === 0 ? 0 : Math.floor(rand() * 5) - 2;
      const x = ulpStep32(m, k);
      push(rand() < 0.5 ? -x : x);
    }
  }
  // float32 subnormals, then random finite words of every exponent
  for (let j = 0; j < n / 20 && i < n; j++) {
    const w = (Math.floor(rand() * 0x800000) | (rand() < 0.5 ? 0x80000000 : 0)) >>> 0;
    words[i++] = w;
  }
  while (i < n) {
    const w = (rand() * 2 ** 32) >>> 0;
    if ((w & 0x7f800000) === 0x7f800000) continue; // keep inputs finite
    words[i++] = w;
  }
  return out;
}

/**
 * Reference rounding with exact integer arithmetic (BigInt), written
 * independently of the library: x = m·2^e exactly (m the 53-bit integer
 * significand), the quantum is 2^(max(⌊log2|x|⌋, emin) − M), and
 * n = m·2^(e − qe) is rounded half-to-even by comparing the dropped
 * remainder with half a unit.
 */
export function refRound(f: FloatFormat, x: number, saturate = f.saturate): number {
  if (x !== x) return NaN;
  const overflow = (neg: boolean) => {
    const v = saturate ? f.maxFinite : f.hasInf ? Infinity : NaN;
    return neg ? -v : v;
  };
  if (x === 0) return x;
  const neg = x < 0;
  if (!Number.isFinite(x)) return overflow(neg);
  f64[0] = Math.abs(x);
  const bits = u64[0];
  const field = Number(bits >> 52n);
  const frac = bits & ((1n << 52n) - 1n);
  const m = field === 0 ? frac : frac | (1n << 52n);
  const e = field === 0 ? -1074 : field - 1075;
  const log2 = m.toString(2).length - 1 + e;
  const qe = Math.max(log2, f.emin) - f.manBits;
  const shift = e - qe;
  let n: bigint;
  if (shift >= 0) n = m << BigInt(shift);
  else {
    const d = BigInt(-shift);
    n = m >> d;
    const rem = m - (n << d);
    const halfUnit = 1n << (d - 1n);
    if (rem > halfUnit || (rem === halfUnit && (n & 1n) === 1n)) n += 1n;
  }
  const value = Number(n) * 2 ** qe;
  if (value > f.maxFinite) return overflow(neg);
  return neg ? -value : value;
}
