import { describe, expect, test } from 'vitest';
import { adamwChecks } from '../../src/testing/suites/adamw.js';
import { backendsUnderTest, contextFor, deviceFor } from '../support/devices.js';
import { adamw } from '../../src/kernels/adamw.js';
import { tensor } from '../../src/tensor.js';

for (const backend of backendsUnderTest()) {
  describe(`adamw on ${backend}`, () => {
    for (const check of adamwChecks) {
      test(check.id, async () => {
        await check.run(await contextFor(backend, check));
      });
    }
  });
}

describe('adamw: empty and size-1 tensors', () => {
  for (const backend of backendsUnderTest()) {
    test(`on ${backend}`, async () => {
      const d = await deviceFor(backend);
      const e = tensor([], [0, 3]);
      const out = await adamw(d, { param: e, grad: e, m: e, v: e }, { lr: 1e-3, step: 1 });
      expect(out.param.shape).toEqual([0, 3]);
      expect(out.m.shape).toEqual([0, 3]);
      expect(out.v.shape).toEqual([0, 3]);
      // one element, g = 2 from zero moments, β₁ = β₂ = 0, no decay: θ' = θ − lr·2/(2 + eps)
      const one = await adamw(d, { param: tensor([1], [1]), grad: tensor([2], [1]), m: tensor([0], [1]), v: tensor([0], [1]) }, { lr: 0.5, step: 1, beta1: 0, beta2: 0, weightDecay: 0, eps: 1e-3 });
      expect(await one.m.toArray()).toEqual([2]);
      expect(await one.v.toArray()).toEqual([4]);
      const [p] = await one.param.toArray();
      expect(Math.abs(p - (1 - 0.5 * 2 / (2 + 1e-3)))).toBeLessThan(1e-6);
    });
  }
});
