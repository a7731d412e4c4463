/**
 * The wasm device end to end: zero-copy tensors and their lifetime, and the
 * GPT trained through it.
 *   - every kernel output is a view into the wasm heap, freed by dispose();
 *     a kernel fed another kernel's output reads it in place (no copy-in);
 *   - no read after free: a runtime that overwrites every freed block with
 *     NaN (`poisonFreed`) trains the GPT to the same losses and the same
 *     weights, bit for bit, as an ordinary one. The GPT disposes each step's
 *     intermediates after the backward pass has read them, the trainer its
 *     optimizer outputs after copying them: a view read after its dispose
 *     would bring NaN into the loss or the weights;
 *   - the same comparison runs one device on 1 thread with the default split
 *     thresholds and the other on 2 threads splitting every kernel: results
 *     do not depend on the thread count.
 */
import { describe, expect, it } from 'vitest';
import { WasmRuntime, type WasmRuntimeOptions } from '../../src/backends/wasm/runtime.js';
import { Device } from '../../src/device.js';
import { attention } from '../../src/kernels/attention.js';
import { crossEntropy } from '../../src/kernels/cross-entropy.js';
import { gelu } from '../../src/kernels/gelu.js';
import { layerNorm } from '../../src/kernels/layernorm.js';
import { matmul } from '../../src/kernels/matmul.js';
import { splitHeads } from '../../src/kernels/heads.js';
import { MarkovStream } from '../../src/model/data.js';
import { DEFAULT_OPTIM, Trainer } from '../../src/model/train.js';
import { tensor } from '../../src/tensor.js';
import { generate } from '../../src/testing/values.js';
import { expectSameBits } from './support.js';

/** A wasm device on a runtime with the given options (createDevice takes none of these). */
async function wasmDevice(o: WasmRuntimeOptions): Promise<Device> {
  await import('../../src/backends/wasm/register.js');
  const rt = await WasmRuntime.create(o);
  return new Device(
    { backend: 'wasm', family: 'wasm', adapter: 'test runtime', software: true, precision: 'float32', threads: rt.threads, flushesSubnormals: false, reason: 'test' },
    undefined,
    rt,
  );
}

const normal = (seed: number, n: number) => generate({ seed, profile: 'normal', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 }, 1, n);

describe('wasm device: zero-copy tensors', () => {
  it('outputs are heap views freed on dispose; chained kernels read them in place', async () => {
    const d = await wasmDevice({ threads: 2 });
    const rt = d.wasm!;
    try {
      const [B, T, C, NH] = [2, 8, 16, 2];
      const x = tensor(normal(1, B * T * C), [B, T, C]);
      const w = tensor(normal(2, 3 * C * C), [3 * C, C]);
      const ones = tensor(new Float32Array(C).fill(1), [C]);
      const zeros = tensor(new Float32Array(C), [C]);
      // the first matmul allocates gemm's packing workspace, which the runtime keeps
      (await matmul(d, x, w, { transB: true })).dispose();
      const base = rt.heapBytesInUse;
      const ln = await layerNorm(d, x, ones, zeros);
      const copied = rt.bytesCopiedIn;
      const qkv = await matmul(d, ln.out, w, { transB: true });
      // only the weight came from outside; ln.out was read in place
      expect(rt.bytesCopiedIn - copied).toBe(w.size * 4);
      const before = rt.bytesCopiedIn;
      const s = await splitHeads(d, qkv, NH);
      const a = await attention(d, s.q, s.k, s.v, { causal: true });
      const g = await gelu(d, a.out, { approximate: 'tanh' });
      expect(rt.bytesCopiedIn).toBe(before);
      const outs = [ln.out, ln.mean, ln.rstd, qkv, s.q, s.k, s.v, a.out, a.lse, g];
      for (const t of outs) expect(rt.isResident(t.data as Float32Array)).toBe(true);
      expect(rt.heapBytesInUse).toBeGreaterThan(base);
      for (const t of outs) t.dispose();
      expect(rt.heapBytesInUse).toBe(base);
      expect(() => g.data).toThrow(/disposed/);
      // a scalar loss is a heap view too
      const ce = await crossEntropy(d, tensor(normal(3, 12), [4, 3]), tensor(new Int32Array([0, 1, 2, 1]), [4], 'int32'));
      expect(rt.isResident(ce.loss.data as Float32Array)).toBe(true);
      ce.loss.dispose();
      ce.lse.dispose();
      expect(rt.heapBytesInUse).toBe(base);
    } finally {
      await d.destroy();
    }
  });
});

describe('wasm device: the GPT', () => {
  it('trains to the same bits on 1 thread and on 2 threads with freed memory poisoned (no read after free, no thread dependence)', async () => {
    const run = async (d: Device) => {
      const data = new MarkovStream(3);
      const trainer = new Trainer({
        device: d,
        config: { V: data.tokenizer.vocabSize, maxT: 16, L: 2, NH: 2, C: 32 },
        precision: 'fp32',
        data,
        B: 4,
        T: 16,
        seed: 3,
        optim: { ...DEFAULT_OPTIM, totalSteps: 100 },
      });
      const losses: number[] = [];
      for (let i = 0; i < 4; i++) losses.push((await trainer.trainStep()).loss);
      return { losses, params: Float32Array.from(trainer.model.params as Float32Array) };
    };
    const plain = await wasmDevice({ threads: 1 });
    const poisoned = await wasmDevice({ threads: 2, poisonFreed: true, minElementsPerThread: 256, minFlopsPerThread: 1e4 });
    try {
      const a = await run(plain);
      const b = await run(poisoned);
      for (const l of b.losses) expect(Number.isFinite(l)).toBe(true);
      expect(b.losses).toEqual(a.losses);
      expectSameBits('GPT weights after 4 steps', b.params, a.params);
      expect(poisoned.wasm!.workersStarted).toBe(true);
    } finally {
      await plain.destroy();
      await poisoned.destroy();
    }
  });

  it('a disposed output cannot be read, and disposing twice frees its view once', async () => {
    const d = await wasmDevice({ threads: 1 });
    try {
      const base = d.wasm!.heapBytesInUse;
      const y = await gelu(d, tensor(normal(9, 10), [10]));
      y.dispose();
      const z = await gelu(d, tensor(normal(10, 10), [10]));
      // z may reuse y's block: a second release of y must not free it
      y.dispose();
      expect(d.wasm!.isResident(z.data as Float32Array)).toBe(true);
      expect(d.wasm!.heapBytesInUse).toBe(base + 64);
      await expect(y.read()).rejects.toThrow(/disposed/);
      z.dispose();
    } finally {
      await d.destroy();
    }
  });
});

describe('wasm heap views', () => {
  it('a view freed twice, after its block went to a new view, throws instead of freeing the new owner', async () => {
    const d = await wasmDevice({ threads: 1 });
    const rt = d.wasm!;
    try {
      const a = rt.alloc(100);
      rt.free(a);
      const b = rt.alloc(100);
      expect(b.byteOffset).toBe(a.byteOffset);
      expect(() => rt.free(a)).toThrow(/freed already/);
      expect(rt.isResident(b)).toBe(true);
      expect(rt.isResident(a)).toBe(false);
      expect(rt.isResident(b.subarray(1))).toBe(false);
      rt.free(b);
    } finally {
      await d.destroy();
    }
  });
});
