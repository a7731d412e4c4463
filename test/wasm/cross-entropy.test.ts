/**
 * The wasm cross-entropy (asm/crossentropy.ts) against cross-entropy.ts's
 * FP64 reference and bounds under WASM_SIMD_MODEL, with every option:
 * ignored rows (coded −1, as the public function passes them), label
 * smoothing 0 to 1, and the three reductions. Logits come from the shared
 * generator (huge gaps, ±Inf, NaN, fully masked rows); N runs past 256 so the
 * 'sum' and 'mean' reductions use several chunks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WASM_SIMD_MODEL } from '../../src/backends/wasm/error-model.js';
import type { CrossEntropyArgs } from '../../src/backends/wasm/runtime.js';
import {
  countTargets,
  crossEntropyBackwardBound,
  crossEntropyBackwardRef,
  crossEntropyBound,
  crossEntropyRef,
  IGNORED,
  type CrossEntropyReduction,
} from '../../src/kernels/cross-entropy.js';
import { logSumExpBound, logSumExpRef } from '../../src/kernels/softmax.js';
import { matrixArb, propertyParams } from '../../src/testing/arbitraries.js';
import { generate, Rng, widen } from '../../src/testing/values.js';
import { expectSameBits, expectUnchanged, expectWithin, runtime, snapshot } from './support.js';

const rt = await runtime();
const M = WASM_SIMD_MODEL;

const planArb = fc.record({
  reduction: fc.constantFrom<CrossEntropyReduction>('mean', 'sum', 'none'),
  labelSmoothing: fc.constantFrom(0, 0, 0.1, 0.5, 1),
  ignore: fc.constantFrom(0, 0, 0.2, 1),
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
});

/** Targets in [0, V) or IGNORED, drawn so the target is sometimes a masked (−Inf) or the max logit. */
function targetsOf(seed: number, N: number, V: number, ignore: number): Float32Array {
  const rng = new Rng(seed);
  const t = new Float32Array(N);
  for (let r = 0; r < N; r++) t[r] = rng.uniform() < ignore ? IGNORED : rng.int(0, V - 1);
  return t;
}

const logits = () => fc.oneof(matrixArb({ maxRows: 48, maxCols: 3000, maxElements: 30_000, maskedRows: true }), matrixArb({ maxRows: 1100, maxCols: 31, maxElements: 30_000, maskedRows: true }));

describe('wasm crossEntropy', () => {
  it('forward: loss (every reduction, smoothing, ignored rows) and lse within their bounds; inputs untouched', () => {
    fc.assert(
      fc.property(logits(), planArb, (c, p) => {
        const { N, L: V } = c;
        const x = generate(c.spec, N, V);
        const t = targetsOf(p.seed, N, V, p.ignore);
        const count = countTargets(t, N, IGNORED);
        const o: CrossEntropyArgs = { labelSmoothing: p.labelSmoothing, reduction: p.reduction, count };
        const before = snapshot(x, t);
        const r = rt.crossEntropy(x, t, N, V, o);
        expectUnchanged('crossEntropy', before, [x, t]);
        const x64 = widen(x);
        const cfg = { ignoreIndex: IGNORED, labelSmoothing: p.labelSmoothing, reduction: p.reduction };
        const ref = crossEntropyRef(x64, t, N, V, cfg);
        expectWithin(`crossEntropy loss ${N}×${V} ${p.reduction} ε=${p.labelSmoothing}`, r.loss, ref.loss, crossEntropyBound(M, x64, t, N, V, cfg, ref.loss));
        const lref = logSumExpRef(x64, N, V);
        expectWithin(`crossEntropy lse ${N}×${V}`, r.lse, lref, logSumExpBound(M, x64, N, V, lref));
      }),
      propertyParams(40),
    );
  });

  it('backward: dlogits within crossEntropyBackwardBound from the float32 lse; ignored rows exactly 0; inputs untouched', () => {
    fc.assert(
      fc.property(logits(), planArb, fc.boolean(), (c, p, nanDloss) => {
        const { N, L: V } = c;
        const x = generate(c.spec, N, V);
        const t = targetsOf(p.seed, N, V, p.ignore);
        const count = countTargets(t, N, IGNORED);
        const o: CrossEntropyArgs = { labelSmoothing: p.labelSmoothing, reduction: p.reduction, count };
        const { lse } = rt.crossEntropy(x, t, N, V, o);
        const dloss = generate({ seed: p.seed ^ 0x5a, profile: 'normal', scale: 1, nan: nanDloss ? 0.01 : 0, posInf: 0, negInf: 0, maskedRow: 0 }, 1, p.reduction === 'none' ? N : 1);
        const before = snapshot(dloss, x, t, lse);
        const dx = rt.crossEntropyBackward(dloss, x, t, lse, N, V, o);
        expectUnchanged('crossEntropyBackward', before, [dloss, x, t, lse]);
        const cfg = { ignoreIndex: IGNORED, labelSmoothing: p.labelSmoothing, reduction: p.reduction };
        const x64 = widen(x);
        const l64 = widen(lse);
        const ref = crossEntropyBackwardRef(widen(dloss), x64, t, l64, N, V, cfg);
        expectWithin(`crossEntropyBackward ${N}×${V} ${p.reduction} ε=${p.labelSmoothing}`, dx, ref, crossEntropyBackwardBound(M, widen(dloss), x64, t, l64, N, V, cfg, ref), [N, V]);
        for (let r = 0; r < N; r++) {
          if (t[r] !== IGNORED) continue;
          for (let j = 0; j < V; j++) if (!Object.is(dx[r * V + j], 0)) throw new Error(`ignored row ${r}: dlogits[${j}] = ${dx[r * V + j]}, not +0`);
        }
      }),
      propertyParams(30),
    );
  });

  it('the contract: huge gaps exact, −Inf at the target gives +Inf, ignored NaN rows give 0, mean of no rows is NaN, V = 1 gives 0', () => {
    const F = 3.4028234663852886e38;
    const none: CrossEntropyArgs = { labelSmoothing: 0, reduction: 'none', count: 3 };
    const r = rt.crossEntropy(new Float32Array([0, 0, 1e30, 0, F, -F, -Infinity, 5]), new Float32Array([1, 1, 1, 0]), 4, 2, none);
    expect(r.loss[0]).toBeCloseTo(Math.LN2, 6);
    expect(r.loss[1]).toBe(Math.fround(1e30));
    expect(r.loss[2]).toBe(Infinity); // F − (−F) overflows float32
    expect(r.loss[3]).toBe(Infinity); // target logit −Inf
    const ign = rt.crossEntropy(new Float32Array([NaN, 1, 2, 3]), new Float32Array([IGNORED, 0]), 2, 2, { labelSmoothing: 0, reduction: 'mean', count: 1 });
    expect(Number.isFinite(ign.loss[0])).toBe(true);
    expect(ign.lse[0]).toBeNaN();
    const noRows = rt.crossEntropy(new Float32Array([1, 2]), new Float32Array([IGNORED]), 1, 2, { labelSmoothing: 0, reduction: 'mean', count: 0 });
    expect(noRows.loss[0]).toBeNaN();
    const v1 = rt.crossEntropy(new Float32Array([7, -3]), new Float32Array([0, 0]), 2, 1, { labelSmoothing: 0.3, reduction: 'sum', count: 2 });
    expect(v1.loss[0]).toBe(0);
  });

  it('two threads give the bits of one, forward (every reduction) and backward', () => {
    const N = 3001;
    const V = 37;
    const x = generate({ seed: 9, profile: 'normal', scale: 10, nan: 0.0005, posInf: 0.0002, negInf: 0.01, maskedRow: 0.01 }, N, V);
    const t = targetsOf(10, N, V, 0.1);
    const count = countTargets(t, N, IGNORED);
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      const o: CrossEntropyArgs = { labelSmoothing: 0.1, reduction, count };
      const a = rt.crossEntropy(x, t, N, V, o, { threads: 1 });
      const b = rt.crossEntropy(x, t, N, V, o, { threads: 2 });
      expectSameBits(`crossEntropy ${reduction} loss`, b.loss, a.loss);
      expectSameBits(`crossEntropy ${reduction} lse`, b.lse, a.lse);
      const dl = new Float32Array(reduction === 'none' ? N : 1).fill(0.5);
      expectSameBits(`crossEntropyBackward ${reduction}`, rt.crossEntropyBackward(dl, x, t, a.lse, N, V, o, { threads: 2 }), rt.crossEntropyBackward(dl, x, t, a.lse, N, V, o, { threads: 1 }));
    }
  });
});
