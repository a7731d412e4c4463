/**
 * The suite can fail: deliberately broken crossEntropy kernels, registered
 * over the real ones on the cpu backend, must be caught by the shared checks.
 */
import { afterAll, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { registerKernel } from '../../src/dispatch.js';
import type { CrossEntropyAttrs } from '../../src/kernels/cross-entropy.js';
import { rowMax, rowSum, rowSumExp } from '../../src/kernels/gpujs/rows.js';
import { crossEntropyChecks } from '../../src/testing/suites/cross-entropy.js';
import { makeContext } from '../../src/testing/suite.js';
import { Tensor } from '../../src/tensor.js';

const device = await createDevice({ backend: 'cpu' });
afterAll(() => device.destroy());

const check = (prefix: string) => crossEntropyChecks.find((c) => c.id.startsWith(prefix))!;

/** dlogits = g·p: the gradient of the normaliser alone, without the −y of the target. */
function gradientOfPOnly(this: { thread: { x: number }; constants: { V: number; PER_ROW: number } }, dloss: number[], x: number[], t: number[], lse: number[], gscale: number): number {
  const r = Math.floor(this.thread.x / this.constants.V);
  if (t[r] < 0) {
    return 0;
  }
  return dloss[r * this.constants.PER_ROW] * gscale * Math.exp(x[this.thread.x] - lse[r]);
}

test('a cross-entropy gradient of p instead of p − y is caught', async () => {
  const restore = registerKernel<CrossEntropyAttrs>({
    kernel: 'crossEntropy',
    phase: 'backward',
    backend: 'cpu',
    impl: async (d, { dloss, logits, targets, lse }, a) => {
      const gscale = a.reduction === 'mean' && a.count > 0 ? 1 / a.count : 1;
      const dlogits = await d.gpujs!.run(
        { name: 'broken.ce.backward', fn: gradientOfPOnly, outputs: a.N * a.V, constants: { V: a.V, PER_ROW: a.reduction === 'none' ? 1 : 0 } },
        [dloss, logits, targets, lse, gscale],
        a.shape,
      );
      return { dlogits };
    },
  });
  try {
    await expect(check('crossEntropy.backward: within bound').run(makeContext(device, { numRuns: 100, shrink: false }))).rejects.toThrow(/crossEntropy\.backward 'dlogits' on cpu/);
    await expect(check('crossEntropy.backward: gradient rows sum to 0').run(makeContext(device, { numRuns: 100, shrink: false }))).rejects.toThrow(/crossEntropyBackward row \d+ of .* sums to/);
  } finally {
    restore();
  }
  // with the real kernel back, the same checks pass
  await check('crossEntropy.backward: within bound').run(makeContext(device, { numRuns: 25 }));
  await check('crossEntropy.backward: gradient rows sum to 0').run(makeContext(device, { numRuns: 15 }));
});

/**
 * −(1−ε)·log p_t − (ε/V)·Σ_j log p_j with p_j = exp(x_j)/Σ_k exp(x_k): the
 * textbook formula, taking the log of a softmax computed without subtracting the max.
 */
function naiveRowLoss(this: { thread: { x: number }; constants: { V: number } }, x: number[], t: number[], s: number[], om: number, ep: number, scale: number): number {
  const r = this.thread.x;
  const tr = t[r];
  if (tr < 0) {
    return 0;
  }
  const start = r * this.constants.V;
  let sumLog = 0;
  for (let j = 0; j < this.constants.V; j++) {
    sumLog += Math.log(Math.exp(x[start + j]) / s[r]);
  }
  const lt = Math.log(Math.exp(x[start + tr]) / s[r]);
  let loss = 0;
  if (om > 0) {
    loss -= om * lt;
  }
  if (ep > 0) {
    loss -= (ep / this.constants.V) * sumLog;
  }
  return loss * scale;
}

function lseKernel(this: { thread: { x: number } }, m: number[], s: number[]): number {
  return m[this.thread.x] + Math.log(s[this.thread.x]);
}

test('a loss computed as −log(softmax) without the max subtraction is caught', async () => {
  const restore = registerKernel<CrossEntropyAttrs>({
    kernel: 'crossEntropy',
    phase: 'forward',
    backend: 'cpu',
    impl: async (d, { logits, targets }, a) => {
      const rt = d.gpujs!;
      const { N, V } = a;
      // a correct lse, so that only the loss is wrong
      const m = await rowMax(rt, logits, N, V);
      const sm = await rowSumExp(rt, logits, m, N, V);
      const lse = await rt.run({ name: 'broken.ce.lse', fn: lseKernel, outputs: N }, [m, sm], a.lead);
      const zeros = Tensor.fromHost(new Float32Array(N), [N]);
      const s = await rowSumExp(rt, logits, zeros, N, V); // Σ exp(x − 0): overflows for large logits
      const eps = a.labelSmoothing;
      const scale = a.reduction === 'mean' ? 1 / a.count : 1;
      const rows = await rt.run({ name: 'broken.ce.rows', fn: naiveRowLoss, outputs: N, constants: { V } }, [logits, targets, s, 1 - eps, eps, scale], a.reduction === 'none' ? a.lead : [N]);
      if (a.reduction === 'none') return { loss: rows, lse };
      return { loss: (await rowSum(rt, rows, 1, N)).reshape([]), lse };
    },
  });
  try {
    await expect(check('crossEntropy.forward: loss and lse within bound').run(makeContext(device, { numRuns: 100, shrink: false }))).rejects.toThrow(/crossEntropy\.forward 'loss' on cpu/);
  } finally {
    restore();
  }
  await check('crossEntropy.forward: loss and lse within bound').run(makeContext(device, { numRuns: 30 }));
});
