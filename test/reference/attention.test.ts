import { describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import {
  attention,
  attentionBackward,
  attentionBackwardRef,
  attentionRef,
  broadcastStrides,
  type AttentionDims,
  type AttentionRefOptions,
} from '../../src/kernels/attention.js';
import { tensor, Tensor } from '../../src/tensor.js';
import { checkGradient } from '../../src/testing/gradcheck.js';
import { generate, ORDINARY, widen } from '../../src/testing/values.js';

const zeros = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);

describe('attention: bad input', () => {
  test('errors name the function, the argument and the shapes', async () => {
    const d = await createDevice({ backend: 'reference' });
    const q = zeros([1, 2, 3, 4]);
    const k = zeros([1, 2, 5, 4]);
    await expect(attention(d, zeros([2, 3, 4]), k, k)).rejects.toThrow(/attention: 'q' must have shape \[B, NH, T, hs\] \(rank 4\), got \[2, 3, 4\]/);
    await expect(attention(d, q, zeros([1, 2, 5, 3]), zeros([1, 2, 5, 3]))).rejects.toThrow(
      /attention: 'k' must have shape \[B, NH, S, hs\] with B, NH, hs of 'q' \[B, NH, T, hs\] = \[1, 2, 3, 4\], got \[1, 2, 5, 3\]/,
    );
    await expect(attention(d, q, zeros([1, 1, 5, 4]), zeros([1, 1, 5, 4]))).rejects.toThrow(/attention: 'k' must have shape .* got \[1, 1, 5, 4\]/);
    await expect(attention(d, q, k, zeros([1, 2, 6, 4]))).rejects.toThrow(/attention: 'v' must have shape \[B, NH, S, hs\] = \[1, 2, 5, 4\], got \[1, 2, 6, 4\]/);
    await expect(attention(d, tensor(new Int32Array(24), [1, 2, 3, 4]), k, k)).rejects.toThrow(/attention: 'q' must be a float tensor, got int32/);
    await expect(attention(d, q, 'k' as never, k)).rejects.toThrow(/attention: 'k' must be a Tensor/);
    await expect(attention(d, q, k, k, { casual: true } as never)).rejects.toThrow(/attention: unknown option 'casual'; known options are 'causal', 'mask', 'scale'/);
    await expect(attention(d, q, k, k, { causal: 1 } as never)).rejects.toThrow(/attention: 'causal' must be a boolean, got 1/);
    await expect(attention(d, q, k, k, { scale: NaN })).rejects.toThrow(/attention: 'scale' must be a finite number, got NaN/);
    await expect(attention(d, q, k, k, { mask: zeros([3, 4]) })).rejects.toThrow(
      /attention: 'mask' of shape \[3, 4\] cannot be broadcast to \[B, NH, T, S\] = \[1, 2, 3, 5\]: its S dimension must be 1 or 5/,
    );
    await expect(attention(d, q, k, k, { mask: zeros([2, 1, 3, 5]) })).rejects.toThrow(/its B dimension must be 1 or 1/);
    await expect(attention(d, q, k, k, { mask: zeros([1, 1, 1, 3, 5]) })).rejects.toThrow(/attention: 'mask' must have at most 4 dimensions/);
    await expect(attention(d, q, k, k, { mask: tensor(new Int32Array([1, 0, 2, 1, 1]), [1, 5]) })).rejects.toThrow(
      /attention: a boolean \(int32\) 'mask' must hold 0 or 1, got 2 at flat index 2 of shape \[1, 5\]/,
    );
    await expect(attention(d, q, k, k, { mask: [1, 0] as never })).rejects.toThrow(/attention: 'mask' must be a Tensor/);
    const out = zeros([1, 2, 3, 4]);
    const lse = zeros([1, 2, 3]);
    await expect(attentionBackward(d, zeros([1, 2, 3, 5]), q, k, k, out, lse)).rejects.toThrow(/attentionBackward: 'dout' must have shape \[B, NH, T, hs\] = \[1, 2, 3, 4\], got \[1, 2, 3, 5\]/);
    await expect(attentionBackward(d, out, q, k, k, out, zeros([1, 2]))).rejects.toThrow(/attentionBackward: 'lse' must have shape \[B, NH, T\] = \[1, 2, 3\], got \[1, 2\]/);
    await expect(attentionBackward(d, out, q, k, k, zeros([1, 2, 4, 4]), lse)).rejects.toThrow(/attentionBackward: 'out' must have shape \[B, NH, T, hs\] = \[1, 2, 3, 4\], got \[1, 2, 4, 4\]/);
    await expect(attentionBackward(d, out, q, k, k, out, lse, { window: 3 } as never)).rejects.toThrow(/attentionBackward: unknown option 'window'/);
    await d.destroy();
  });

  test('inputs are not mutated and the reference device matches attentionRef', async () => {
    const d = await createDevice({ backend: 'reference' });
    const dims: AttentionDims = { B: 1, NH: 2, T: 3, S: 4, hs: 2 };
    const q32 = generate({ ...ORDINARY, seed: 1 }, 6, 2);
    const k32 = generate({ ...ORDINARY, seed: 2 }, 8, 2);
    const before = [q32.slice(), k32.slice()];
    const r = await attention(d, tensor(q32, [1, 2, 3, 2]), tensor(k32, [1, 2, 4, 2]), tensor(k32, [1, 2, 4, 2]), { causal: true });
    expect(q32).toEqual(before[0]);
    expect(k32).toEqual(before[1]);
    const ref = attentionRef(widen(q32), widen(k32), widen(k32), dims, { causal: true, scale: 1 / Math.sqrt(2) });
    expect(await r.out.toArray()).toEqual(Array.from(ref.out));
    expect(await r.lse.toArray()).toEqual(Array.from(ref.lse));
    await d.destroy();
  });
});

describe('attention: FP64 backward agrees with central finite differences', () => {
  interface GradCase {
    name: string;
    dims: AttentionDims;
    causal?: boolean;
    scale?: number;
    mask?: { data: number[]; shape: number[]; kind: 'boolean' | 'additive' };
  }
  const cases: GradCase[] = [
    { name: 'plain', dims: { B: 1, NH: 2, T: 3, S: 4, hs: 3 } },
    { name: 'T = S = 1, hs = 1', dims: { B: 1, NH: 1, T: 1, S: 1, hs: 1 } },
    { name: 'causal', dims: { B: 2, NH: 1, T: 4, S: 4, hs: 2 }, causal: true },
    { name: 'causal, T > S, custom scale', dims: { B: 1, NH: 1, T: 4, S: 3, hs: 2 }, causal: true, scale: 0.7 },
    {
      name: 'boolean mask with a fully masked row',
      dims: { B: 1, NH: 2, T: 3, S: 3, hs: 2 },
      mask: { data: [1, 0, 1, 0, 0, 0, 1, 1, 0], shape: [3, 3], kind: 'boolean' },
    },
    {
      name: 'additive mask (B, 1, 1, S) with −Inf, and causal',
      dims: { B: 2, NH: 1, T: 3, S: 3, hs: 2 },
      causal: true,
      mask: { data: [0, 0.5, -Infinity, -1.25, -Infinity, 2], shape: [2, 1, 1, 3], kind: 'additive' },
    },
  ];

  const setup = (c: GradCase, seed: number) => {
    const { B, NH, T, S, hs } = c.dims;
    const x = (n: number, s: number) => widen(generate({ ...ORDINARY, seed: seed + s, scale: 1.5 }, n, hs));
    const q = x(B * NH * T, 1);
    const k = x(B * NH * S, 2);
    const v = x(B * NH * S, 3);
    const w = x(B * NH * T, 4);
    let mask: AttentionRefOptions['mask'];
    if (c.mask) {
      const r = broadcastStrides(c.mask.shape, c.dims);
      if ('bad' in r) throw new Error('bad mask');
      mask = { data: Float64Array.from(c.mask.data), kind: c.mask.kind, strides: r.strides };
    }
    const o: AttentionRefOptions = { causal: c.causal ?? false, scale: c.scale ?? 1 / Math.sqrt(hs), mask };
    return { q, k, v, w, o };
  };

  for (const c of cases) {
    test(c.name, () => {
      const { q, k, v, w, o } = setup(c, 10);
      const { out, lse } = attentionRef(q, k, v, c.dims, o);
      const g = attentionBackwardRef(w, q, k, v, out, lse, c.dims, o);
      const f = (qq: Float64Array, kk: Float64Array, vv: Float64Array) => attentionRef(qq, kk, vv, c.dims, o).out;
      // |∂out/∂x| ≤ scale·|k|·|v| and similar: a few units for these values
      checkGradient({ name: `${c.name}: dq`, x: q, forward: (x) => f(x, k, v), w, analytic: g.dq, scale: 10 });
      checkGradient({ name: `${c.name}: dk`, x: k, forward: (x) => f(q, x, v), w, analytic: g.dk, scale: 10 });
      checkGradient({ name: `${c.name}: dv`, x: v, forward: (x) => f(q, k, x), w, analytic: g.dv, scale: 10 });
      // fully masked rows: out 0 and dq exactly 0
      for (let row = 0; row < lse.length; row++) {
        if (lse[row] !== -Infinity) continue;
        for (let d = 0; d < c.dims.hs; d++) {
          expect(out[row * c.dims.hs + d]).toBe(0);
          expect(g.dq[row * c.dims.hs + d]).toBe(0);
        }
      }
    });
  }

  test('a case has fully masked rows (so the zero-gradient contract is exercised)', () => {
    const c = cases[4];
    const { q, k, v, o } = setup(c, 10);
    expect(Array.from(attentionRef(q, k, v, c.dims, o).lse).filter((x) => x === -Infinity).length).toBe(2);
  });

  test('the finite-difference check catches a wrong gradient', () => {
    const c = cases[0];
    const { q, k, v, w, o } = setup(c, 10);
    const { out, lse } = attentionRef(q, k, v, c.dims, o);
    // dS = P·dP without the − rowsum(dout ⊙ out) term: a classic mistake
    const wrong = attentionBackwardRef(w, q, k, v, new Float64Array(out.length), lse, c.dims, o);
    expect(() => checkGradient({ name: 'attention dq', x: q, forward: (x) => attentionRef(x, k, v, c.dims, o).out, w, analytic: wrong.dq, scale: 10 })).toThrow(/attention dq: gradient at/);
    // dk without the scale
    const right = attentionBackwardRef(w, q, k, v, out, lse, c.dims, o);
    const unscaled = right.dk.map((x) => x / o.scale);
    expect(() => checkGradient({ name: 'attention dk', x: k, forward: (x) => attentionRef(q, x, v, c.dims, o).out, w, analytic: unscaled, scale: 10 })).toThrow(/attention dk: gradient at/);
  });
});

describe('attention: the float32-range and flush rules of the reference', () => {
  test('a score beyond float32 max is +Inf with float32Scores (lse +Inf, out NaN), finite in float64', () => {
    const dims = { B: 1, NH: 1, T: 1, S: 2, hs: 1 };
    const q = Float64Array.from([1e30]);
    const k = Float64Array.from([1e30, 1]);
    const v = Float64Array.from([2, 3]);
    const f32 = attentionRef(q, k, v, dims, { causal: false, scale: 1, float32Scores: true });
    expect(f32.lse[0]).toBe(Infinity);
    expect(f32.out[0]).toBeNaN();
    const f64 = attentionRef(q, k, v, dims, { causal: false, scale: 1 });
    expect(f64.lse[0] / 1e60).toBeCloseTo(1, 12);
    expect(f64.out[0]).toBe(2);
  });
  test('Inf times a subnormal is NaN where subnormals flush, ±Inf elsewhere', () => {
    const dims = { B: 1, NH: 1, T: 1, S: 1, hs: 1 };
    const q = Float64Array.from([-Infinity]);
    const k = Float64Array.from([-1e-40]);
    const v = Float64Array.from([5]);
    expect(attentionRef(q, k, v, dims, { causal: false, scale: 1 }).lse[0]).toBe(Infinity);
    expect(attentionRef(q, k, v, dims, { causal: false, scale: 1, flushSubnormals: true }).lse[0]).toBeNaN();
  });
});

describe('attention on the reference device: T = 1 over a KV cache equals the last row of full causal attention', () => {
  test('KV-cache step', async () => {
    const d = await createDevice({ backend: 'reference' });
    const [B, NH, T, hs] = [1, 2, 5, 3];
    const q = tensor(generate({ ...ORDINARY, seed: 3 }, B * NH * T, hs), [B, NH, T, hs]);
    const k = tensor(generate({ ...ORDINARY, seed: 4 }, B * NH * T, hs), [B, NH, T, hs]);
    const v = tensor(generate({ ...ORDINARY, seed: 5 }, B * NH * T, hs), [B, NH, T, hs]);
    const full = await (await attention(d, q, k, v, { causal: true })).out.toArray();
    const qd = q.data as Float32Array;
    const last = new Float32Array(B * NH * hs);
    for (let h = 0; h < NH; h++) last.set(qd.subarray((h * T + T - 1) * hs, (h * T + T) * hs), h * hs);
    const step = await (await attention(d, Tensor.fromHost(last, [B, NH, 1, hs]), k, v)).out.toArray();
    for (let h = 0; h < NH; h++) expect(step.slice(h * hs, (h + 1) * hs)).toEqual(full.slice((h * T + T - 1) * hs, (h * T + T) * hs));
    await d.destroy();
  });
});
