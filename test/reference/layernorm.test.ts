import { describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { layerNorm, layerNormBackward, layerNormBackwardRef, layerNormRef } from '../../src/kernels/layernorm.js';
import { tensor } from '../../src/tensor.js';
import { checkGradient } from '../../src/testing/gradcheck.js';
import { generate, ORDINARY, widen } from '../../src/testing/values.js';

describe('layerNorm: bad input', () => {
  test('errors name the argument and the shapes', async () => {
    const d = await createDevice({ backend: 'reference' });
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const w = tensor([1, 1, 1], [3]);
    const b = tensor([0, 0, 0], [3]);
    await expect(layerNorm(d, x, tensor([1, 1], [2]), b)).rejects.toThrow(/layerNorm: 'weight' must have shape \[C\] = \[3\] to match x of shape \[2, 3\], got \[2\]/);
    await expect(layerNorm(d, x, w, tensor([0, 0, 0], [1, 3]))).rejects.toThrow(/layerNorm: 'bias' must have shape \[C\] = \[3\] to match x of shape \[2, 3\], got \[1, 3\]/);
    await expect(layerNorm(d, x, w, b, { epsilon: 1e-5 } as never)).rejects.toThrow(/layerNorm: unknown option 'epsilon'; known options are 'eps'/);
    await expect(layerNorm(d, x, w, b, { eps: 0 })).rejects.toThrow(/layerNorm: 'eps' must be >= 1\.1754943508222875e-38, got 0/);
    await expect(layerNorm(d, x, w, b, { eps: -1 })).rejects.toThrow(/layerNorm: 'eps' must be >= 1\.1754943508222875e-38, got -1/);
    await expect(layerNorm(d, x, w, b, { eps: 1e-40 })).rejects.toThrow(/layerNorm: 'eps' must be >= 1\.1754943508222875e-38, got 1e-40/);
    await expect(layerNorm(d, x, w, b, { eps: NaN })).rejects.toThrow(/layerNorm: 'eps' must be a finite number, got NaN/);
    await expect(layerNorm(d, tensor([1], []), tensor([1], [1]), tensor([0], [1]))).rejects.toThrow(/layerNorm: 'x' must have at least one dimension \(N, C\)/);
    await expect(layerNorm(d, 'x' as never, w, b)).rejects.toThrow(/layerNorm: 'x' must be a Tensor/);
    await expect(layerNorm(d, tensor(new Int32Array([1, 2, 3]), [1, 3]), w, b)).rejects.toThrow(/layerNorm: 'x' must be a float tensor, got int32/);
    const { mean, rstd } = await layerNorm(d, x, w, b);
    await expect(layerNormBackward(d, tensor([1, 2, 3], [1, 3]), x, w, mean, rstd)).rejects.toThrow(/layerNormBackward: 'dout' must have shape \[N, C\] = \[2, 3\], got \[1, 3\]/);
    await expect(layerNormBackward(d, x, x, w, tensor([0, 0, 0], [3]), rstd)).rejects.toThrow(/layerNormBackward: 'mean' must have shape \[N\] = \[2\], got \[3\]/);
    await expect(layerNormBackward(d, x, x, w, mean, tensor([1], [1]))).rejects.toThrow(/layerNormBackward: 'rstd' must have shape \[N\] = \[2\], got \[1\]/);
    await expect(layerNormBackward(d, x, x, tensor([1], [1]), mean, rstd)).rejects.toThrow(/layerNormBackward: 'weight' must have shape \[C\] = \[3\]/);
  });

  test('the reference follows the contract at the special rows', async () => {
    const d = await createDevice({ backend: 'reference' });
    const x = tensor(new Float64Array([5, 5, 5, 1, NaN, 2, 1e30, -1e30, 0]), [3, 3]);
    const r = await layerNorm(d, x, tensor(new Float64Array([2, 3, 4]), [3]), tensor(new Float64Array([0.5, -1, 0]), [3]));
    const out = await r.out.toArray();
    expect(out.slice(0, 3)).toEqual([0.5, -1, 0]);
    expect(out.slice(3, 6).every(Number.isNaN)).toBe(true);
    // [1e30, −1e30, 0]: var = 2e60/3, x̂ = ±√1.5 exactly up to eps/var ≈ 1e-65
    expect(out[6]).toBeCloseTo(2 * Math.sqrt(1.5) + 0.5, 14);
    expect(out[7]).toBeCloseTo(-3 * Math.sqrt(1.5) - 1, 14);
    // mean = 0 up to the rounding of a sum of ±1e30 terms (relative to the row's scale)
    expect(Math.abs(out[8])).toBeLessThan(1e-14);
    const rstd = await r.rstd.toArray();
    expect(rstd[0]).toBe(1 / Math.sqrt(1e-5));
    expect(rstd[1]).toBeNaN();
    const mean = await r.mean.toArray();
    expect(mean[0]).toBe(5);
    expect(mean[1]).toBeNaN();
    expect(Math.abs(mean[2])).toBeLessThan(1e30 * 1e-15);
  });
});

describe('layerNorm: FP64 backward agrees with central finite differences', () => {
  const cases = [
    { N: 1, C: 1 },
    { N: 2, C: 5 },
    { N: 3, C: 40 },
  ];
  for (const { N, C } of cases) {
    test(`[${N}, ${C}]: dx, dweight and dbias`, () => {
      const seed = N * 100 + C;
      const x = widen(generate({ ...ORDINARY, seed, scale: 2 }, N, C));
      const w = widen(generate({ ...ORDINARY, seed: seed + 1 }, 1, C)).map((v) => 1 + 0.5 * v);
      const b = widen(generate({ ...ORDINARY, seed: seed + 2 }, 1, C));
      const dout = widen(generate({ ...ORDINARY, seed: seed + 3 }, N, C));
      const eps = 1e-3; // large enough that a C = 1 row (var = 0) still has a smooth output
      const fwd = layerNormRef(x, w, b, N, C, eps);
      const g = layerNormBackwardRef(dout, x, w, fwd.mean, fwd.rstd, N, C);
      // |∂out/∂x| ≤ rstd·|w|·(1 + |x̂|²/C + 1/C)·… : bounded by 4·max rstd·max|w| for these inputs
      const scale = 4 * Math.max(...fwd.rstd) * Math.max(...w.map(Math.abs));
      checkGradient({ name: 'layerNorm dx', x, shape: [N, C], forward: (xx) => layerNormRef(xx, w, b, N, C, eps).out, w: dout, analytic: g.dx, scale });
      checkGradient({ name: 'layerNorm dweight', x: w, shape: [C], forward: (ww) => layerNormRef(x, ww, b, N, C, eps).out, w: dout, analytic: g.dweight, scale: 4 });
      checkGradient({ name: 'layerNorm dbias', x: b, shape: [C], forward: (bb) => layerNormRef(x, w, bb, N, C, eps).out, w: dout, analytic: g.dbias });
    });
  }

  test('a zero-variance row has a finite gradient: dx = rstd·(g − mean(g))', () => {
    const C = 4;
    const x = new Float64Array([2, 2, 2, 2]);
    const w = new Float64Array([1, 2, 3, 4]);
    const dout = new Float64Array([1, -1, 0.5, 2]);
    for (const eps of [1e-5, 1]) {
      const fwd = layerNormRef(x, w, new Float64Array(C), 1, C, eps);
      expect(fwd.rstd[0]).toBe(1 / Math.sqrt(eps));
      const g = layerNormBackwardRef(dout, x, w, fwd.mean, fwd.rstd, 1, C);
      const gw = w.map((v, j) => v * dout[j]);
      const mg = gw.reduce((a, v) => a + v, 0) / C;
      expect(Array.from(g.dx)).toEqual(Array.from(gw.map((v) => fwd.rstd[0] * (v - mg))));
      expect(Array.from(g.dweight)).toEqual([0, 0, 0, 0]);
      // the FD check agrees where the output is smooth on the step's scale (h = 2^-6 ≪ √eps = 1)
      if (eps === 1) {
        checkGradient({ name: 'layerNorm dx at a constant row', x, forward: (xx) => layerNormRef(xx, w, new Float64Array(C), 1, C, eps).out, w: dout, analytic: g.dx, scale: 16 });
      }
    }
  });

  test('the finite-difference check catches a wrong gradient', () => {
    const N = 2;
    const C = 6;
    const x = widen(generate({ ...ORDINARY, seed: 5, scale: 2 }, N, C));
    const w = new Float64Array(C).fill(1);
    const b = new Float64Array(C);
    const dout = widen(generate({ ...ORDINARY, seed: 6 }, N, C));
    const fwd = layerNormRef(x, w, b, N, C);
    // dx = rstd·(g − mean(g)): the x̂·mean(g·x̂) term forgotten
    const wrong = new Float64Array(N * C);
    for (let r = 0; r < N; r++) {
      let m = 0;
      for (let j = 0; j < C; j++) m += dout[r * C + j] / C;
      for (let j = 0; j < C; j++) wrong[r * C + j] = fwd.rstd[r] * (dout[r * C + j] - m);
    }
    expect(() => checkGradient({ name: 'layerNorm', x, forward: (xx) => layerNormRef(xx, w, b, N, C).out, w: dout, analytic: wrong, scale: 4 * Math.max(...fwd.rstd) })).toThrow(/layerNorm: gradient at/);
  });
});
