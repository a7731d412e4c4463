/**
 * Planted faults, kernel by kernel: finite inputs that make a kernel produce
 * a NaN or Inf (where its contract allows one) are reported as created by that
 * kernel, at the right index and scope. Where the contract rules such a case
 * out (softmax, LayerNorm, GELU, the head permutations, ...), a deliberately
 * broken version of the kernel is registered and must be named instead. Runs
 * on the reference device (float64) and on the cpu backend (float32 storage).
 */
import { afterAll, describe, expect, test } from 'vitest';
import { createDevice, type Device } from '../../src/device.js';
import { implementationOf, registerKernel, scope } from '../../src/dispatch.js';
import { adamw } from '../../src/kernels/adamw.js';
import { attention } from '../../src/kernels/attention.js';
import { cast } from '../../src/kernels/cast.js';
import { crossEntropy } from '../../src/kernels/cross-entropy.js';
import { embedding } from '../../src/kernels/embedding.js';
import { gelu } from '../../src/kernels/gelu.js';
import { mergeHeads } from '../../src/kernels/heads.js';
import { layerNorm } from '../../src/kernels/layernorm.js';
import { matmul } from '../../src/kernels/matmul.js';
import { residual } from '../../src/kernels/residual.js';
import { logSoftmax, softmax } from '../../src/kernels/softmax.js';
import { Tensor, tensor } from '../../src/tensor.js';
import { detectAnomalies, NonFiniteError } from '../../src/trace/anomaly.js';

const devices: Device[] = [await createDevice({ backend: 'cpu' }), await createDevice({ backend: 'reference' })];
afterAll(async () => {
  for (const d of devices) await d.destroy();
});

const MAX = 3.4028234663852886e38;
const f = (xs: number[], shape: number[]) => tensor(xs, shape);

interface Case {
  kernel: string;
  /** A call whose finite inputs make the kernel overflow (float32 storage) — absent where the contract rules it out. */
  natural?: (d: Device) => Promise<unknown>;
  /** Only float32 devices overflow in this case (float64 holds the value). */
  float32Only?: boolean;
  /** Expected flat index of the first bad element. */
  index: number;
  /** For kernels with no natural case: call the kernel normally while a broken version is registered. */
  broken?: { phase: 'forward'; output: string; call: (d: Device) => Promise<unknown> };
}

const CASES: Case[] = [
  { kernel: 'logSoftmax', natural: (d) => logSoftmax(d, f([-MAX, MAX, 0], [1, 3])), float32Only: true, index: 0 },
  { kernel: 'crossEntropy', natural: (d) => crossEntropy(d, f([MAX, -MAX], [1, 2]), tensor(new Int32Array([1]), [1]), { reduction: 'none' }), float32Only: true, index: 0 },
  { kernel: 'matmul', natural: (d) => matmul(d, f([1e20, 1, 1, 1], [2, 2]), f([1e20, 1, 1, 1], [2, 2])), float32Only: true, index: 0 },
  { kernel: 'residual', natural: (d) => residual(d, f([1, MAX], [2]), f([1, MAX], [2])), float32Only: true, index: 1 },
  { kernel: 'embedding', natural: (d) => embedding(d, tensor(new Int32Array([0, 1]), [1, 2]), f([1, 2, MAX, 4], [2, 2]), f([0, 0, MAX, 0], [2, 2])), float32Only: true, index: 2 },
  { kernel: 'cast', natural: (d) => cast(d, f([1, 1e5], [2]), 'float16'), index: 1 },
  {
    kernel: 'attention',
    // q·k = 2e38 · 2 overflows the float32 score: a +Inf score makes the row NaN (softmax's contract)
    natural: (d) => attention(d, f([2e38, 2e38], [1, 1, 1, 2]), f([1, 1], [1, 1, 1, 2]), f([1, 2], [1, 1, 1, 2]), { scale: 1 }),
    float32Only: true,
    index: 0,
  },
  {
    kernel: 'adamw',
    // a gradient of 1e21: (1 − β2)·g² = 1e39 overflows the float32 second moment
    natural: (d) => adamw(d, { param: f([1, 1], [2]), grad: f([0, 1e21], [2]), m: f([0, 0], [2]), v: f([0, 0], [2]) }, { lr: 0.1, step: 1 }),
    float32Only: true,
    index: 1,
  },
  { kernel: 'softmax', index: 4, broken: { phase: 'forward', output: 'y', call: (d) => softmax(d, f([1, 2, 3, 4, 5, 6], [2, 3])) } },
  {
    kernel: 'layerNorm',
    index: 4,
    broken: { phase: 'forward', output: 'out', call: (d) => layerNorm(d, f([1, 2, 3, 4, 5, 6], [2, 3]), f([1, 1, 1], [3]), f([0, 0, 0], [3])) },
  },
  { kernel: 'gelu', index: 4, broken: { phase: 'forward', output: 'y', call: (d) => gelu(d, f([1, 2, 3, 4, 5, 6], [6])) } },
  { kernel: 'mergeHeads', index: 4, broken: { phase: 'forward', output: 'out', call: (d) => mergeHeads(d, f([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2])) } },
];

describe.each(devices.map((d) => [d.backend, d] as const))('planted faults on %s', (_b, d) => {
  for (const c of CASES) {
    test(`${c.kernel}: reported as created, with index and scope`, async () => {
      let restore: (() => void) | undefined;
      let call = c.natural;
      if (c.broken) {
        // the broken version: the real kernel, then a NaN written at the planted index
        const { output, phase } = c.broken;
        const real = implementationOf(d, c.kernel, phase);
        restore = registerKernel({
          kernel: c.kernel,
          phase,
          backend: d.backend,
          impl: async (dev, inputs, attrs) => {
            const out = await real(dev, inputs, attrs);
            const data = (await out[output].read()).slice();
            data[c.index] = NaN;
            return { ...out, [output]: Tensor.fromHost(data, out[output].shape) };
          },
        });
        call = c.broken.call;
      }
      if (!call) throw new Error('no case');
      try {
        const run = detectAnomalies(() => scope('planted', () => call!(d)));
        if (c.float32Only && d.info.precision === 'float64') {
          await expect(run).resolves.toBeDefined();
          return;
        }
        const err = await run.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NonFiniteError);
        const det = (err as NonFiniteError).details;
        expect(det.kernel).toBe(c.kernel);
        expect(det.path).toBe(`planted.${c.kernel}`);
        expect(det.created).toBe(true);
        expect(det.index).toBe(c.index);
      } finally {
        restore?.();
      }
    });
  }
});
