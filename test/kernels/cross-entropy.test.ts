import { describe, expect, test } from 'vitest';
import { crossEntropyChecks } from '../../src/testing/suites/cross-entropy.js';
import { backendsUnderTest, contextFor, deviceFor } from '../support/devices.js';
import { crossEntropy, crossEntropyBackward } from '../../src/kernels/cross-entropy.js';
import { tensor } from '../../src/tensor.js';

for (const backend of backendsUnderTest()) {
  describe(`crossEntropy on ${backend}`, () => {
    for (const check of crossEntropyChecks) {
      test(check.id, async () => {
        await check.run(await contextFor(backend, check));
      });
    }
  });
}

describe('crossEntropy: empty and size-1 dimensions', () => {
  for (const backend of backendsUnderTest()) {
    test(`on ${backend}`, async () => {
      const d = await deviceFor(backend);
      const none = tensor([], [0], 'int32');
      // N = 0: 'mean' is 0/0 = NaN as in PyTorch, 'sum' the empty sum, 'none' empty
      const mean = await crossEntropy(d, tensor([], [0, 5]), none);
      expect(mean.loss.shape).toEqual([]);
      expect(await mean.loss.toArray()).toEqual([NaN]);
      expect(mean.lse.shape).toEqual([0]);
      expect(await (await crossEntropy(d, tensor([], [0, 5]), none, { reduction: 'sum' })).loss.toArray()).toEqual([0]);
      expect((await crossEntropy(d, tensor([], [0, 5]), none, { reduction: 'none' })).loss.shape).toEqual([0]);
      expect((await crossEntropyBackward(d, tensor([1], []), tensor([], [0, 5]), none, tensor([], [0]))).shape).toEqual([0, 5]);
      // V = 0 admits only ignored targets: every row contributes 0, lse is the empty sum's log
      const v0 = await crossEntropy(d, tensor([], [2, 0]), tensor([-100, -100], [2], 'int32'), { reduction: 'none' });
      expect(await v0.loss.toArray()).toEqual([0, 0]);
      expect(await v0.lse.toArray()).toEqual([-Infinity, -Infinity]);
      // V = 1: the only class has probability 1, so the loss is 0 with or without smoothing
      const v1 = await crossEntropy(d, tensor([7.5, -2], [2, 1]), tensor([0, 0], [2], 'int32'), { reduction: 'none', labelSmoothing: 0.3 });
      expect(await v1.loss.toArray()).toEqual([0, 0]);
      expect(await v1.lse.toArray()).toEqual([7.5, -2]);
      const g1 = await crossEntropyBackward(d, tensor([1, 2], [2]), tensor([7.5, -2], [2, 1]), tensor([0, 0], [2], 'int32'), v1.lse, { reduction: 'none', labelSmoothing: 0.3 });
      expect(await g1.toArray()).toEqual([0, 0]);
      // N = 1, and (B, T, V) logits with (B, T) targets
      const one = await crossEntropy(d, tensor([0, 0], [1, 2]), tensor([1], [1]));
      expect(Math.abs((await one.loss.toArray())[0] - Math.LN2)).toBeLessThan(1e-6);
      const btv = await crossEntropy(d, tensor([0, 0, 0, 0, 0, 0, 0, 0], [2, 1, 4]), tensor([3, 0], [2, 1], 'int32'), { reduction: 'none' });
      expect(btv.loss.shape).toEqual([2, 1]);
      expect(btv.lse.shape).toEqual([2, 1]);
      for (const v of await btv.loss.toArray()) expect(Math.abs(v - Math.log(4))).toBeLessThan(1e-6);
    });
  }
});
