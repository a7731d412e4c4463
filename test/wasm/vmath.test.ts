/**
 * The vectorised float32 math of asm/vmath.ts through WasmRuntime.exp/log/tanh/erf:
 *   - a dense deterministic sweep (every 4099th of the 2^32 bit patterns, so
 *     every exponent and both signs are visited) holds each function to the
 *     ULP bound the exhaustive sweep measured (docs/wasm-math-ulp.md, the
 *     *_ULP constants of src/backends/wasm/error-model.ts), with NaN exactly
 *     where the reference is NaN;
 *   - each special value of the doc comments, exactly (±0 distinguished);
 *   - arrays of every length mod 4 (the vector tails) and the threaded split
 *     give the same bits as single elements on one thread, inputs untouched.
 */
import { describe, expect, it } from 'vitest';
import { ERF_ULP, EXP_ULP, LOG_ULP, TANH_ULP } from '../../src/backends/wasm/error-model.js';
import { MATH_REFERENCES, type MathFunctionName, erf64, ulpDistanceF32 } from '../../src/backends/wasm/math64.js';
import { expectSameBits, runtime } from './support.js';

const rt = await runtime();
const BOUND: Record<MathFunctionName, number> = { exp: EXP_ULP, log: LOG_ULP, tanh: TANH_ULP, erf: ERF_ULP };
const FUNCS = Object.keys(BOUND) as MathFunctionName[];
const STRIDE = 4099;

const bits = (u: number) => new Float32Array(new Uint32Array([u]).buffer)[0];
const MIN_SUB = 2 ** -149;
const F32_MAX = 3.4028234663852886e38;

/** Values every function is checked on besides the sweep: zeros, extremes, thresholds, neighbours of 1. */
const SPECIALS = [
  0, -0, Infinity, -Infinity, NaN, MIN_SUB, -MIN_SUB, 2 ** -126, -(2 ** -126), F32_MAX, -F32_MAX, 1, -1,
  bits(0x3f7fffff), bits(0x3f800001), 0.5, 2, 88.72283172607422, 88.72283935546875, 88.73, -87.33654, -103.97207641601562,
  -103.97208404541016, -104, 0.625, bits(0x3f200001), 1, bits(0x3f800001), 3.9174463748931885, 3.919205904006958, 3.9375, 4, 9.010913848876953, 10, -10,
];

describe('wasm vectorised math: dense sweep against float64 references', () => {
  const n = Math.floor(2 ** 32 / STRIDE);
  const x = new Float32Array(n + SPECIALS.length);
  const u = new Uint32Array(x.buffer);
  for (let i = 0; i < n; i++) u[i] = (i * STRIDE) >>> 0;
  x.set(SPECIALS, n);

  for (const f of FUNCS) {
    it(`${f}: within ${BOUND[f]} ULP of the correctly rounded value on ${x.length} inputs, NaN only where the reference is NaN`, () => {
      const y = rt[f](x);
      const ref = MATH_REFERENCES[f];
      let worst = 0;
      let worstAt = 0;
      for (let i = 0; i < x.length; i++) {
        const r = Math.fround(ref(x[i]));
        const d = ulpDistanceF32(y[i], r);
        if (d > worst) {
          worst = d;
          worstAt = x[i];
        }
      }
      expect(worst, `${f}: worst ${worst} ULP at x = ${worstAt} (y = ${rt[f](new Float32Array([worstAt]))[0]}, reference ${ref(worstAt)})`).toBeLessThanOrEqual(BOUND[f]);
    });
  }
});

describe('wasm vectorised math: special values', () => {
  const one = (f: MathFunctionName, v: number) => rt[f](new Float32Array([v]))[0];

  it('exp: ±0 → 1, +Inf → +Inf, −Inf → +0, NaN → NaN', () => {
    expect(one('exp', 0)).toBe(1);
    expect(one('exp', -0)).toBe(1);
    expect(one('exp', Infinity)).toBe(Infinity);
    expect(Object.is(one('exp', -Infinity), 0)).toBe(true);
    expect(one('exp', NaN)).toBeNaN();
  });

  it('exp: overflow threshold: finite at 88.72283172607422 (0x42b17217), +Inf from 88.72283935546875 (0x42b17218)', () => {
    const below = one('exp', bits(0x42b17217));
    expect(Number.isFinite(below)).toBe(true);
    expect(ulpDistanceF32(below, Math.fround(Math.exp(bits(0x42b17217))))).toBeLessThanOrEqual(EXP_ULP);
    expect(one('exp', bits(0x42b17218))).toBe(Infinity);
    expect(one('exp', 88.73)).toBe(Infinity);
    expect(one('exp', F32_MAX)).toBe(Infinity);
  });

  it('exp: underflow threshold: 2^-149 at −103.97207641601562 (0xc2cff1b4), +0 from −103.97208404541016 (0xc2cff1b5)', () => {
    expect(one('exp', bits(0xc2cff1b4))).toBe(MIN_SUB);
    expect(Object.is(one('exp', bits(0xc2cff1b5)), 0)).toBe(true);
    expect(Object.is(one('exp', -200), 0)).toBe(true);
    expect(Object.is(one('exp', -F32_MAX), 0)).toBe(true);
  });

  it('exp: subnormal and tiny arguments give exactly 1', () => {
    expect(one('exp', MIN_SUB)).toBe(1);
    expect(one('exp', -MIN_SUB)).toBe(1);
    expect(one('exp', 1e-30)).toBe(1);
  });

  it('log: ±0 → −Inf, negative and −Inf → NaN, +Inf → +Inf, 1 → +0, NaN → NaN', () => {
    expect(one('log', 0)).toBe(-Infinity);
    expect(one('log', -0)).toBe(-Infinity);
    expect(one('log', -1)).toBeNaN();
    expect(one('log', -MIN_SUB)).toBeNaN();
    expect(one('log', -Infinity)).toBeNaN();
    expect(one('log', Infinity)).toBe(Infinity);
    expect(Object.is(one('log', 1), 0)).toBe(true);
    expect(one('log', NaN)).toBeNaN();
  });

  it('log: subnormal and extreme arguments are finite and within the bound', () => {
    for (const v of [MIN_SUB, 2 ** -140, bits(0x007fffff), 2 ** -126, F32_MAX]) {
      expect(ulpDistanceF32(one('log', v), Math.fround(Math.log(v)))).toBeLessThanOrEqual(LOG_ULP);
    }
    expect(one('log', MIN_SUB)).toBeCloseTo(-103.27893, 4);
  });

  it('tanh: ±0 → ±0, ±Inf → ±1, NaN → NaN, exactly ±1 from |x| = 9.010913848876953 (0x41102cb4), tiny x → x', () => {
    expect(Object.is(one('tanh', 0), 0)).toBe(true);
    expect(Object.is(one('tanh', -0), -0)).toBe(true);
    expect(one('tanh', Infinity)).toBe(1);
    expect(one('tanh', -Infinity)).toBe(-1);
    expect(one('tanh', NaN)).toBeNaN();
    expect(one('tanh', bits(0x41102cb4))).toBe(1);
    expect(one('tanh', bits(0x41102cb3))).toBeLessThan(1);
    expect(one('tanh', -bits(0x41102cb4))).toBe(-1);
    expect(one('tanh', -20)).toBe(-1);
    expect(one('tanh', F32_MAX)).toBe(1);
    expect(one('tanh', MIN_SUB)).toBe(MIN_SUB);
    expect(one('tanh', -1e-30)).toBe(Math.fround(-1e-30));
  });

  it('erf: ±0 → ±0, ±Inf → ±1, NaN → NaN, exactly ±1 from |x| = 3.9174464 (0x407ab771)', () => {
    expect(Object.is(one('erf', 0), 0)).toBe(true);
    expect(Object.is(one('erf', -0), -0)).toBe(true);
    expect(one('erf', Infinity)).toBe(1);
    expect(one('erf', -Infinity)).toBe(-1);
    expect(one('erf', NaN)).toBeNaN();
    expect(one('erf', bits(0x407ab771))).toBe(1);
    expect(one('erf', bits(0x407ab770))).toBeLessThan(1);
    expect(one('erf', -bits(0x407ab771))).toBe(-1);
    expect(one('erf', -5)).toBe(-1);
    expect(one('erf', F32_MAX)).toBe(1);
  });

  it('erf: tiny and subnormal x give 2x/√π within the bound', () => {
    for (const v of [MIN_SUB, 1000 * MIN_SUB, 1e-30, 1e-10]) {
      expect(ulpDistanceF32(one('erf', v), Math.fround(erf64(v)))).toBeLessThanOrEqual(ERF_ULP);
      expect(one('erf', -v)).toBe(-one('erf', v));
    }
  });
});

describe('wasm vectorised math: layout independence', () => {
  it('every length mod 4 (vector tails), threaded splits and single elements give the same bits; inputs untouched', () => {
    const base = new Float32Array(600_001);
    for (let i = 0; i < base.length; i++) base[i] = Math.sin(i * 0.37) * 30 * (i % 7 === 0 ? 3 : 1);
    for (const f of FUNCS) {
      for (const len of [1, 2, 3, 4, 5, 7, 600_001]) {
        const x = base.subarray(0, len).slice();
        const before = x.slice();
        const threaded = rt[f](x, { threads: 2 });
        const single = rt[f](x, { threads: 1 });
        expectSameBits(`${f} length ${len}: threaded vs one thread`, threaded, single);
        expectSameBits(`${f} length ${len}: input`, x, before);
        for (const i of [0, len - 1, len >> 1]) {
          expectSameBits(`${f} element ${i} alone`, rt[f](x.subarray(i, i + 1)), single.subarray(i, i + 1));
        }
      }
    }
  });
});

describe('wasm exp with flush to zero (the softmax family\'s exp)', () => {
  // ln(FLT_MIN) rounded up to float32: below it the exact exp is under FLT_MIN
  const LO = -87.33654022216797;
  it('equals exp bit for bit from ln(FLT_MIN) up, +0 below, never subnormal, on the dense sweep', () => {
    const n = Math.floor(2 ** 32 / STRIDE);
    const x = new Float32Array(n + SPECIALS.length + 3);
    const u = new Uint32Array(x.buffer);
    for (let i = 0; i < n; i++) u[i] = (i * STRIDE) >>> 0;
    x.set([...SPECIALS, LO, bits(0xc2aeac51), bits(0xc2aeac4f)], n);
    const e = rt.exp(x);
    const f = rt.expFtz(x);
    let checked = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (Number.isNaN(v)) {
        expect(f[i], `expFtz(NaN)`).toBeNaN();
      } else if (v < LO) {
        expect(Object.is(f[i], 0), `expFtz(${v}) = ${f[i]}, expected +0`).toBe(true);
      } else {
        expect(Object.is(f[i], e[i]), `expFtz(${v}) = ${f[i]}, exp = ${e[i]}`).toBe(true);
        expect(f[i] === 0 || f[i] >= 2 ** -126, `expFtz(${v}) = ${f[i]} is subnormal`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(n / 4);
  });

  it('the non-positive variant (the softmax row sums\' exp) equals it bit for bit on x ≤ 0 and −Inf', () => {
    const n = Math.floor(2 ** 32 / STRIDE);
    const all = new Float32Array(n);
    const u = new Uint32Array(all.buffer);
    for (let i = 0; i < n; i++) u[i] = (i * STRIDE) >>> 0;
    const x = Float32Array.from([...all.filter((v) => v <= 0), -Infinity, -0, 0, LO, bits(0xc2aeac51), -87.3, -1e30, -F32_MAX, -MIN_SUB]);
    const f = rt.expFtz(x);
    const g = rt.expFtzNonPos(x);
    for (let i = 0; i < x.length; i++) expect(Object.is(g[i], f[i]), `expFtzNonPos(${x[i]}) = ${g[i]}, expFtz = ${f[i]}`).toBe(true);
    expect(x.length).toBeGreaterThan(n / 3);
  });

  it('lanes are independent: a low or NaN lane does not change its neighbours', () => {
    const x = Float32Array.from([-200, 1.5, -Infinity, 88.8, NaN, -87.3, LO, bits(0xc2aeac51), 0, -1e30, 50, -90]);
    const f = rt.expFtz(x);
    for (let i = 0; i < x.length; i++) {
      const alone = rt.expFtz(new Float32Array([x[i]]))[0];
      expect(Object.is(f[i], alone) || (Number.isNaN(f[i]) && Number.isNaN(alone)), `lane ${i} (x = ${x[i]}): ${f[i]} in a vector, ${alone} alone`).toBe(true);
    }
    expect(f[3]).toBe(Infinity);
    expect(Object.is(f[0], 0) && Object.is(f[2], 0) && Object.is(f[11], 0)).toBe(true);
  });
});
