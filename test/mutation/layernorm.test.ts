/**
 * The LayerNorm suite can fail. Two textbook mistakes, registered over the
 * real kernel, must be caught by the shared forward check:
 *   - no eps: rstd = 1/√var. A constant row (var = 0, which the suite plants,
 *     and every C = 1 row) gives 1/0 = Inf and out = 0·Inf = NaN;
 *   - one-pass variance var = E[x²] − E[x]²: it cancels catastrophically for
 *     rows whose mean is large against their spread (the suite's offset rows)
 *     and overflows x² for rows of 1e30.
 * Does cpu's float64 arithmetic hide the second one? Not here: the partial
 * sums E[x] and E[x²] are stored as float32 tensors between kernels (as on
 * every backend), and that rounding of E[x²] alone is |mean|²/var times too
 * large; x² of 1e30 also overflows the float32 store. It is run on webasm as
 * well, where the arithmetic itself is float32.
 */
import { afterAll, expect, test } from 'vitest';
import { createDevice, type BackendName, type Device } from '../../src/device.js';
import { registerKernel } from '../../src/dispatch.js';
import { rowDot, rowSum, rowSumSqDev } from '../../src/kernels/gpujs/rows.js';
import { idiv } from '../../src/kernels/gpujs/index-math.js';
import { layerNormChecks } from '../../src/testing/suites/layernorm.js';
import { makeContext } from '../../src/testing/suite.js';
import type { Tensor } from '../../src/tensor.js';

const devices = new Map<string, Device>();
async function device(backend: BackendName): Promise<Device> {
  if (!devices.has(backend)) devices.set(backend, await createDevice({ backend }));
  return devices.get(backend)!;
}
afterAll(async () => {
  for (const d of devices.values()) await d.destroy();
});

interface RowThis {
  thread: { x: number };
  constants: { C: number };
}

function divideByC(this: RowThis, s: number[]): number {
  return s[this.thread.x] / this.constants.C;
}

/** rstd = 1/√(Q/C) — eps forgotten. */
function rstdNoEps(this: RowThis, Q: number[]): number {
  return 1 / Math.sqrt(Q[this.thread.x] / this.constants.C);
}

/** rstd = 1/√(E[x²] − E[x]² + eps). */
function rstdOnePass(this: RowThis, mean: number[], msq: number[], eps: number): number {
  const m = mean[this.thread.x];
  return 1 / Math.sqrt(msq[this.thread.x] - m * m + eps);
}

function naiveOut(this: RowThis, x: number[], mean: number[], rstd: number[], w: number[], b: number[]): number {
  const r = idiv(this.thread.x, this.constants.C);
  const c = this.thread.x - r * this.constants.C;
  return (x[this.thread.x] - mean[r]) * rstd[r] * w[c] + b[c];
}

type Variant = (d: Device, x: Tensor, N: number, C: number, eps: number) => Promise<{ mean: Tensor; rstd: Tensor }>;

const noEps: Variant = async (d, x, N, C) => {
  const rt = d.gpujs!;
  const mean = await rt.run({ name: 'broken.ln.mean', fn: divideByC, outputs: N, constants: { C } }, [await rowSum(rt, x, N, C)], [N]);
  const Q = await rowSumSqDev(rt, x, mean, N, C);
  return { mean, rstd: await rt.run({ name: 'broken.ln.rstdNoEps', fn: rstdNoEps, outputs: N, constants: { C } }, [Q], [N]) };
};

const onePass: Variant = async (d, x, N, C, eps) => {
  const rt = d.gpujs!;
  const mean = await rt.run({ name: 'broken.ln.mean', fn: divideByC, outputs: N, constants: { C } }, [await rowSum(rt, x, N, C)], [N]);
  const msq = await rt.run({ name: 'broken.ln.msq', fn: divideByC, outputs: N, constants: { C } }, [await rowDot(rt, x, x, N, C)], [N]);
  return { mean, rstd: await rt.run({ name: 'broken.ln.rstdOnePass', fn: rstdOnePass, outputs: N, constants: { C } }, [mean, msq, eps], [N]) };
};

function register(backend: BackendName, variant: Variant): () => void {
  return registerKernel<{ N: number; C: number; eps: number; shape: number[] }>({
    kernel: 'layerNorm',
    phase: 'forward',
    backend,
    impl: async (d, { x, weight, bias }, { N, C, eps, shape }) => {
      const { mean, rstd } = await variant(d, x, N, C, eps);
      const out = await d.gpujs!.run({ name: 'broken.ln.out', fn: naiveOut, outputs: N * C, constants: { C } }, [x, mean, rstd, weight, bias], shape);
      return { out, mean: mean.reshape(shape.slice(0, -1)), rstd: rstd.reshape(shape.slice(0, -1)) };
    },
  });
}

const forward = layerNormChecks.find((c) => c.id.startsWith('layerNorm.forward: out, mean, rstd'))!;
const zeroVariance = layerNormChecks.find((c) => c.id.startsWith('layerNorm: zero-variance rows'))!;

test('the zero-variance edge case alone catches the missing eps on cpu', async () => {
  const d = await device('cpu');
  const restore = register('cpu', noEps);
  try {
    // a constant row: var = 0, rstd = 1/0 = Inf, out = 0·Inf = NaN where the reference gives bias
    await expect(zeroVariance.run(makeContext(d))).rejects.toThrow(/layerNorm\.forward '(out|rstd)' on cpu: (expected|got) .*(NaN|Infinity)/);
  } finally {
    restore();
  }
  await zeroVariance.run(makeContext(d));
});

const cases: [string, Variant, BackendName[]][] = [
  ['LayerNorm without eps', noEps, ['cpu']],
  ['LayerNorm with var = E[x²] − E[x]²', onePass, ['cpu', 'webasm']],
];

for (const [name, variant, backends] of cases) {
  for (const backend of backends) {
    test(`${name} is caught on ${backend}`, async () => {
      const d = await device(backend);
      const restore = register(backend, variant);
      try {
        await expect(forward.run(makeContext(d, { numRuns: 50, shrink: false }))).rejects.toThrow(new RegExp(`layerNorm\\.forward '(out|mean|rstd)' on ${backend}`));
      } finally {
        restore();
      }
      // with the real kernel back, the same check passes
      await forward.run(makeContext(d, { numRuns: 25 }));
    });
  }
}
