import { describe, expect, test } from 'vitest';
import { attentionChecks } from '../../src/testing/suites/attention.js';
import { backendsUnderTest, contextFor, deviceFor } from '../support/devices.js';
import { attention, attentionBackward } from '../../src/kernels/attention.js';
import { tensor } from '../../src/tensor.js';

for (const backend of backendsUnderTest()) {
  describe(`attention on ${backend}`, () => {
    for (const check of attentionChecks) {
      test(check.id, async () => {
        await check.run(await contextFor(backend, check));
      });
    }
  });
}

describe('attention: empty and size-1 dimensions', () => {
  for (const backend of backendsUnderTest()) {
    test(`on ${backend}`, async () => {
      const d = await deviceFor(backend);
      const z = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
      // B·NH = 0 and T = 0: empty outputs
      let r = await attention(d, z([0, 2, 3, 4]), z([0, 2, 5, 4]), z([0, 2, 5, 4]));
      expect(r.out.shape).toEqual([0, 2, 3, 4]);
      expect(r.lse.shape).toEqual([0, 2, 3]);
      r = await attention(d, z([1, 2, 0, 4]), z([1, 2, 5, 4]), z([1, 2, 5, 4]), { causal: true });
      expect(r.out.shape).toEqual([1, 2, 0, 4]);
      // S = 0: every row fully masked, out 0 and lse −Inf
      r = await attention(d, tensor([1, 2, 3, 4], [1, 1, 2, 2]), z([1, 1, 0, 2]), z([1, 1, 0, 2]));
      expect(await r.out.toArray()).toEqual([0, 0, 0, 0]);
      expect(await r.lse.toArray()).toEqual([-Infinity, -Infinity]);
      // hs = 0: out empty, lse = log Σ exp(mask) over the included keys (scores are empty sums)
      const mask = tensor([0, Math.log(3), -Infinity], [1, 3]);
      r = await attention(d, z([1, 1, 1, 0]), z([1, 1, 3, 0]), z([1, 1, 3, 0]), { mask });
      expect(r.out.shape).toEqual([1, 1, 1, 0]);
      expect((await r.lse.toArray())[0]).toBeCloseTo(Math.log(4), 6);
      // size 1 everywhere: the single value comes out, lse is the scaled score
      r = await attention(d, tensor([2], [1, 1, 1, 1]), tensor([3], [1, 1, 1, 1]), tensor([-7.5], [1, 1, 1, 1]));
      expect(await r.out.toArray()).toEqual([-7.5]);
      expect(await r.lse.toArray()).toEqual([6]);
      // backward with empty dimensions: zeros of the input shapes
      const g = await attentionBackward(d, z([1, 1, 2, 2]), tensor([1, 2, 3, 4], [1, 1, 2, 2]), z([1, 1, 0, 2]), z([1, 1, 0, 2]), z([1, 1, 2, 2]), tensor([-Infinity, -Infinity], [1, 1, 2]));
      expect(await g.dq.toArray()).toEqual([0, 0, 0, 0]);
      expect(g.dk.shape).toEqual([1, 1, 0, 2]);
      const g2 = await attentionBackward(d, z([1, 1, 0, 2]), z([1, 1, 0, 2]), z([1, 1, 3, 2]), z([1, 1, 3, 2]), z([1, 1, 0, 2]), z([1, 1, 0]));
      expect(await g2.dk.toArray()).toEqual([0, 0, 0, 0, 0, 0]);
      expect(await g2.dv.toArray()).toEqual([0, 0, 0, 0, 0, 0]);
    });
  }
});
