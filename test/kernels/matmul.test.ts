import { describe, expect, test } from 'vitest';
import { matmulChecks } from '../../src/testing/suites/matmul.js';
import { backendsUnderTest, contextFor, deviceFor } from '../support/devices.js';
import { matmul, matmulBackward } from '../../src/kernels/matmul.js';
import { tensor } from '../../src/tensor.js';

for (const backend of backendsUnderTest()) {
  describe(`matmul on ${backend}`, () => {
    for (const check of matmulChecks) {
      test(check.id, async () => {
        await check.run(await contextFor(backend, check));
      });
    }
  });
}

describe('matmul: empty and size-1 dimensions', () => {
  for (const backend of backendsUnderTest()) {
    test(`on ${backend}`, async () => {
      const d = await deviceFor(backend);
      expect((await matmul(d, tensor([], [0, 3]), tensor([1, 2, 3, 4, 5, 6], [3, 2]))).shape).toEqual([0, 2]);
      expect((await matmul(d, tensor([1, 2], [1, 2]), tensor([], [2, 0]))).shape).toEqual([1, 0]);
      expect(await (await matmul(d, tensor([], [2, 0]), tensor([], [0, 2]))).toArray()).toEqual([0, 0, 0, 0]);
      expect(await (await matmul(d, tensor([], [1, 0]), tensor([], [0, 2]), { bias: tensor([3, -4], [2]) })).toArray()).toEqual([3, -4]);
      expect(await (await matmul(d, tensor([3], [1]), tensor([-2], [1, 1]), { bias: tensor([0.5], [1]) })).toArray()).toEqual([-5.5]);
      expect((await matmul(d, tensor([1, 2, 3], [3]), tensor([1, 1, 1], [1, 3]), { transB: true })).shape).toEqual([1]);
      const g = await matmulBackward(d, tensor([2], [1, 1]), tensor([3], [1, 1]), tensor([5], [1, 1]), { bias: true });
      expect(await g.da.toArray()).toEqual([10]);
      expect(await g.db.toArray()).toEqual([6]);
      expect(await g.dbias!.toArray()).toEqual([2]);
      const e = await matmulBackward(d, tensor([], [0, 2]), tensor([], [0, 3]), tensor([1, 2, 3, 4, 5, 6], [2, 3]), { transB: true, bias: true });
      expect(e.da.shape).toEqual([0, 3]);
      expect(await e.db.toArray()).toEqual([0, 0, 0, 0, 0, 0]);
      expect(await e.dbias!.toArray()).toEqual([0, 0]);
    });
  }
});
