/**
 * WasmRuntime's softmax family against the FP64 references of
 * src/kernels/softmax.ts, held to that file's bounds (softmaxBound, …) under
 * the backend's ErrorModel (WASM_SIMD_MODEL: exp and log within their
 * measured ULPs, division as reciprocal × product = 2u). The row sums follow
 * the shared chunked order (asm/softmax.ts), so γ(sumDepth(V)) applies as is.
 *
 * Inputs come from the shared generators (src/testing): ordinary, wide (1e±30),
 * huge (1e30 and float32 max), tiny and subnormal, ties, signed zeros, with
 * NaN, ±Inf planted and fully masked rows; row lengths around the vector
 * width (4), the 16-wide unroll and the 256 chunk.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WASM_SIMD_MODEL } from '../../src/backends/wasm/error-model.js';
import {
  logSoftmaxBackwardBound,
  logSoftmaxBackwardRef,
  logSoftmaxBound,
  logSoftmaxRef,
  logSumExpBackwardBound,
  logSumExpBackwardRef,
  logSumExpBound,
  logSumExpRef,
  softmaxBackwardBound,
  softmaxBackwardRef,
  softmaxBound,
  softmaxRef,
} from '../../src/kernels/softmax.js';
import { matrixArb, propertyParams, type MatrixCase } from '../../src/testing/arbitraries.js';
import { generate, widen } from '../../src/testing/values.js';
import { expectSameBits, expectUnchanged, expectWithin, runtime, snapshot } from './support.js';

const rt = await runtime();
const M = WASM_SIMD_MODEL;

const logits = () => matrixArb({ maxRows: 48, maxCols: 3000, maxElements: 30_000, maskedRows: true });

function input(c: MatrixCase): { x: Float32Array; x64: Float64Array } {
  const x = generate(c.spec, c.N, c.L);
  return { x, x64: widen(x) };
}

/** Upstream gradients: N(0, 1) with a few NaNs when `specials`. */
function grad(seed: number, n: number, specials: boolean): Float32Array {
  return generate({ seed: seed ^ 0x5bd1e995, profile: 'normal', scale: 1, nan: specials ? 0.002 : 0, posInf: 0, negInf: 0, maskedRow: 0 }, 1, n);
}

describe('wasm softmax family: forward, property against the FP64 reference', () => {
  it('logSumExp within logSumExpBound; input untouched', () => {
    fc.assert(
      fc.property(logits(), (c) => {
        const { x, x64 } = input(c);
        const before = snapshot(x);
        const lse = rt.logSumExp(x, c.N, c.L);
        expectUnchanged('logSumExp', before, [x]);
        const ref = logSumExpRef(x64, c.N, c.L);
        expectWithin(`logSumExp ${c.N}×${c.L}`, lse, ref, logSumExpBound(M, x64, c.N, c.L, ref), [c.N]);
      }),
      propertyParams(40),
    );
  });

  it('softmax within softmaxBound; input untouched', () => {
    fc.assert(
      fc.property(logits(), (c) => {
        const { x, x64 } = input(c);
        const before = snapshot(x);
        const y = rt.softmax(x, c.N, c.L);
        expectUnchanged('softmax', before, [x]);
        const ref = softmaxRef(x64, c.N, c.L);
        expectWithin(`softmax ${c.N}×${c.L}`, y, ref, softmaxBound(M, x64, c.N, c.L, ref), [c.N, c.L]);
      }),
      propertyParams(40),
    );
  });

  it('logSoftmax within logSoftmaxBound; input untouched', () => {
    fc.assert(
      fc.property(logits(), (c) => {
        const { x, x64 } = input(c);
        const before = snapshot(x);
        const y = rt.logSoftmax(x, c.N, c.L);
        expectUnchanged('logSoftmax', before, [x]);
        const ref = logSoftmaxRef(x64, c.N, c.L);
        expectWithin(`logSoftmax ${c.N}×${c.L}`, y, ref, logSoftmaxBound(M, x64, c.N, c.L, ref), [c.N, c.L]);
      }),
      propertyParams(40),
    );
  });
});

describe('wasm softmax family: backward, property against the FP64 reference', () => {
  it('softmaxBackward within softmaxBackwardBound (y from the float32 forward)', () => {
    fc.assert(
      fc.property(logits(), fc.boolean(), (c, specials) => {
        const { x } = input(c);
        const y = rt.softmax(x, c.N, c.L);
        const dy = grad(c.spec.seed, c.N * c.L, specials);
        const before = snapshot(dy, y);
        const dx = rt.softmaxBackward(dy, y, c.N, c.L);
        expectUnchanged('softmaxBackward', before, [dy, y]);
        const y64 = widen(y);
        const dy64 = widen(dy);
        const ref = softmaxBackwardRef(dy64, y64, c.N, c.L);
        expectWithin(`softmaxBackward ${c.N}×${c.L}`, dx, ref, softmaxBackwardBound(M, dy64, y64, c.N, c.L, ref), [c.N, c.L]);
      }),
      propertyParams(30),
    );
  });

  it('logSoftmaxBackward within logSoftmaxBackwardBound', () => {
    fc.assert(
      fc.property(logits(), fc.boolean(), (c, specials) => {
        const { x } = input(c);
        const y = rt.logSoftmax(x, c.N, c.L);
        const dy = grad(c.spec.seed, c.N * c.L, specials);
        const before = snapshot(dy, y);
        const dx = rt.logSoftmaxBackward(dy, y, c.N, c.L);
        expectUnchanged('logSoftmaxBackward', before, [dy, y]);
        const y64 = widen(y);
        const dy64 = widen(dy);
        const ref = logSoftmaxBackwardRef(dy64, y64, c.N, c.L);
        expectWithin(`logSoftmaxBackward ${c.N}×${c.L}`, dx, ref, logSoftmaxBackwardBound(M, dy64, y64, c.N, c.L, ref), [c.N, c.L]);
      }),
      propertyParams(30),
    );
  });

  it('logSumExpBackward within logSumExpBackwardBound', () => {
    fc.assert(
      fc.property(logits(), (c) => {
        const { x, x64 } = input(c);
        const lse = rt.logSumExp(x, c.N, c.L);
        const dlse = grad(c.spec.seed, c.N, false);
        const before = snapshot(dlse, x, lse);
        const dx = rt.logSumExpBackward(dlse, x, lse, c.N, c.L);
        expectUnchanged('logSumExpBackward', before, [dlse, x, lse]);
        const lse64 = widen(lse);
        const dlse64 = widen(dlse);
        const ref = logSumExpBackwardRef(dlse64, x64, lse64, c.N, c.L);
        expectWithin(`logSumExpBackward ${c.N}×${c.L}`, dx, ref, logSumExpBackwardBound(M, x64, lse64, c.N, c.L, ref, dlse64), [c.N, c.L]);
      }),
      propertyParams(30),
    );
  });
});

describe('wasm softmax family: the edge-case contract', () => {
  const row = (...v: number[]) => new Float32Array(v);

  it('NaN anywhere in a row: lse NaN, softmax and logSoftmax rows all NaN', () => {
    const x = row(1, NaN, 3, Infinity);
    expect(rt.logSumExp(x, 1, 4)[0]).toBeNaN();
    for (const v of rt.softmax(x, 1, 4)) expect(v).toBeNaN();
    for (const v of rt.logSoftmax(x, 1, 4)) expect(v).toBeNaN();
  });

  it('+Inf in a row: lse +Inf, softmax and logSoftmax rows all NaN', () => {
    const x = row(1, Infinity, -Infinity, 2, 5);
    expect(rt.logSumExp(x, 1, 5)[0]).toBe(Infinity);
    for (const v of rt.softmax(x, 1, 5)) expect(v).toBeNaN();
    for (const v of rt.logSoftmax(x, 1, 5)) expect(v).toBeNaN();
  });

  it('all −Inf (fully masked row): lse −Inf, softmax and logSoftmax NaN', () => {
    const x = row(-Infinity, -Infinity, -Infinity);
    expect(rt.logSumExp(x, 1, 3)[0]).toBe(-Infinity);
    for (const v of rt.softmax(x, 1, 3)) expect(v).toBeNaN();
    for (const v of rt.logSoftmax(x, 1, 3)) expect(v).toBeNaN();
  });

  it('−Inf entries in a finite row: softmax exactly 0, logSoftmax exactly −Inf, the rest unaffected', () => {
    const x = row(0, -Infinity, Math.log(3), -Infinity, 0);
    const y = rt.softmax(x, 1, 5);
    expect(Object.is(y[1], 0) && Object.is(y[3], 0)).toBe(true);
    expect(y[0]).toBeCloseTo(0.2, 6);
    expect(y[2]).toBeCloseTo(0.6, 6);
    const z = rt.logSoftmax(x, 1, 5);
    expect(z[1]).toBe(-Infinity);
    expect(z[3]).toBe(-Infinity);
  });

  it('huge gaps (±1e30, float32 max): exact 0 and 1, no overflow', () => {
    const F = 3.4028234663852886e38;
    expect(Array.from(rt.softmax(row(1e30, 0, -1e30), 1, 3))).toEqual([1, 0, 0]);
    expect(Array.from(rt.softmax(row(F, -F), 1, 2))).toEqual([1, 0]);
    expect(rt.logSumExp(row(F, F), 1, 2)[0]).toBe(Math.fround(F));
    expect(rt.logSoftmax(row(F, -F), 1, 2)[1]).toBe(-Infinity);
  });

  it('V = 1: softmax 1, logSoftmax 0, lse = x; V = 0: lse −Inf and empty rows; N = 0: empty', () => {
    expect(Array.from(rt.softmax(row(7.5, -2), 2, 1))).toEqual([1, 1]);
    expect(Array.from(rt.logSoftmax(row(-3), 1, 1))).toEqual([0]);
    expect(Array.from(rt.logSumExp(row(-3), 1, 1))).toEqual([-3]);
    expect(Array.from(rt.logSumExp(new Float32Array(0), 2, 0))).toEqual([-Infinity, -Infinity]);
    expect(rt.softmax(new Float32Array(0), 3, 0).length).toBe(0);
    expect(rt.logSoftmax(new Float32Array(0), 0, 5).length).toBe(0);
    expect(rt.logSumExp(new Float32Array(0), 0, 5).length).toBe(0);
  });

  it('backward follows IEEE on the formulas: NaN in, NaN out; −Inf logSoftmax entries give dx = dy', () => {
    const dx = rt.softmaxBackward(row(1, NaN, 2), row(0.2, 0.3, 0.5), 1, 3);
    for (const v of dx) expect(v).toBeNaN();
    const dz = rt.logSoftmaxBackward(row(1, 2, 3), row(-Infinity, Math.log(0.5), Math.log(0.5)), 1, 3);
    expect(dz[0]).toBe(1);
  });

  it('rejects wrong lengths naming the argument and the shape', () => {
    expect(() => rt.softmax(new Float32Array(5), 2, 3)).toThrow(/softmax: 'x' has length 5 but shape \[N, V\] = \[2, 3\] needs 6/);
    expect(() => rt.softmaxBackward(new Float32Array(6), new Float32Array(5), 2, 3)).toThrow(/'y' has length 5/);
    expect(() => rt.logSumExpBackward(new Float32Array(3), new Float32Array(6), new Float32Array(2), 2, 3)).toThrow(/'dlse' has length 3 but shape \[N\] = \[2\]/);
    expect(() => rt.softmax(new Float32Array(6), 2, 3, { out: new Float32Array(5) })).toThrow(/'out' has length 5/);
  });
});

describe('wasm softmax family: threads, heap views', () => {
  it('threaded rows give the same bits as one thread, for every kernel, at row lengths around the vector and chunk edges', () => {
    for (const [N, V] of [[600, 513], [4, 70_001], [1100, 255]]) {
      const x = generate({ seed: N + V, profile: 'normal', scale: 10, nan: 0.0005, posInf: 0.0002, negInf: 0.001, maskedRow: 0.01 }, N, V);
      const dy = grad(N, N * V, false);
      const dl = grad(V, N, false);
      for (const threads of [2]) {
        const y1 = rt.softmax(x, N, V, { threads: 1 });
        expectSameBits('softmax', rt.softmax(x, N, V, { threads }), y1);
        const z1 = rt.logSoftmax(x, N, V, { threads: 1 });
        expectSameBits('logSoftmax', rt.logSoftmax(x, N, V, { threads }), z1);
        const l1 = rt.logSumExp(x, N, V, { threads: 1 });
        expectSameBits('logSumExp', rt.logSumExp(x, N, V, { threads }), l1);
        expectSameBits('softmaxBackward', rt.softmaxBackward(dy, y1, N, V, { threads }), rt.softmaxBackward(dy, y1, N, V, { threads: 1 }));
        expectSameBits('logSoftmaxBackward', rt.logSoftmaxBackward(dy, z1, N, V, { threads }), rt.logSoftmaxBackward(dy, z1, N, V, { threads: 1 }));
        expectSameBits('logSumExpBackward', rt.logSumExpBackward(dl, x, l1, N, V, { threads }), rt.logSumExpBackward(dl, x, l1, N, V, { threads: 1 }));
      }
    }
  });

  it('heap views are used in place and give the same result as copies; out may be a heap view', () => {
    const N = 37, V = 1001;
    const x = generate({ seed: 3, profile: 'wide', scale: 1, nan: 0, posInf: 0, negInf: 0.01, maskedRow: 0 }, N, V);
    const rx = rt.alloc(N * V);
    const ry = rt.alloc(N * V);
    rx.set(x);
    expect(rt.softmax(rx, N, V, { out: ry })).toBe(ry);
    expectSameBits('softmax heap vs copy', ry, rt.softmax(x, N, V));
    const inUse = rt.heapBytesInUse;
    rt.free(rx);
    rt.free(ry);
    expect(rt.heapBytesInUse).toBe(inUse - 2 * Math.ceil((N * V * 4) / 64) * 64);
    expect(() => rt.free(x)).toThrow(/not allocated by this runtime/);
  });
});
