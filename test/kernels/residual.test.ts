import { describe, expect, test } from 'vitest';
import { residualChecks } from '../../src/testing/suites/residual.js';
import { backendsUnderTest, contextFor, deviceFor } from '../support/devices.js';
import { residual, residualBackward } from '../../src/kernels/residual.js';
import { tensor } from '../../src/tensor.js';

for (const backend of backendsUnderTest()) {
  describe(`residual on ${backend}`, () => {
    for (const check of residualChecks) {
      test(check.id, async () => {
        await check.run(await contextFor(backend, check));
      });
    }
  });
}

describe('residual: empty, size-1 and higher-rank shapes', () => {
  for (const backend of backendsUnderTest()) {
    test(`on ${backend}`, async () => {
      const d = await deviceFor(backend);
      expect((await residual(d, tensor([], [0, 5]), tensor([], [0, 5]))).shape).toEqual([0, 5]);
      const { da, db } = await residualBackward(d, tensor([], [3, 0]));
      expect(da.shape).toEqual([3, 0]);
      expect(db.shape).toEqual([3, 0]);
      expect(await (await residual(d, tensor([1.5], [1, 1]), tensor([-0.25], [1, 1]))).toArray()).toEqual([1.25]);
      const out = await residual(d, tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]), tensor([8, 7, 6, 5, 4, 3, 2, 1], [2, 2, 2]));
      expect(out.shape).toEqual([2, 2, 2]);
      expect(await out.toArray()).toEqual([9, 9, 9, 9, 9, 9, 9, 9]);
    });
  }
});
