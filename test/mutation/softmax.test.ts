/**
 * The suite can fail: a softmax without the max subtraction, registered over
 * the real one on the cpu backend, must be caught by the shared checks.
 */
import { afterAll, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { registerKernel } from '../../src/dispatch.js';
import { rowSumExp } from '../../src/kernels/gpujs/rows.js';
import { softmaxChecks } from '../../src/testing/suites/softmax.js';
import { makeContext } from '../../src/testing/suite.js';
import { Tensor } from '../../src/tensor.js';

const device = await createDevice({ backend: 'cpu' });
afterAll(() => device.destroy());

function naiveOut(this: { thread: { x: number }; constants: { V: number } }, x: number[], s: number[]): number {
  return Math.exp(x[this.thread.x]) / s[Math.floor(this.thread.x / this.constants.V)];
}

test('softmax without the max subtraction is caught', async () => {
  const restore = registerKernel<{ N: number; V: number; shape: number[] }>({
    kernel: 'softmax',
    phase: 'forward',
    backend: 'cpu',
    impl: async (d, { x }, { N, V, shape }) => {
      const rt = d.gpujs!;
      const zeros = Tensor.fromHost(new Float32Array(N), [N]);
      const s = await rowSumExp(rt, x, zeros, N, V); // Σ exp(x − 0): overflows for large logits
      return { y: await rt.run({ name: 'broken.softmax', fn: naiveOut, outputs: N * V, constants: { V } }, [x, s], shape) };
    },
  });
  try {
    const check = softmaxChecks.find((c) => c.id.startsWith('softmax.forward: within bound'))!;
    await expect(check.run(makeContext(device, { numRuns: 100, shrink: false }))).rejects.toThrow(/softmax\.forward 'y' on cpu/);
  } finally {
    restore();
  }
  // with the real kernel back, the same check passes
  const check = softmaxChecks.find((c) => c.id.startsWith('softmax.forward: within bound'))!;
  await check.run(makeContext(device, { numRuns: 25 }));
});
