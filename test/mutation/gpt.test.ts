/**
 * The whole-model gradient check can fail: a residual backward that loses
 * 0.1% of one branch's gradient, registered over the real one on the cpu
 * backend, is caught; the real kernel passes the same check afterwards.
 */
import { afterAll, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { registerKernel } from '../../src/dispatch.js';
import { Tensor } from '../../src/tensor.js';
import { compareGptGradients } from '../support/gpt-check.js';

const device = await createDevice({ backend: 'cpu' });
afterAll(() => device.destroy());

test('a residual backward off by 0.1% on one branch breaks the GPT gradient bound', async () => {
  const restore = registerKernel({
    kernel: 'residual',
    phase: 'backward',
    backend: 'cpu',
    impl: (_d, { dout }) => {
      const g = dout.data as Float32Array;
      return { da: Tensor.fromHost(g.slice(), dout.shape), db: Tensor.fromHost(g.map((v) => v * 0.999), dout.shape) };
    },
  });
  try {
    const r = await compareGptGradients(device);
    expect(r.worst).toBeGreaterThan(r.allowed);
  } finally {
    restore();
  }
  const ok = await compareGptGradients(device);
  expect(ok.worst, ok.message).toBeLessThanOrEqual(ok.allowed);
});
