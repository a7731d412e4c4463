/**
 * The GELU suite can fail: the textbook tanh form
 *   ½·x·(1 + (e^{2y} − 1)/(e^{2y} + 1))
 * overflows to Inf/Inf = NaN once e^{2y} does (x > 9.4 in float32, x > 21.6
 * in float64) and cancels to 0 in the negative tail (1 + tanh y = 1 − 0.999…).
 * Registered over the real kernel it must be caught by the shared checks.
 *
 * Does the cpu backend's float64 arithmetic hide it? Partly: in float64 the
 * overflow moves from x ≈ 9.4 to x ≈ 21.6 and the cancellation from x ≈ −3
 * to x ≈ −6, so on cpu only the suite's large and far-negative inputs expose
 * it. It is therefore also run on webasm, whose f32 arithmetic shows the bug
 * where a float32 GPU would.
 */
import { afterAll, expect, test } from 'vitest';
import { createDevice, type BackendName } from '../../src/device.js';
import { registerKernel } from '../../src/dispatch.js';
import { geluChecks } from '../../src/testing/suites/gelu.js';
import { makeContext } from '../../src/testing/suite.js';

const devices = new Map<string, Awaited<ReturnType<typeof createDevice>>>();
async function device(backend: BackendName) {
  if (!devices.has(backend)) devices.set(backend, await createDevice({ backend }));
  return devices.get(backend)!;
}
afterAll(async () => {
  for (const d of devices.values()) await d.destroy();
});

function textbookTanhGelu(this: { thread: { x: number } }, x: number[]): number {
  const v = x[this.thread.x];
  const y = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  const t = (Math.exp(2 * y) - 1) / (Math.exp(2 * y) + 1);
  return 0.5 * v * (1 + t);
}

const forwardTanh = geluChecks.find((c) => c.id.startsWith('gelu.forward (tanh): within bound'))!;

for (const backend of ['cpu', 'webasm'] as const) {
  test(`GELU with the textbook tanh is caught on ${backend}`, async () => {
    const d = await device(backend);
    const restore = registerKernel<{ approximate: string; shape: number[] }>({
      kernel: 'gelu',
      phase: 'forward',
      backend,
      impl: async (dev, { x }, { shape }) => ({
        y: await dev.gpujs!.run({ name: 'broken.gelu.tanh', fn: textbookTanhGelu, outputs: x.size }, [x], shape),
      }),
    });
    try {
      await expect(forwardTanh.run(makeContext(d, { numRuns: 50, shrink: false }))).rejects.toThrow(new RegExp(`gelu\\.forward 'y \\(tanh\\)' on ${backend}`));
    } finally {
      restore();
    }
    // with the real kernel back, the same check passes
    await forwardTanh.run(makeContext(d, { numRuns: 25 }));
  });
}
