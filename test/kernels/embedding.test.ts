import { describe, expect, test } from 'vitest';
import { embeddingChecks } from '../../src/testing/suites/embedding.js';
import { backendsUnderTest, contextFor, deviceFor } from '../support/devices.js';
import { embedding, embeddingBackward } from '../../src/kernels/embedding.js';
import { tensor } from '../../src/tensor.js';

for (const backend of backendsUnderTest()) {
  describe(`embedding on ${backend}`, () => {
    for (const check of embeddingChecks) {
      test(check.id, async () => {
        await check.run(await contextFor(backend, check));
      });
    }
  });
}

describe('embedding: empty and size-1 dimensions', () => {
  for (const backend of backendsUnderTest()) {
    test(`on ${backend}`, async () => {
      const d = await deviceFor(backend);
      const wte = tensor([1, 2, 3, 4, 5, 6], [3, 2]);
      const wpe = tensor([0.5, 0.25, -1, 1], [2, 2]);
      expect((await embedding(d, tensor([], [0, 2], 'int32'), wte, wpe)).shape).toEqual([0, 2, 2]);
      expect((await embedding(d, tensor([], [2, 0], 'int32'), wte, wpe)).shape).toEqual([2, 0, 2]);
      expect((await embedding(d, tensor([2, 0], [1, 2], 'int32'), tensor([], [3, 0]), tensor([], [2, 0]))).shape).toEqual([1, 2, 0]);
      expect(await (await embedding(d, tensor([2], [1, 1], 'int32'), wte, wpe)).toArray()).toEqual([5.5, 6.25]);
      expect(await (await embedding(d, tensor([0], [1, 1]), tensor([7], [1, 1]), tensor([-2], [1, 1]))).toArray()).toEqual([5]);
      const g = await embeddingBackward(d, tensor([], [0, 2, 2]), tensor([], [0, 2], 'int32'), 3, 2);
      expect(await g.dwte.toArray()).toEqual([0, 0, 0, 0, 0, 0]);
      expect(await g.dwpe.toArray()).toEqual([0, 0, 0, 0]);
      const one = await embeddingBackward(d, tensor([1.5], [1, 1, 1]), tensor([0], [1, 1], 'int32'), 1, 3);
      expect(await one.dwte.toArray()).toEqual([1.5]);
      expect(await one.dwpe.toArray()).toEqual([1.5, 0, 0]);
    });
  }
});
