/**
 * The residual suite can fail: a backward pass that hands back one tensor
 * for both gradients (disposing da would free db), and a forward pass that
 * drops the low half of b's mantissa, are each caught on the cpu backend.
 */
import { afterAll, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { registerKernel } from '../../src/dispatch.js';
import { residualChecks } from '../../src/testing/suites/residual.js';
import { makeContext } from '../../src/testing/suite.js';

const device = await createDevice({ backend: 'cpu' });
afterAll(() => device.destroy());

function copyKernel(this: { thread: { x: number } }, x: number[]): number {
  return x[this.thread.x];
}

/** a + b with b rounded to 12 significant bits: an error of up to 2^-13·|b|. */
function lossyAddKernel(this: { thread: { x: number } }, a: number[], b: number[]): number {
  const v = b[this.thread.x];
  const m = Math.abs(v);
  let scale = 1;
  for (let i = 0; i < 64; i++) {
    if (m * scale < 2048 && m > 0) scale = scale * 2;
  }
  return a[this.thread.x] + Math.round(v * scale) / scale;
}

const find = (prefix: string) => residualChecks.find((c) => c.id.startsWith(prefix))!;

test('a backward pass that returns one tensor for da and db is caught', async () => {
  const restore = registerKernel<{ shape: number[] }>({
    kernel: 'residual',
    phase: 'backward',
    backend: 'cpu',
    impl: async (d, { dout }, { shape }) => {
      const g = await d.gpujs!.run({ name: 'broken.residual.copy', fn: copyKernel, outputs: dout.size }, [dout], shape);
      return { da: g, db: g };
    },
  });
  try {
    await expect(find('residual.backward').run(makeContext(device, { numRuns: 5, shrink: false }))).rejects.toThrow(/shared tensors/);
  } finally {
    restore();
  }
  await find('residual.backward').run(makeContext(device, { numRuns: 5 }));
});

test('a forward pass that loses precision in b is caught', async () => {
  const restore = registerKernel<{ shape: number[] }>({
    kernel: 'residual',
    phase: 'forward',
    backend: 'cpu',
    impl: async (d, { a, b }, { shape }) => ({
      out: await d.gpujs!.run({ name: 'broken.residual', fn: lossyAddKernel, outputs: a.size }, [a, b], shape),
    }),
  });
  try {
    await expect(find('residual.forward: within bound').run(makeContext(device, { numRuns: 50, shrink: false }))).rejects.toThrow(/residual\.forward 'out' on cpu/);
  } finally {
    restore();
  }
  await find('residual.forward: within bound').run(makeContext(device, { numRuns: 25 }));
});
