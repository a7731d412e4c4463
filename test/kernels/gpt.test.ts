/**
 * The GPT on each backend against the FP64 reference GPT (same code on the
 * reference device): gradients of every parameter, and KV-cache decoding
 * against a full forward pass.
 *
 * The gradient bound. Every kernel's float32 result is within its own bound
 * of the exact result, which is a relative error of at most ε per kernel
 * output, with ε taken from the backend's error model: an exp of an argument
 * up to 16 in size (attention and softmax scores here), a division, the final
 * store and 8 roundings of arithmetic around them:
 *   ε = expRel(16) + divRel + uStore + 8u.
 * A relative perturbation of size ε in the values the gradient depends on
 * moves the gradient by at most κ·ε·‖g‖∞, where κ is the gradient's relative
 * condition number. We measure κ on the FP64 model itself, by perturbing all
 * parameters by independent relative amounts ±δ (δ = 2^-20) and taking the
 * worst ‖Δg‖∞/(δ‖g‖∞) over a few draws. A forward and backward pass composes
 * about 40 kernels along its longest path, and each adds its own ε: the bound
 * allows 64·κ·ε·‖g‖∞, which covers 40 independent contributions of κ·ε with
 * the rest as a margin for the condition number being estimated, not proven.
 * It is still far below a real bug: a wrong or missing gradient term is an
 * O(1) relative error, 1/(64·κ·ε) ≈ 10^3…10^5 times the allowance.
 */
import { describe, expect, test } from 'vitest';
import { GPT } from '../../src/model/gpt.js';
import { backendsUnderTest, deviceFor, recorder } from '../support/devices.js';
import { CONFIG, compareGptGradients, data, fill } from '../support/gpt-check.js';

const T = CONFIG.maxT;

for (const backend of backendsUnderTest()) {
  describe(`GPT on ${backend}`, () => {
    test('every parameter gradient is within the derived bound of the FP64 GPT', async () => {
      const r = await compareGptGradients(await deviceFor(backend), recorder);
      expect(r.worst, r.message).toBeLessThanOrEqual(r.allowed);
    });

    test('KV-cache decoding gives the logits of a full forward pass', async () => {
      const d = await deviceFor(backend);
      const model = new GPT(d, CONFIG);
      fill(model, 4);
      const { tokens } = data(5);
      const seq = tokens.subarray(0, T);
      const full = await model.forward(seq, 1, T);
      const logits = await full.logits.read();
      model.release(full.cache);
      const cache = model.newKVCache();
      let worst = 0;
      let scale = 0;
      for (let t = 0; t < T; t++) {
        const step = await model.decodeStep(seq[t], cache);
        for (let v = 0; v < CONFIG.V; v++) {
          worst = Math.max(worst, Math.abs(step[v] - logits[t * CONFIG.V + v]));
          scale = Math.max(scale, Math.abs(logits[t * CONFIG.V + v]));
        }
      }
      // both paths run the same kernels over the same keys in the same order (the causal mask removes
      // later keys instead of adding zeros), so they agree to within the float32 rounding of a logit
      expect(worst).toBeLessThanOrEqual(2 ** -22 * scale);
    });
  });
}
