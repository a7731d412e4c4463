import { describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import {
  logSoftmaxBackwardRef,
  logSoftmaxRef,
  logSumExpBackwardRef,
  logSumExpRef,
  softmax,
  softmaxBackward,
  softmaxBackwardRef,
  softmaxRef,
} from '../../src/kernels/softmax.js';
import { tensor } from '../../src/tensor.js';
import { checkGradient } from '../../src/testing/gradcheck.js';
import { generate, ORDINARY, widen } from '../../src/testing/values.js';

describe('softmax family: bad input', () => {
  test('errors name the argument and the shapes', async () => {
    const d = await createDevice({ backend: 'reference' });
    await expect(softmax(d, tensor([1, 2], [2]), { axis: 0 } as never)).rejects.toThrow(/softmax: unknown option 'axis'/);
    await expect(softmax(d, 'x' as never)).rejects.toThrow(/softmax: 'x' must be a Tensor/);
    await expect(softmaxBackward(d, tensor([1, 2, 3], [3]), tensor([1, 2], [2]))).rejects.toThrow(/softmaxBackward: 'dy' has shape \[3\] but 'y' has shape \[2\]/);
    expect(() => tensor([1, 2], [])).toThrow(/data has length 2 but shape \[\] needs 1/);
    await expect(softmax(d, tensor([5], []))).rejects.toThrow(/softmax: 'x' must have at least one dimension \(N, V\), got a scalar/);
    await expect(softmax(d, tensor(new Int32Array([1, 2]), [2]))).rejects.toThrow(/softmax: 'x' must be a float tensor, got int32/);
  });
});

describe('softmax family: FP64 backward passes agree with central finite differences', () => {
  const cases = [
    { N: 1, V: 1 },
    { N: 3, V: 5 },
    { N: 2, V: 40 },
  ];
  for (const { N, V } of cases) {
    test(`[${N}, ${V}]`, () => {
      const x = widen(generate({ ...ORDINARY, seed: N * 100 + V, scale: 3 }, N, V));
      const w = widen(generate({ ...ORDINARY, seed: N * 100 + V + 1 }, N, V));
      const wRow = widen(generate({ ...ORDINARY, seed: N * 100 + V + 2 }, 1, N));
      const y = softmaxRef(x, N, V);
      checkGradient({ name: 'softmax', x, shape: [N, V], forward: (xx) => softmaxRef(xx, N, V), w, analytic: softmaxBackwardRef(w, y, N, V) });
      const ly = logSoftmaxRef(x, N, V);
      checkGradient({ name: 'logSoftmax', x, shape: [N, V], forward: (xx) => logSoftmaxRef(xx, N, V), w, analytic: logSoftmaxBackwardRef(w, ly, N, V) });
      const lse = logSumExpRef(x, N, V);
      checkGradient({ name: 'logSumExp', x, shape: [N, V], forward: (xx) => logSumExpRef(xx, N, V), w: wRow, analytic: logSumExpBackwardRef(wRow, x, lse, N, V) });
    });
  }

  test('the finite-difference check catches a wrong gradient', () => {
    const N = 2;
    const V = 4;
    const x = widen(generate({ ...ORDINARY, seed: 7, scale: 3 }, N, V));
    const w = widen(generate({ ...ORDINARY, seed: 8 }, N, V));
    const y = softmaxRef(x, N, V);
    // dx = y ⊙ dy, i.e. the Jacobian's diagonal only: a classic mistake
    const wrong = y.map((v, i) => v * w[i]);
    expect(() => checkGradient({ name: 'softmax', x, forward: (xx) => softmaxRef(xx, N, V), w, analytic: wrong })).toThrow(/softmax: gradient at/);
  });
});
