import { describe, expect, test } from 'vitest';
import { softmaxChecks } from '../../src/testing/suites/softmax.js';
import { backendsUnderTest, contextFor, deviceFor } from '../support/devices.js';
import { logSoftmax, logSumExp, softmax } from '../../src/kernels/softmax.js';
import { tensor } from '../../src/tensor.js';

for (const backend of backendsUnderTest()) {
  describe(`softmax family on ${backend}`, () => {
    for (const check of softmaxChecks) {
      test(check.id, async () => {
        await check.run(await contextFor(backend, check));
      });
    }
  });
}

describe('softmax family: empty and size-1 dimensions', () => {
  for (const backend of backendsUnderTest()) {
    test(`on ${backend}`, async () => {
      const d = await deviceFor(backend);
      expect((await softmax(d, tensor([], [0, 5]))).shape).toEqual([0, 5]);
      expect((await softmax(d, tensor([], [3, 0]))).shape).toEqual([3, 0]);
      const lse = await logSumExp(d, tensor([], [2, 0]));
      expect(await lse.toArray()).toEqual([-Infinity, -Infinity]);
      expect(await (await softmax(d, tensor([7.5], [1, 1]))).toArray()).toEqual([1]);
      expect(await (await logSoftmax(d, tensor([-3], [1]))).toArray()).toEqual([0]);
      expect(await (await logSumExp(d, tensor([-3], [1]))).toArray()).toEqual([-3]);
    });
  }
});

