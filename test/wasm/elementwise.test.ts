/**
 * The wasm backend's element-wise kernels (asm/elementwise.ts) against the
 * FP64 references and shared bounds of src/kernels/{residual,gelu,adamw}.ts
 * under WASM_SIMD_MODEL: residual add, GELU in both forms forward and
 * backward, and one AdamW step. Inputs mix ordinary values with outliers
 * (±1e30, float32 max, subnormals, signed zeros, ±Inf, NaN); lengths are odd
 * so the vector tails run. Each property also checks that the inputs come
 * back untouched, and a separate test that two threads give the bits of one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WASM_SIMD_MODEL } from '../../src/backends/wasm/error-model.js';
import { adamwBound, adamwConfig, adamwRef, adamwScalars } from '../../src/kernels/adamw.js';
import { geluBackwardBound, geluBackwardRef, geluBound, geluRef, type GeluApproximation } from '../../src/kernels/gelu.js';
import { residualBound, residualRef } from '../../src/kernels/residual.js';
import { adamwCaseArb, adamwInputs } from '../../src/testing/suites/adamw.js';
import { matrixArb, propertyParams } from '../../src/testing/arbitraries.js';
import { generate, widen } from '../../src/testing/values.js';
import { expectSameBits, expectUnchanged, expectWithin, runtime, snapshot } from './support.js';

const rt = await runtime();
const M = WASM_SIMD_MODEL;
const FORMS: GeluApproximation[] = ['none', 'tanh'];

/** Element arrays with the outlier mix; lengths up to 20,000, any remainder mod 4. */
const values = (scales = [1e-3, 1, 4, 10, 100]) => matrixArb({ maxRows: 7, maxCols: 3001, maxElements: 20_000, scales });

/** Upstream gradients N(0, 1), with NaNs when `specials`. */
function grad(seed: number, n: number, specials: boolean): Float32Array {
  return generate({ seed: seed ^ 0x2545f491, profile: 'normal', scale: 1, nan: specials ? 0.003 : 0, posInf: 0, negInf: 0, maskedRow: 0 }, 1, n);
}

describe('wasm residual add', () => {
  it('property: one correctly rounded addition (residualBound); inputs untouched', () => {
    fc.assert(
      fc.property(values(), fc.integer(), (c, seed) => {
        const a = generate(c.spec, c.N, c.L);
        const b = generate({ ...c.spec, seed }, c.N, c.L);
        const before = snapshot(a, b);
        const out = rt.add(a, b);
        expectUnchanged('add', before, [a, b]);
        const ref = residualRef(widen(a), widen(b));
        expectWithin(`add ${c.N * c.L}`, out, ref, residualBound(M, ref));
      }),
      propertyParams(30),
    );
  });

  it('IEEE special values: F32_MAX + F32_MAX = Inf, Inf − Inf = NaN, −0 + −0 = −0, subnormals kept', () => {
    const F = 3.4028234663852886e38;
    const sub = 2 ** -149;
    const out = rt.add(new Float32Array([F, Infinity, -0, NaN, sub]), new Float32Array([F, -Infinity, -0, 1, sub]));
    expect(out[0]).toBe(Infinity);
    expect(out[1]).toBeNaN();
    expect(Object.is(out[2], -0)).toBe(true);
    expect(out[3]).toBeNaN();
    expect(out[4]).toBe(2 * sub);
  });
});

describe('wasm gelu', () => {
  for (const form of FORMS) {
    it(`forward (${form}) within geluBound, relative accuracy down the negative tail; input untouched`, () => {
      fc.assert(
        fc.property(values(), (c) => {
          const x = generate(c.spec, c.N, c.L);
          const before = snapshot(x);
          const y = rt.gelu(x, form);
          expectUnchanged('gelu', before, [x]);
          const x64 = widen(x);
          const ref = geluRef(x64, form);
          expectWithin(`gelu(${form}) ${c.N * c.L}`, y, ref, geluBound(M, x64, ref, form));
        }),
        propertyParams(30),
      );
    });

    it(`backward (${form}) within geluBackwardBound; inputs untouched`, () => {
      fc.assert(
        fc.property(values(), fc.boolean(), (c, specials) => {
          const x = generate(c.spec, c.N, c.L);
          const dy = grad(c.spec.seed, x.length, specials);
          const before = snapshot(dy, x);
          const dx = rt.geluBackward(dy, x, form);
          expectUnchanged('geluBackward', before, [dy, x]);
          const x64 = widen(x);
          const dy64 = widen(dy);
          const ref = geluBackwardRef(dy64, x64, form);
          expectWithin(`geluBackward(${form}) ${x.length}`, dx, ref, geluBackwardBound(M, dy64, x64, ref, form));
        }),
        propertyParams(30),
      );
    });
  }

  it('a dense sweep of x in [−16, 16] and the tails (every 2^-10, then ±1e30, F32_MAX) within the bounds, both forms', () => {
    const xs: number[] = [];
    for (let i = -16 * 1024; i <= 16 * 1024; i++) xs.push(i / 1024);
    for (const v of [-1e30, 1e30, -3.4e38, 3.4e38, -20, -40, -87, -104, 1e-40, -1e-40, 5e-324]) xs.push(v);
    const x = Float32Array.from(xs);
    const x64 = widen(x);
    const dy = grad(7, x.length, false);
    for (const form of FORMS) {
      const ref = geluRef(x64, form);
      expectWithin(`gelu(${form}) sweep`, rt.gelu(x, form), ref, geluBound(M, x64, ref, form));
      const gref = geluBackwardRef(widen(dy), x64, form);
      expectWithin(`geluBackward(${form}) sweep`, rt.geluBackward(dy, x, form), gref, geluBackwardBound(M, widen(dy), x64, gref, form));
    }
  });

  it('the contract: NaN → NaN, +Inf → +Inf, −Inf → −0; gelu\'(+Inf) = 1, gelu\'(−Inf) = 0, NaN·0 = NaN', () => {
    const x = new Float32Array([NaN, Infinity, -Infinity, -1e30, 1e30, 0, -0]);
    for (const form of FORMS) {
      const y = rt.gelu(x, form);
      expect(y[0]).toBeNaN();
      expect(y[1]).toBe(Infinity);
      expect(Object.is(y[2], -0)).toBe(true);
      expect(Object.is(y[3], -0)).toBe(true);
      expect(y[4]).toBe(Math.fround(1e30));
      const dx = rt.geluBackward(new Float32Array([1, 3, 3, NaN, NaN, 2, 2]), x, form);
      expect(dx[0]).toBeNaN();
      expect(dx[1]).toBe(3);
      expect(dx[2]).toBe(0);
      expect(dx[3]).toBeNaN(); // dy·gelu'(−1e30) = NaN·0
      expect(dx[4]).toBeNaN(); // NaN·1
      expect(dx[5]).toBe(1); // gelu'(0) = ½, times 2
    }
  });
});

describe('wasm adamw', () => {
  it('property: param, m, v within adamwBound of the FP64 step; inputs untouched', () => {
    fc.assert(
      fc.property(adamwCaseArb(5000), (c) => {
        const { p32, g32, m32, v32 } = adamwInputs(c);
        const cfg = adamwConfig('adamw', c.options);
        const before = snapshot(p32, g32, m32, v32);
        const out = rt.adamw(p32, g32, m32, v32, adamwScalars(cfg));
        expectUnchanged('adamw', before, [p32, g32, m32, v32]);
        const ref = adamwRef(widen(p32), widen(g32), widen(m32), widen(v32), cfg);
        const b = adamwBound(M, widen(p32), widen(g32), widen(m32), widen(v32), cfg, ref);
        expectWithin('adamw m', out.m, ref.m, b.m);
        expectWithin('adamw v', out.v, ref.v, b.v);
        expectWithin('adamw param', out.param, ref.param, b.param);
      }),
      propertyParams(30),
    );
  });
});

describe('wasm element-wise kernels: threads', () => {
  it('two threads give the bits of one (add, gelu both forms forward and backward, adamw)', () => {
    const n = 40_003;
    const x = generate({ seed: 11, profile: 'wide', scale: 1, nan: 0.001, posInf: 0.001, negInf: 0.001, maskedRow: 0 }, 1, n);
    const y = generate({ seed: 12, profile: 'normal', scale: 3, nan: 0.001, posInf: 0, negInf: 0, maskedRow: 0 }, 1, n);
    const dy = grad(13, n, true);
    expectSameBits('add', rt.add(x, y, { threads: 2 }), rt.add(x, y, { threads: 1 }));
    for (const form of FORMS) {
      expectSameBits(`gelu ${form}`, rt.gelu(y, form, { threads: 2 }), rt.gelu(y, form, { threads: 1 }));
      expectSameBits(`geluBackward ${form}`, rt.geluBackward(dy, y, form, { threads: 2 }), rt.geluBackward(dy, y, form, { threads: 1 }));
    }
    const k = adamwScalars(adamwConfig('adamw', { lr: 1e-3, step: 3, weightDecay: 0.1 }));
    const v = Float32Array.from(y, (a) => Math.abs(a));
    const a1 = rt.adamw(x, dy, y, v, k, { threads: 1 });
    const a2 = rt.adamw(x, dy, y, v, k, { threads: 2 });
    expectSameBits('adamw param', a2.param, a1.param);
    expectSameBits('adamw m', a2.m, a1.m);
    expectSameBits('adamw v', a2.v, a1.v);
  });

  it('empty arrays give empty results', () => {
    const e = new Float32Array(0);
    expect(rt.add(e, e).length).toBe(0);
    expect(rt.gelu(e, 'tanh').length).toBe(0);
    expect(rt.geluBackward(e, e, 'none').length).toBe(0);
  });
});
