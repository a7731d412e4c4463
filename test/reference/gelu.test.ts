import { describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import {
  erfcRef,
  erfRef,
  gelu,
  geluBackward,
  geluBackwardRef,
  geluRef,
  GELU_TAIL,
  MILLS_APPROX_REL,
  millsApprox64,
  normalCdfRef,
  normalTailScaledRef,
} from '../../src/kernels/gelu.js';
import { tensor } from '../../src/tensor.js';
import { checkGradient } from '../../src/testing/gradcheck.js';
import { generate, ORDINARY, Rng, widen } from '../../src/testing/values.js';

// ---------------------------------------------------------------------------
// An independent oracle: erf, Φ and e^{z²/2}·Φ(−z) in BigInt fixed point.
//
// Every float64 x is a rational m/2^s exactly, so the Maclaurin series
//   Σ_{n≥0} (−1)^n x^{2n+1} / (k^n·n!·(2n+1))
// (k = 1: erf·√π/2; k = 2: (Φ − ½)·√(2π)) can be summed with integer
// arithmetic at a scale of 2^P. Its terms grow to about e^{x²/k} before they
// fall, and erfc(x) is about e^{−x²}, so P = 1200 + 2.9·x²/k bits leaves
// more than 60 bits beyond both the cancellation and the smallest answer;
// each truncated division costs one unit, amplified at most e^{x²/k} times.
// π comes from Machin's formula, square roots from Newton's iteration on
// integers. Nothing here shares code or constants with the float64 version.
// ---------------------------------------------------------------------------

const pow2 = (k: number) => 1n << BigInt(k);

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = pow2(Math.ceil(n.toString(2).length / 2) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** π·2^P (Machin: π = 16·atan(1/5) − 4·atan(1/239)), with 40 guard bits. */
function piFixed(P: number): bigint {
  const one = pow2(P + 40);
  const atanInv = (k: bigint) => {
    let power = one / k;
    let sum = power;
    for (let n = 1n; power !== 0n; n++) {
      power /= k * k;
      const t = power / (2n * n + 1n);
      sum += n % 2n === 1n ? -t : t;
    }
    return sum;
  };
  return (16n * atanInv(5n) - 4n * atanInv(239n)) >> 40n;
}

/** x = m / 2^s exactly (m an integer below 2^53 in magnitude). */
function asRational(x: number): { m: bigint; s: number } {
  if (!Number.isFinite(x)) throw new Error(`asRational(${x})`);
  let s = 0;
  let y = x;
  // doubling is exact; 2 ** s itself would overflow for s > 1023
  while (!Number.isInteger(y)) {
    y *= 2;
    s++;
  }
  return { m: BigInt(y), s };
}

/** Σ (−1)^n |x|^{2n+1} / (k^n n! (2n+1)) at scale 2^P (|x| only; callers add the sign). */
function oddSeries(x: number, k: bigint, P: number): bigint {
  const { m, s } = asRational(Math.abs(x));
  const m2 = m * m;
  const shift = BigInt(2 * s);
  let T = (m << BigInt(P)) >> BigInt(s); // |x|·2^P
  let sum = T;
  for (let n = 1n; ; n++) {
    T = (T * m2) / ((k * n) << shift);
    if (T === 0n) break;
    const t = T / (2n * n + 1n);
    sum += n % 2n === 1n ? -t : t;
  }
  return sum;
}

/** exp(q)·2^P for q = |x|²/2 ≥ 0 by the positive series. */
function expHalfSquare(x: number, P: number): bigint {
  const { m, s } = asRational(Math.abs(x));
  const m2 = m * m;
  const shift = BigInt(2 * s + 1);
  let T = pow2(P);
  let sum = T;
  for (let n = 1n; T !== 0n; n++) {
    T = (T * m2) / (n << shift);
    sum += T;
  }
  return sum;
}

const precisionFor = (x: number, k: number) => 1200 + Math.ceil((2.9 * x * x) / k);

/** erf(x)·2^P and erfc(x)·2^P (both exact to well below an ULP of the result). */
function erfOracle(x: number): { erf: bigint; erfc: bigint; P: number } {
  const P = precisionFor(x, 1);
  const sqrtPi = isqrt(piFixed(P) << BigInt(P));
  let e = ((2n * oddSeries(x, 1n, P)) << BigInt(P)) / sqrtPi;
  if (x < 0) e = -e;
  return { erf: e, erfc: pow2(P) - e, P };
}

/** Φ(x)·2^P. */
function cdfOracle(x: number): { cdf: bigint; P: number } {
  const P = precisionFor(x, 2);
  const sqrt2Pi = isqrt((2n * piFixed(P)) << BigInt(P));
  let d = (oddSeries(x, 2n, P) << BigInt(P)) / sqrt2Pi;
  if (x < 0) d = -d;
  return { cdf: pow2(P - 1) + d, P };
}

/** Distance of a float64 from an exact value v·2^-P, in ULPs of the exact value. */
function ulpError(approx: number, v: bigint, P: number): number {
  const neg = v < 0n;
  const av = neg ? -v : v;
  if (av === 0n) return approx === 0 ? 0 : Infinity;
  if (Math.sign(approx) === (neg ? 1 : -1)) return Infinity;
  const { m, s } = asRational(Math.abs(approx));
  if (s > P) throw new Error(`oracle precision ${P} too low for ${approx}`);
  const a = m << BigInt(P - s);
  const exponent = av.toString(2).length - 1 - P; // floor(log2 |value|)
  const ulpBits = Math.max(exponent, -1022) - 52 + P;
  const diff = a > av ? a - av : av - a;
  return Number((diff << 20n) / pow2(ulpBits)) / 2 ** 20;
}

/** Test points: piece boundaries and their neighbours, a grid, seeded random points, the tails. */
function points(): number[] {
  const xs = [0, 5e-324, 1e-300, 1e-10, 0.1, 0.25, 0.4999999999999999, 0.5, 0.7, 1, 1.2499999999999998, 1.25, 1.5, 1.9999999999999998, 2, 2.5];
  xs.push(2.9999999999999996, 3, 3.5, 3.9999999999999996, 4, 4.5, 5, 6, 8, 10, 13, 17, 20, 25, 26.5, 27, 27.2);
  for (let k = 1; k <= 40; k++) xs.push(k * 0.1537);
  const rng = new Rng(20261204);
  for (let k = 0; k < 40; k++) xs.push(rng.uniform() * 27.2);
  return [...xs, ...xs.filter((v) => v > 0).map((v) => -v)];
}

describe('erf, erfc and Φ in float64 against a BigInt oracle', () => {
  test('erf within 2 ULPs and erfc within 4 ULPs over [−27.2, 27.2]', () => {
    let worstErf = 0;
    let worstErfc = 0;
    for (const x of points()) {
      const o = erfOracle(x);
      const ue = ulpError(erfRef(x), o.erf, o.P);
      const uc = ulpError(erfcRef(x), o.erfc, o.P);
      if (!(ue <= 2)) throw new Error(`erfRef(${x}) = ${erfRef(x)} is ${ue} ULPs from erf`);
      if (!(uc <= 4)) throw new Error(`erfcRef(${x}) = ${erfcRef(x)} is ${uc} ULPs from erfc`);
      worstErf = Math.max(worstErf, ue);
      worstErfc = Math.max(worstErfc, uc);
    }
    expect(worstErf).toBeLessThanOrEqual(2);
    expect(worstErfc).toBeLessThanOrEqual(4);
  });

  test('Φ within 5 ULPs over [−38, 8], relative accuracy kept in the lower tail', () => {
    const xs = [-38, -37, -30, -20, -14.5, -10, -6, -5.65, -4, -2.83, -1, -0.7, -0.5, -1e-8, 0, 1e-8, 0.5, 0.70710678, 1, 2, 4, 5.65, 8];
    const rng = new Rng(7);
    for (let k = 0; k < 40; k++) xs.push(-38 + 46 * rng.uniform());
    for (const x of xs) {
      const o = cdfOracle(x);
      const u = ulpError(normalCdfRef(x), o.cdf, o.P);
      if (!(u <= 5)) throw new Error(`normalCdfRef(${x}) = ${normalCdfRef(x)} is ${u} ULPs from Φ`);
    }
  });

  test('e^{z²/2}·Φ(−z) (the float32 sweep oracle) within 4 ULPs over [0, 15]', () => {
    const zs = [0, 1e-6, 0.3, 0.49084279, 0.7, 1, 1.4142135, 2, 2.8284271, 3, 5, 5.6568542, 8, 11, 14, 15];
    const rng = new Rng(11);
    for (let k = 0; k < 40; k++) zs.push(15 * rng.uniform());
    for (const z of zs) {
      const o = cdfOracle(-z);
      const P = o.P;
      const v = (o.cdf * expHalfSquare(z, P)) >> BigInt(P);
      const u = ulpError(normalTailScaledRef(z), v, P);
      if (!(u <= 4)) throw new Error(`normalTailScaledRef(${z}) = ${normalTailScaledRef(z)} is ${u} ULPs from e^{z²/2}Φ(−z)`);
    }
  });

  test('special values', () => {
    expect(erfRef(NaN)).toBeNaN();
    expect(erfcRef(NaN)).toBeNaN();
    expect(normalCdfRef(NaN)).toBeNaN();
    expect(Object.is(erfRef(-0), -0)).toBe(true);
    expect(erfRef(Infinity)).toBe(1);
    expect(erfRef(-Infinity)).toBe(-1);
    expect(erfcRef(Infinity)).toBe(0);
    expect(erfcRef(-Infinity)).toBe(2);
    expect(normalCdfRef(-Infinity)).toBe(0);
    expect(normalCdfRef(Infinity)).toBe(1);
    expect(normalCdfRef(0)).toBe(0.5);
  });

  test('the oracle itself: erf(1) and Φ(−1) match their published 30-digit values', () => {
    // erf(1) = 0.84270079294971486934122063508260…, Φ(−1) = 0.15865525393145705141476745436796… (mpmath, 40 digits), truncated to 30
    const o = erfOracle(1);
    expect(((o.erf * 10n ** 30n) >> BigInt(o.P)).toString()).toBe('842700792949714869341220635082');
    const c = cdfOracle(-1);
    expect(((c.cdf * 10n ** 30n) >> BigInt(c.P)).toString()).toBe('158655253931457051414767454367');
  });
});

describe('the float32 approximation N/D of e^{z²/2}·Φ(−z)', () => {
  test(`relative error ≤ MILLS_APPROX_REL (${MILLS_APPROX_REL}) over the float32 values of [0, ${GELU_TAIL}]`, () => {
    // every float32 bit pattern from +0 to 15, with a stride (1 = all 1.1e9 of them, ~70 s)
    const stride = Number(process.env.SK_GELU_SWEEP_STRIDE ?? 64);
    const f = new Float32Array(1);
    const bits = new Uint32Array(f.buffer);
    f[0] = GELU_TAIL;
    const top = bits[0];
    let worst = 0;
    let at = 0;
    for (let b = 0; b <= top; b += stride) {
      bits[0] = b;
      const z = f[0];
      const ref = normalTailScaledRef(z);
      const e = Math.abs(millsApprox64(z) - ref) / ref;
      if (e > worst) {
        worst = e;
        at = z;
      }
    }
    if (!(worst <= MILLS_APPROX_REL)) throw new Error(`N/D has relative error ${worst} at z = ${at}, above MILLS_APPROX_REL = ${MILLS_APPROX_REL}`);
    // the constant is not loose either: the fit's equioscillation peak is within 2% of it
    expect(worst).toBeGreaterThan(MILLS_APPROX_REL * 0.98);
  }, 180_000);
});

describe('gelu: FP64 backward passes agree with central finite differences', () => {
  for (const approximate of ['none', 'tanh'] as const) {
    for (const [n, scale] of [
      [1, 1],
      [9, 3],
      [64, 6],
    ] as const) {
      test(`${approximate}, n = ${n}, scale ${scale}`, () => {
        const x = widen(generate({ ...ORDINARY, seed: n * 31 + scale, scale }, 1, n));
        const w = widen(generate({ ...ORDINARY, seed: n * 31 + scale + 1 }, 1, n));
        // |d/dx gelu| ≤ 1.13 (erf) and 1.13 (tanh): scale 1.2 covers both
        checkGradient({ name: `gelu(${approximate})`, x, forward: (xx) => geluRef(xx, approximate), w, analytic: geluBackwardRef(w, x, approximate), scale: 1.2 });
      });
    }
  }

  test('the finite-difference check catches a wrong gradient', () => {
    const x = widen(generate({ ...ORDINARY, seed: 3, scale: 2 }, 1, 8));
    const w = widen(generate({ ...ORDINARY, seed: 4 }, 1, 8));
    // dgelu = Φ(x) only (the x·φ(x) term forgotten)
    const wrong = x.map((v, i) => w[i] * normalCdfRef(v));
    expect(() => checkGradient({ name: 'gelu', x, forward: (xx) => geluRef(xx), w, analytic: wrong })).toThrow(/gelu: gradient at/);
  });
});

describe('gelu: bad input', () => {
  test('errors name the argument, the option and the shapes', async () => {
    const d = await createDevice({ backend: 'reference' });
    await expect(gelu(d, tensor([1, 2], [2]), { approximate: 'erf' } as never)).rejects.toThrow(/gelu: option 'approximate' must be one of 'none', 'tanh', got "erf"/);
    await expect(gelu(d, tensor([1, 2], [2]), { approx: 'tanh' } as never)).rejects.toThrow(/gelu: unknown option 'approx'; known options are 'approximate'/);
    await expect(gelu(d, [1, 2] as never)).rejects.toThrow(/gelu: 'x' must be a Tensor/);
    await expect(gelu(d, tensor(new Int32Array([1]), [1]))).rejects.toThrow(/gelu: 'x' must be a float tensor, got int32/);
    await expect(geluBackward(d, tensor([1, 2, 3], [3]), tensor([1, 2], [2]))).rejects.toThrow(/geluBackward: 'dy' has shape \[3\] but 'x' has shape \[2\]; they must match/);
    await expect(geluBackward(d, tensor([1, 2], [2]), tensor([1, 2], [2]), { approximate: 'TANH' } as never)).rejects.toThrow(/geluBackward: option 'approximate' must be one of/);
  });

  test('the reference device follows the contract at the special values', async () => {
    const d = await createDevice({ backend: 'reference' });
    const y = await (await gelu(d, tensor(new Float64Array([NaN, Infinity, -Infinity, -1e30, 1e30]), [5]))).toArray();
    expect(y[0]).toBeNaN();
    expect(y.slice(1)).toEqual([Infinity, -0, -0, 1e30]);
    expect(Object.is(y[2], -0)).toBe(true);
    const dx = await (await geluBackward(d, tensor(new Float64Array([1, 1, 1]), [3]), tensor(new Float64Array([Infinity, -Infinity, 0]), [3]))).toArray();
    expect(dx).toEqual([1, 0, 0.5]);
  });
});
