/**
 * The wasm LayerNorm (asm/layernorm.ts) against layernorm.ts's FP64 reference
 * and its bounds (layerNormBound, layerNormBackwardBound) under
 * WASM_SIMD_MODEL. Cases come from the shared generator (extreme values,
 * rows offset by up to 10^6 times their spread, constant rows, eps from 1e-10
 * to 1e-3), with up to 700 rows so the backward's column sums run over
 * several 256-row chunks (the shared suite stops at 64 rows) and row lengths
 * around the vector width, the 16-wide unroll and the 256 chunk.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WASM_SIMD_MODEL } from '../../src/backends/wasm/error-model.js';
import { layerNormBackwardBound, layerNormBackwardRef, layerNormBound, layerNormRef } from '../../src/kernels/layernorm.js';
import { matrixArb, propertyParams } from '../../src/testing/arbitraries.js';
import { layerNormInputs, type LayerNormCase } from '../../src/testing/suites/layernorm.js';
import { generate, widen } from '../../src/testing/values.js';
import { expectSameBits, expectUnchanged, expectWithin, runtime, snapshot } from './support.js';

const rt = await runtime();
const M = WASM_SIMD_MODEL;

const caseArb = (specials = true): fc.Arbitrary<LayerNormCase> =>
  fc.record({
    c: fc.oneof(
      matrixArb({ maxRows: 700, maxCols: 70, maxElements: 40_000, specials }),
      matrixArb({ maxRows: 40, maxCols: 1100, maxElements: 40_000, specials }),
    ),
    offset: fc.constantFrom(0, 0, 1e2, 1e4, 1e6),
    constantRows: fc.constantFrom(0, 0, 0.3),
    eps: fc.constantFrom(1e-5, 1e-5, 1e-3, 1e-10),
    wSeed: fc.integer({ min: 0, max: 0x7fffffff }),
  });

describe('wasm layerNorm', () => {
  it('forward: out, mean, rstd within layerNormBound; inputs untouched', () => {
    fc.assert(
      fc.property(caseArb(), (k) => {
        const { N, C, x32, w32, b32, x64, w64, b64 } = layerNormInputs(k);
        const before = snapshot(x32, w32, b32);
        const r = rt.layerNorm(x32, w32, b32, N, C, k.eps);
        expectUnchanged('layerNorm', before, [x32, w32, b32]);
        const ref = layerNormRef(x64, w64, b64, N, C, k.eps);
        const bound = layerNormBound(M, x64, w64, N, C, k.eps, ref);
        expectWithin(`layerNorm out ${N}×${C}`, r.out, ref.out, { allowed: bound.out, note: bound.note }, [N, C]);
        expectWithin(`layerNorm mean ${N}×${C}`, r.mean, ref.mean, { allowed: bound.mean, note: bound.note }, [N]);
        expectWithin(`layerNorm rstd ${N}×${C}`, r.rstd, ref.rstd, { allowed: bound.rstd, note: bound.note }, [N]);
      }),
      propertyParams(30),
    );
  });

  it('backward: dx, dweight, dbias within layerNormBackwardBound (mean, rstd from the float32 forward); inputs untouched', () => {
    fc.assert(
      fc.property(caseArb(false), fc.boolean(), (k, nanDout) => {
        const { N, C, x32, w32, b32, x64, w64 } = layerNormInputs(k);
        const f = rt.layerNorm(x32, w32, b32, N, C, k.eps);
        const dout = generate({ seed: k.wSeed ^ 0x2f, profile: 'normal', scale: 1, nan: nanDout ? 0.001 : 0, posInf: 0, negInf: 0, maskedRow: 0 }, N, C);
        const before = snapshot(dout, x32, w32, f.mean, f.rstd);
        const g = rt.layerNormBackward(dout, x32, w32, f.mean, f.rstd, N, C);
        expectUnchanged('layerNormBackward', before, [dout, x32, w32, f.mean, f.rstd]);
        const mean64 = widen(f.mean);
        const rstd64 = widen(f.rstd);
        const d64 = widen(dout);
        const ref = layerNormBackwardRef(d64, x64, w64, mean64, rstd64, N, C);
        const bound = layerNormBackwardBound(M, d64, x64, w64, mean64, rstd64, N, C, ref);
        expectWithin(`layerNormBackward dx ${N}×${C}`, g.dx, ref.dx, { allowed: bound.dx, note: bound.note }, [N, C]);
        expectWithin(`layerNormBackward dweight ${N}×${C}`, g.dweight, ref.dweight, { allowed: bound.dweight, note: bound.note }, [C]);
        expectWithin(`layerNormBackward dbias ${N}×${C}`, g.dbias, ref.dbias, { allowed: bound.dbias, note: bound.note }, [C]);
      }),
      propertyParams(25),
    );
  });

  it('the contract: constant rows give out = bias, rstd = 1/√eps, mean = x0; a NaN or Inf row is NaN; huge rows normalise without overflow', () => {
    const F = 3.4028234663852886e38;
    const C = 5;
    const x = new Float32Array([3, 3, 3, 3, 3, 1, NaN, 2, 3, 4, 1, Infinity, 0, 0, 0, F, -F, F, -F, 0, 1e30, 1e30, 1e30, 1e30, 1e30]);
    const w = new Float32Array([1, 2, 3, 4, 5]);
    const b = new Float32Array([0.5, -1, 0, 2, 7]);
    const r = rt.layerNorm(x, w, b, 5, C, 1e-5);
    expect(Array.from(r.out.subarray(0, C))).toEqual(Array.from(b));
    expect(r.rstd[0]).toBe(Math.fround(1 / Math.sqrt(Math.fround(1e-5))));
    expect(r.mean[0]).toBe(3);
    for (const row of [1, 2]) {
      expect(r.mean[row]).toBeNaN();
      expect(r.rstd[row]).toBeNaN();
      for (let j = 0; j < C; j++) expect(r.out[row * C + j]).toBeNaN();
    }
    for (let j = 0; j < C; j++) expect(Number.isFinite(r.out[3 * C + j])).toBe(true);
    expect(Array.from(r.out.subarray(4 * C))).toEqual(Array.from(b));
    // C = 0: mean and rstd NaN (0/0); N = 0: empty
    const e = rt.layerNorm(new Float32Array(0), new Float32Array(0), new Float32Array(0), 3, 0, 1e-5);
    expect(Array.from(e.mean)).toEqual([NaN, NaN, NaN]);
    const g = rt.layerNormBackward(new Float32Array(0), new Float32Array(0), w, new Float32Array(0), new Float32Array(0), 0, C);
    expect(Array.from(g.dweight)).toEqual([0, 0, 0, 0, 0]);
  });

  it('two threads give the bits of one, forward and backward, across several 256-row chunks and odd C', () => {
    for (const [N, C] of [[1000, 67], [513, 256], [300, 5]]) {
      const x = generate({ seed: N * C, profile: 'wide', scale: 1, nan: 0.0005, posInf: 0, negInf: 0, maskedRow: 0 }, N, C);
      const w = generate({ seed: 5, profile: 'normal', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 }, 1, C);
      const b = generate({ seed: 6, profile: 'normal', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 }, 1, C);
      const dout = generate({ seed: 7, profile: 'normal', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 }, N, C);
      const f1 = rt.layerNorm(x, w, b, N, C, 1e-5, { threads: 1 });
      const f2 = rt.layerNorm(x, w, b, N, C, 1e-5, { threads: 2 });
      expectSameBits('layerNorm out', f2.out, f1.out);
      expectSameBits('layerNorm mean', f2.mean, f1.mean);
      expectSameBits('layerNorm rstd', f2.rstd, f1.rstd);
      const g1 = rt.layerNormBackward(dout, x, w, f1.mean, f1.rstd, N, C, { threads: 1 });
      const g2 = rt.layerNormBackward(dout, x, w, f1.mean, f1.rstd, N, C, { threads: 2 });
      expectSameBits('layerNormBackward dx', g2.dx, g1.dx);
      expectSameBits('layerNormBackward dweight', g2.dweight, g1.dweight);
      expectSameBits('layerNormBackward dbias', g2.dbias, g1.dbias);
    }
  });
});
