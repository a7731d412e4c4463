/**
 * The suite can fail: an AdamW step without bias correction (m̂ = m', v̂ = v'),
 * registered over the real kernel on the cpu backend, must be caught by the
 * shared checks.
 */
import { afterAll, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { registerKernel } from '../../src/dispatch.js';
import type { AdamWAttrs } from '../../src/kernels/adamw.js';
import { adamwChecks } from '../../src/testing/suites/adamw.js';
import { makeContext } from '../../src/testing/suite.js';

const device = await createDevice({ backend: 'cpu' });
afterAll(() => device.destroy());

const check = (prefix: string) => adamwChecks.find((c) => c.id.startsWith(prefix))!;

function mStep(this: { thread: { x: number } }, m: number[], g: number[], b1: number, c1: number): number {
  return b1 * m[this.thread.x] + c1 * g[this.thread.x];
}
function vStep(this: { thread: { x: number } }, v: number[], g: number[], b2: number, c2: number): number {
  return b2 * v[this.thread.x] + c2 * g[this.thread.x] * g[this.thread.x];
}
/** θ' = θ(1 − γλ) − γ·m'/(√v' + ε): the bias corrections 1/(1 − β^t) forgotten. */
function uncorrected(this: { thread: { x: number } }, p: number[], m: number[], v: number[], dec: number, lr: number, eps: number): number {
  return dec * p[this.thread.x] - lr * (m[this.thread.x] / (Math.sqrt(v[this.thread.x]) + eps));
}

test('an AdamW step without bias correction is caught', async () => {
  const restore = registerKernel<AdamWAttrs>({
    kernel: 'adamw',
    phase: 'forward',
    backend: 'cpu',
    impl: async (d, { param, grad, m, v }, { config: o, shape }) => {
      const rt = d.gpujs!;
      const n = param.size;
      const mNew = await rt.run({ name: 'broken.adamw.m', fn: mStep, outputs: n }, [m, grad, o.beta1, 1 - o.beta1], shape);
      const vNew = await rt.run({ name: 'broken.adamw.v', fn: vStep, outputs: n }, [v, grad, o.beta2, 1 - o.beta2], shape);
      const pNew = await rt.run({ name: 'broken.adamw.param', fn: uncorrected, outputs: n }, [param, mNew, vNew, 1 - o.lr * o.weightDecay, o.lr, o.eps], shape);
      return { param: pNew, m: mNew, v: vNew };
    },
  });
  try {
    await expect(check('adamw: one step within bound').run(makeContext(device, { numRuns: 100, shrink: false }))).rejects.toThrow(/adamw\.forward 'param' on cpu/);
    await expect(check('adamw: first step with g = 1').run(makeContext(device))).rejects.toThrow(/adamw first step 'param' vs the hand-derived value on cpu/);
  } finally {
    restore();
  }
  // with the real kernel back, the same checks pass
  await check('adamw: one step within bound').run(makeContext(device, { numRuns: 30 }));
  await check('adamw: first step with g = 1').run(makeContext(device));
});
