import { describe, expect, test } from 'vitest';
import { geluChecks } from '../../src/testing/suites/gelu.js';
import { backendsUnderTest, contextFor, deviceFor } from '../support/devices.js';
import { gelu, geluBackward } from '../../src/kernels/gelu.js';
import { tensor } from '../../src/tensor.js';

for (const backend of backendsUnderTest()) {
  describe(`gelu on ${backend}`, () => {
    for (const check of geluChecks) {
      test(check.id, async () => {
        await check.run(await contextFor(backend, check));
      });
    }
  });
}

describe('gelu: empty, size-1 and higher-rank shapes', () => {
  for (const backend of backendsUnderTest()) {
    test(`on ${backend}`, async () => {
      const d = await deviceFor(backend);
      for (const approximate of ['none', 'tanh'] as const) {
        expect((await gelu(d, tensor([], [0, 5]), { approximate })).shape).toEqual([0, 5]);
        expect((await geluBackward(d, tensor([], [4, 0]), tensor([], [4, 0]), { approximate })).shape).toEqual([4, 0]);
        // gelu(0) = 0 and gelu'(0) = ½ exactly in both forms
        expect(await (await gelu(d, tensor([0], [1, 1]), { approximate })).toArray()).toEqual([0]);
        expect(await (await geluBackward(d, tensor([1], [1]), tensor([0], [1]), { approximate })).toArray()).toEqual([0.5]);
        const y = await gelu(d, tensor([1, -1, 2, -2, 3, -3, 1e30, -1e30], [2, 2, 2]), { approximate });
        expect(y.shape).toEqual([2, 2, 2]);
        const v = await y.toArray();
        expect(v[6]).toBe(Math.fround(1e30));
        expect(v[7] === 0).toBe(true);
      }
    });
  }
});
