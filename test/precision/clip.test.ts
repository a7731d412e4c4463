// @vitest-environment node
/**
 * clipGradNorm / totalNorm: the 2-norm against a naive float64 reference on
 * well-scaled inputs and against exact BigInt arithmetic on extreme ones
 * (float32 max, the smallest float32 subnormal, float64 values where a naive
 * sum of squares overflows or underflows), the ∞-norm, the clipping rule,
 * never increasing the norm, (near-)idempotence, and culprit naming.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLIP_EPSILON, NonFiniteGradientError, clipGradNorm, totalNorm } from '../../src/precision/clip.js';
import type { GradientRecord } from '../../src/precision/loss-scaler.js';
import { fuzzParams, fuzzSeed, prng } from './support.js';

const U = 2 ** -53;

// ---------------------------------------------------------------------------
// Exact reference: Σ x² as a BigInt times 2^-2148, then an integer square root
// ---------------------------------------------------------------------------

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** |x| = m · 2^e exactly, with m a BigInt and e ≥ −1074. */
function decompose(x: number): { m: bigint; e: number } {
  f64[0] = Math.abs(x);
  const bits = u64[0];
  const field = Number(bits >> 52n);
  const frac = bits & ((1n << 52n) - 1n);
  return field === 0 ? { m: frac, e: -1074 } : { m: frac | (1n << 52n), e: field - 1075 };
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** The exact 2-norm of all values, rounded to float64 (to within 2^-60 relative before that rounding). */
function exactNorm(grads: GradientRecord): number {
  let S = 0n; // Σ x² · 2^2148
  for (const g of Object.values(grads)) {
    for (const x of g) {
      if (x === 0) continue;
      const { m, e } = decompose(x);
      S += (m * m) << BigInt(2 * e + 2148);
    }
  }
  if (S === 0n) return 0;
  // scale S to ~124 bits (an even shift), take the integer root (~62 bits)
  const L = S.toString(2).length;
  const k = Math.max(0, Math.ceil((L - 124) / 2)); // S ≈ S' · 2^(2k)
  const root = isqrt(S >> BigInt(2 * k)); // ≈ sqrt(S) · 2^-k
  // norm = root · 2^(k − 1074); below float64's normal range multiply in two steps
  const E = k - 1074;
  return E >= -1000 ? Number(root) * 2 ** E : Number(root) * 2 ** (E + 600) * 2 ** -600;
}

function naiveNorm(grads: GradientRecord): number {
  let s = 0;
  for (const g of Object.values(grads)) for (const x of g) s += x * x;
  return Math.sqrt(s);
}

const count = (g: GradientRecord) => Object.values(g).reduce((n, a) => n + a.length, 0);
/** Relative error allowed: the float64 sum of n terms (n−1)u, halved by the root, plus the root and final rounding. */
const tol = (g: GradientRecord) => ((count(g) - 1) / 2 + 3) * U;

function expectNear(got: number, want: number, rel: number): void {
  expect(Number.isFinite(got)).toBe(true);
  expect(Math.abs(got - want)).toBeLessThanOrEqual(rel * want);
}

describe('totalNorm (2-norm)', () => {
  it('equals the naive float64 sum of squares on well-scaled inputs', () => {
    const rand = prng(fuzzSeed());
    for (let trial = 0; trial < 50; trial++) {
      const g: GradientRecord = {
        a: new Float32Array(1 + Math.floor(rand() * 3000)).map(() => (rand() - 0.5) * 10),
        b: new Float64Array(1 + Math.floor(rand() * 300)).map(() => (rand() - 0.5) * 1e-3),
      };
      const n = totalNorm(g);
      expectNear(n, naiveNorm(g), 2 * tol(g));
      expectNear(n, exactNorm(g), tol(g));
    }
  });

  it('does not overflow near float32 max (3.4e38) and matches the exact norm', () => {
    const g = { w: new Float32Array(1000).fill(3.4028234663852886e38), v: new Float32Array([1, -3e38]) };
    const want = exactNorm(g);
    expect(want).toBeGreaterThan(1e40);
    expectNear(totalNorm(g), want, tol(g));
  });

  it('does not underflow near the smallest float32 subnormal (1.4e-45) and matches the exact norm', () => {
    const g = { w: new Float32Array(10).fill(1.401298464324817e-45), v: new Float32Array([2.8e-45, -4.2e-45]) };
    const want = exactNorm(g);
    expect(want).toBeGreaterThan(0);
    expectNear(totalNorm(g), want, tol(g));
    // a single subnormal: its norm is itself, exactly
    expect(totalNorm({ w: new Float32Array([-1.401298464324817e-45]) })).toBe(1.401298464324817e-45);
  });

  it('scales Float64Array inputs where a naive sum of squares overflows or underflows (Blue / dnrm2)', () => {
    const big = { w: new Float64Array([1e307, -1e307, 1e307, 1e307]) };
    expect(naiveNorm(big)).toBe(Infinity);
    expectNear(totalNorm(big), exactNorm(big), tol(big));
    expect(totalNorm(big)).toBeCloseTo(2e307, -300);
    const tiny = { w: new Float64Array([5e-324, 5e-324, -5e-324, 5e-324]) };
    expect(naiveNorm(tiny)).toBe(0);
    expect(totalNorm(tiny)).toBe(1e-323); // 2 · 2^-1074, exact
    const mixed = { a: new Float64Array([1e300, 1e-300, 3]), b: new Float32Array([3.4e38, 1e-45]), c: new Float64Array([1e-310, 2e-320]) };
    expectNear(totalNorm(mixed), exactNorm(mixed), tol(mixed));
    const smallAndMedium = { a: new Float64Array([1e-200, 3e-160, 1, 2]), b: new Float64Array([1e-170]) };
    expectNear(totalNorm(smallAndMedium), exactNorm(smallAndMedium), tol(smallAndMedium));
    const onlySmall = { a: new Float64Array([3e-200, 4e-200]) };
    expectNear(totalNorm(onlySmall), 5e-200, 4 * U);
  });

  it('matches the exact norm on random records spanning every exponent (fast-check)', () => {
    const exp32 = fc.integer({ min: -149, max: 127 });
    const exp64 = fc.integer({ min: -1074, max: 1000 });
    const value = (e: fc.Arbitrary<number>, f32: boolean) =>
      fc.tuple(fc.double({ min: 1, max: 2, noNaN: true }), e, fc.boolean()).map(([m, k, neg]) => {
        const v = f32 ? Math.fround(m * 2 ** k) : m * 2 ** k;
        return neg ? -v : v;
      });
    const rec = fc.record({
      a: fc.array(value(exp32, true), { maxLength: 40 }).map((xs) => Float32Array.from(xs)),
      b: fc.array(value(exp64, false), { maxLength: 40 }).map((xs) => Float64Array.from(xs)),
    });
    fc.assert(
      fc.property(rec, (g) => {
        const want = exactNorm(g);
        const got = totalNorm(g);
        if (!Number.isFinite(want)) return got === Infinity;
        // below 2^-1022 both are rounded to the subnormal grid: allow two of its steps
        return Math.abs(got - want) <= tol(g) * want + 2 * 2 ** -1074;
      }),
      fuzzParams(500),
    );
  });

  it('is 0 for an empty record, NaN with any NaN, Infinity with ±Inf', () => {
    expect(totalNorm({})).toBe(0);
    expect(totalNorm({ a: new Float32Array(0) })).toBe(0);
    expect(totalNorm({ a: new Float32Array([1, NaN]) })).toBeNaN();
    expect(totalNorm({ a: new Float64Array([1e300, NaN]) })).toBeNaN();
    expect(totalNorm({ a: new Float32Array([1, -Infinity]) })).toBe(Infinity);
    expect(totalNorm({ a: new Float64Array([1e-320, Infinity]) })).toBe(Infinity);
  });
});

describe('totalNorm (∞-norm)', () => {
  it('is the largest |value| over all tensors, NaN if any is NaN', () => {
    expect(totalNorm({ a: new Float32Array([1, -7, 3]), b: new Float64Array([6.5]) }, Infinity)).toBe(7);
    expect(totalNorm({ a: new Float32Array([1, -Infinity]) }, Infinity)).toBe(Infinity);
    expect(totalNorm({ a: new Float32Array([Infinity]), b: new Float32Array([NaN]) }, Infinity)).toBeNaN();
    expect(totalNorm({}, Infinity)).toBe(0);
  });
});

describe('clipGradNorm', () => {
  it('applies coef = maxNorm / (norm + 1e-6) when that is below 1, in place', () => {
    const w = new Float32Array([3, 4]);
    const grads = { w };
    const r = clipGradNorm(grads, 1);
    expect(r.totalNorm).toBe(5);
    expect(r.clipCoef).toBe(1 / (5 + CLIP_EPSILON));
    expect(grads.w).toBe(w); // the same array, modified
    expect(Array.from(w)).toEqual([Math.fround(3 * r.clipCoef), Math.fround(4 * r.clipCoef)]);
  });

  it('leaves gradients bit-for-bit untouched when norm + 1e-6 ≤ maxNorm', () => {
    const w = new Float32Array([3, 4, -0, 1e-45]);
    const bits = Array.from(new Uint32Array(w.buffer.slice(0)));
    const r = clipGradNorm({ w }, 5 + 1e-6);
    expect(r.clipCoef).toBe(1);
    expect(Array.from(new Uint32Array(w.buffer))).toEqual(bits);
  });

  it('never increases any |g| (hence the norm), and after clipping the norm is at most maxNorm (plus float32 rounding)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e300, max: 1e300 }), { maxLength: 20 }),
        fc.double({ min: 1e-3, max: 1e6, noNaN: true }),
        (a, b, maxNorm) => {
          const g = { a: Float32Array.from(a), b: Float64Array.from(b) };
          const before = { a: g.a.slice(), b: g.b.slice() };
          const r = clipGradNorm(g, maxNorm);
          for (const k of ['a', 'b'] as const) for (let i = 0; i < g[k].length; i++) if (!(Math.abs(g[k][i]) <= Math.abs(before[k][i]))) return false;
          const after = totalNorm(g);
          if (r.clipCoef < 1) return after <= maxNorm * (1 + 2 ** -23);
          return after === r.totalNorm;
        },
      ),
      fuzzParams(1000),
    );
  });

  it('is idempotent up to the 1e-6 in the formula: a second clip changes values by less than 1e-6/maxNorm relative', () => {
    const rand = prng(fuzzSeed() + 1);
    for (const maxNorm of [1e-3, 0.5, 1, 100]) {
      // norms of about 60·maxNorm, so the first clip really clips
      const g = { a: new Float32Array(500).map(() => (rand() - 0.5) * 10 * maxNorm), b: new Float64Array(50).map(() => rand() * 3 * maxNorm) };
      const first = clipGradNorm(g, maxNorm);
      expect(first.clipCoef).toBeLessThan(1);
      const once = { a: g.a.slice(), b: g.b.slice() };
      const second = clipGradNorm(g, maxNorm);
      // coef2 = c(N+ε)/(cN + ε(N+ε)) ≥ 1 − ε/c, with float32 rounding of the first clip on top
      const slack = CLIP_EPSILON / maxNorm + 4 * 2 ** -24;
      expect(second.clipCoef).toBeGreaterThanOrEqual(1 - slack);
      expect(second.clipCoef).toBeLessThanOrEqual(1);
      for (let i = 0; i < g.a.length; i++) expect(Math.abs(g.a[i] - once.a[i])).toBeLessThanOrEqual(slack * Math.abs(once.a[i]));
      // a third clip at the new norm + 1e-6 is exactly the identity
      const third = clipGradNorm(g, totalNorm(g) + 2 * CLIP_EPSILON);
      expect(third.clipCoef).toBe(1);
    }
  });

  it('clips by the ∞-norm', () => {
    const g = { a: new Float32Array([2, -8]), b: new Float64Array([4]) };
    const r = clipGradNorm(g, 2, { normType: Infinity });
    expect(r.totalNorm).toBe(8);
    expect(r.clipCoef).toBe(2 / (8 + 1e-6));
    expect(totalNorm(g, Infinity)).toBeLessThanOrEqual(2);
    expect(g.b[0]).toBe(4 * r.clipCoef);
  });

  it('names the first tensor holding a non-finite value, and applies the coefficient anyway as PyTorch does', () => {
    const g = { a: new Float32Array([1, 2]), b: new Float32Array([3, Infinity]), c: new Float64Array([NaN]) };
    const r = clipGradNorm(g, 1);
    expect(r.totalNorm).toBeNaN(); // NaN in c wins over Inf in b
    expect([r.culprit, r.culpritIndex]).toEqual(['b', 1]);
    expect(r.clipCoef).toBeNaN();
    expect(Array.from(g.a).every((v) => Number.isNaN(v))).toBe(true);
    const h = { a: new Float32Array([1, -2]), b: new Float64Array([Infinity]) };
    const s = clipGradNorm(h, 1);
    expect([s.totalNorm, s.clipCoef, s.culprit, s.culpritIndex]).toEqual([Infinity, 0, 'b', 0]);
    expect(Object.is(h.a[1], -0)).toBe(true);
    expect(h.b[0]).toBeNaN(); // Inf · 0
  });

  it('with errorIfNonfinite throws a NonFiniteGradientError naming the culprit before touching anything', () => {
    const g = { ok: new Float32Array([1, 2]), bad: new Float32Array([0, 0, NaN]) };
    let err: unknown;
    try {
      clipGradNorm(g, 1, { errorIfNonfinite: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NonFiniteGradientError);
    expect((err as NonFiniteGradientError).tensor).toBe('bad');
    expect((err as NonFiniteGradientError).index).toBe(2);
    expect((err as Error).message).toMatch(/non-finite value in 'bad' at index 2 \(NaN\)/);
    expect(Array.from(g.ok)).toEqual([1, 2]);
  });

  it('maxNorm = Infinity only measures; maxNorm = 0 zeroes; an empty record is a no-op', () => {
    const g = { a: new Float32Array([3, 4]) };
    expect(clipGradNorm(g, Infinity)).toEqual({ totalNorm: 5, clipCoef: 1 });
    expect(Array.from(g.a)).toEqual([3, 4]);
    expect(clipGradNorm(g, 0).clipCoef).toBe(0);
    expect(Array.from(g.a)).toEqual([0, 0]);
    expect(clipGradNorm({}, 1)).toEqual({ totalNorm: 0, clipCoef: 1 });
  });

  it('rejects bad arguments with messages naming them', () => {
    const g = { a: new Float32Array([1]) };
    expect(() => clipGradNorm(g, -1)).toThrow(/'maxNorm' must be a number ≥ 0/);
    expect(() => clipGradNorm(g, NaN)).toThrow(/'maxNorm'/);
    expect(() => clipGradNorm(g, 1, { normType: 1 })).toThrow(/'normType' must be 2 or Infinity, got 1/);
    expect(() => clipGradNorm(g, 1, { errorIfNonFinite: true } as never)).toThrow(/unknown option 'errorIfNonFinite'/);
    expect(() => clipGradNorm(g, 1, { foreach: 'yes' } as never)).toThrow(/'foreach' must be a boolean/);
    expect(() => clipGradNorm({ a: [1, 2] } as never, 1)).toThrow(/grads\['a'\] must be a Float32Array or Float64Array, got Array/);
    expect(() => clipGradNorm(new Float32Array(2) as never, 1)).toThrow(/'grads' must be a record/);
    expect(clipGradNorm(g, 1, { foreach: true }).totalNorm).toBe(1);
  });
});
