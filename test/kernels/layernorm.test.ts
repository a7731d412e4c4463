import { describe, expect, test } from 'vitest';
import { layerNormChecks } from '../../src/testing/suites/layernorm.js';
import { backendsUnderTest, contextFor, deviceFor } from '../support/devices.js';
import { layerNorm, layerNormBackward } from '../../src/kernels/layernorm.js';
import { tensor } from '../../src/tensor.js';

for (const backend of backendsUnderTest()) {
  describe(`layerNorm on ${backend}`, () => {
    for (const check of layerNormChecks) {
      test(check.id, async () => {
        await check.run(await contextFor(backend, check));
      });
    }
  });
}

describe('layerNorm: empty, size-1 and higher-rank shapes', () => {
  for (const backend of backendsUnderTest()) {
    test(`on ${backend}`, async () => {
      const d = await deviceFor(backend);
      const w3 = tensor([1, 2, 3], [3]);
      const b3 = tensor([0.5, 0, -0.5], [3]);
      // N = 0
      const e = await layerNorm(d, tensor([], [0, 3]), w3, b3);
      expect(e.out.shape).toEqual([0, 3]);
      expect(e.mean.shape).toEqual([0]);
      const ge = await layerNormBackward(d, tensor([], [0, 3]), tensor([], [0, 3]), w3, e.mean, e.rstd);
      expect(await ge.dweight.toArray()).toEqual([0, 0, 0]);
      expect(await ge.dbias.toArray()).toEqual([0, 0, 0]);
      // C = 0: no channels, no mean
      const z = await layerNorm(d, tensor([], [2, 0]), tensor([], [0]), tensor([], [0]));
      expect(z.out.shape).toEqual([2, 0]);
      expect((await z.mean.toArray()).every(Number.isNaN)).toBe(true);
      // C = 1: out = bias exactly, rstd = 1/√eps
      const one = await layerNorm(d, tensor([7, -3], [2, 1]), tensor([2], [1]), tensor([0.25], [1]));
      expect(await one.out.toArray()).toEqual([0.25, 0.25]);
      expect(await one.mean.toArray()).toEqual([7, -3]);
      // (B, T, C): statistics have shape (B, T)
      const x = tensor(Array.from({ length: 2 * 3 * 3 }, (_, i) => (i * 7) % 5), [2, 3, 3]);
      const r = await layerNorm(d, x, w3, b3);
      expect(r.out.shape).toEqual([2, 3, 3]);
      expect(r.mean.shape).toEqual([2, 3]);
      expect(r.rstd.shape).toEqual([2, 3]);
      const g = await layerNormBackward(d, x, x, w3, r.mean, r.rstd);
      expect(g.dx.shape).toEqual([2, 3, 3]);
      expect(g.dweight.shape).toEqual([3]);
      expect(g.dbias.shape).toEqual([3]);
      // the statistics flattened to (N) are accepted too, with the same result
      const g2 = await layerNormBackward(d, x, x, w3, r.mean.reshape([6]), r.rstd.reshape([6]));
      expect(await g2.dx.toArray()).toEqual(await g.dx.toArray());
    });
  }
});
