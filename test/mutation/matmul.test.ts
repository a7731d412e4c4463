/**
 * The suite can fail: a matmul whose K loop stops one term short (an
 * off-by-one bound), registered over the real kernel on the cpu backend,
 * must be caught by the shared checks.
 */
import { afterAll, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { registerKernel } from '../../src/dispatch.js';
import type { MatmulAttrs } from '../../src/kernels/matmul.js';
import { matmulChecks } from '../../src/testing/suites/matmul.js';
import { makeContext } from '../../src/testing/suite.js';

const device = await createDevice({ backend: 'cpu' });
afterAll(() => device.destroy());

const check = (prefix: string) => matmulChecks.find((c) => c.id.startsWith(prefix))!;

/** c_ij = Σ_{k < K−1} a_ik·b_kj (+ bias_j): `k < K - 1` where `k < K` was meant. */
function dropsLastTerm(
  this: { thread: { x: number }; constants: { N: number; KM1: number; K: number; TB: number; HB: number } },
  a: number[],
  b: number[],
  bias: number[],
): number {
  const i = Math.floor(this.thread.x / this.constants.N);
  const j = this.thread.x - i * this.constants.N;
  let s = 0;
  for (let k = 0; k < this.constants.KM1; k++) {
    if (this.constants.TB > 0) {
      s += a[i * this.constants.K + k] * b[j * this.constants.K + k];
    } else {
      s += a[i * this.constants.K + k] * b[k * this.constants.N + j];
    }
  }
  if (this.constants.HB > 0) {
    s = s + bias[j];
  }
  return s;
}

test('a matmul that drops the last term of the K loop is caught', async () => {
  const restore = registerKernel<MatmulAttrs>({
    kernel: 'matmul',
    phase: 'forward',
    backend: 'cpu',
    impl: async (d, { a, b, bias }, { M, K, N, transB, shape }) => ({
      c: await d.gpujs!.run(
        { name: 'broken.matmul', fn: dropsLastTerm, outputs: M * N, constants: { N, K, KM1: K - 1, TB: transB ? 1 : 0, HB: bias ? 1 : 0 } },
        [a, b, bias ?? a],
        shape,
      ),
    }),
  });
  try {
    await expect(check('matmul.forward: within bound').run(makeContext(device, { numRuns: 100, shrink: false }))).rejects.toThrow(/matmul\.forward 'c' on cpu/);
  } finally {
    restore();
  }
  // with the real kernel back, the same check passes
  await check('matmul.forward: within bound').run(makeContext(device, { numRuns: 25 }));
});
