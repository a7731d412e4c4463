import { describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { residual, residualBackward, residualBackwardRef, residualRef } from '../../src/kernels/residual.js';
import { tensor } from '../../src/tensor.js';
import { checkGradient } from '../../src/testing/gradcheck.js';
import { generate, ORDINARY, widen } from '../../src/testing/values.js';

describe('residual: bad input', () => {
  test('errors name the argument and the shapes', async () => {
    const d = await createDevice({ backend: 'reference' });
    await expect(residual(d, tensor([1, 2, 3], [3]), tensor([1, 2], [2]))).rejects.toThrow(/residual: 'b' has shape \[2\] but 'a' has shape \[3\]; they must match/);
    // no broadcasting, not even of size-1 dimensions
    await expect(residual(d, tensor([1, 2, 3, 4], [2, 2]), tensor([1, 2], [1, 2]))).rejects.toThrow(/residual: 'b' has shape \[1, 2\] but 'a' has shape \[2, 2\]/);
    await expect(residual(d, tensor([1, 2], [1, 2]), tensor([1, 2], [2]))).rejects.toThrow(/residual: 'b' has shape \[2\] but 'a' has shape \[1, 2\]/);
    await expect(residual(d, 'a' as never, tensor([1], [1]))).rejects.toThrow(/residual: 'a' must be a Tensor/);
    await expect(residual(d, tensor([1], [1]), null as never)).rejects.toThrow(/residual: 'b' must be a Tensor/);
    await expect(residual(d, tensor(new Int32Array([1, 2]), [2]), tensor([1, 2], [2]))).rejects.toThrow(/residual: 'a' must be a float tensor, got int32/);
    await expect(residualBackward(d, tensor(new Int32Array([1]), [1]))).rejects.toThrow(/residualBackward: 'dout' must be a float tensor/);
    await expect(residualBackward(d, 3 as never)).rejects.toThrow(/residualBackward: 'dout' must be a Tensor/);
  });

  test('the reference returns fresh gradient tensors', async () => {
    const d = await createDevice({ backend: 'reference' });
    const dout = tensor(new Float64Array([1, -2, 3]), [3]);
    const { da, db } = await residualBackward(d, dout);
    expect(da.data).not.toBe(dout.data);
    expect(db.data).not.toBe(da.data);
    expect(Array.from(da.data)).toEqual([1, -2, 3]);
    expect(Array.from(db.data)).toEqual([1, -2, 3]);
  });
});

describe('residual: FP64 backward agrees with central finite differences', () => {
  for (const n of [1, 7, 100]) {
    test(`n = ${n}`, () => {
      const a = widen(generate({ ...ORDINARY, seed: n, scale: 3 }, 1, n));
      const b = widen(generate({ ...ORDINARY, seed: n + 1, scale: 3 }, 1, n));
      const w = widen(generate({ ...ORDINARY, seed: n + 2 }, 1, n));
      const { da, db } = residualBackwardRef(w);
      checkGradient({ name: 'residual (a)', x: a, forward: (aa) => residualRef(aa, b), w, analytic: da });
      checkGradient({ name: 'residual (b)', x: b, forward: (bb) => residualRef(a, bb), w, analytic: db });
    });
  }

  test('the finite-difference check catches a wrong gradient', () => {
    const a = widen(generate({ ...ORDINARY, seed: 3 }, 1, 5));
    const b = widen(generate({ ...ORDINARY, seed: 4 }, 1, 5));
    const w = widen(generate({ ...ORDINARY, seed: 5 }, 1, 5));
    // da = 2·dout: the gradient of a + a, a classic aliasing mistake
    const wrong = w.map((v) => 2 * v);
    expect(() => checkGradient({ name: 'residual', x: a, forward: (aa) => residualRef(aa, b), w, analytic: wrong })).toThrow(/residual: gradient at/);
  });
});
