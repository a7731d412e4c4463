/**
 * The wasm fused attention (asm/attention.ts) against attention.ts's FP64
 * reference and bounds (attentionBound, attentionBackwardBound) under
 * WASM_SIMD_MODEL, called on the runtime directly: the shared suite's case
 * generator (causal or not, boolean and additive masks of every broadcast
 * shape, fully masked rows, scales from −0.5 to 2, head sizes 1 to 128 so the
 * 16-wide and 4-wide value loops and their tails all run, T ≠ S), plus the
 * special-value rules the online-softmax literature usually skips, and the
 * thread identity: rows (forward) and heads (backward) split over two threads
 * give the bits of one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WASM_SIMD_MODEL } from '../../src/backends/wasm/error-model.js';
import type { AttentionArgs } from '../../src/backends/wasm/runtime.js';
import { attentionBackwardBound, attentionBackwardRef, attentionBound, attentionRef } from '../../src/kernels/attention.js';
import { propertyParams } from '../../src/testing/arbitraries.js';
import { attentionCaseArb, materialise, type AttentionData } from '../../src/testing/suites/attention.js';
import { generate, widen, type ValueSpec } from '../../src/testing/values.js';
import { expectSameBits, expectUnchanged, expectWithin, runtime, snapshot } from './support.js';

const rt = await runtime();
const M = WASM_SIMD_MODEL;

function argsOf(a: AttentionData): AttentionArgs {
  const m = a.opts.mask;
  if (!m || !a.mask) return { causal: a.opts.causal, scale: a.opts.scale };
  return { causal: a.opts.causal, scale: a.opts.scale, mask: { data: Float32Array.from(a.mask.data), kind: m.kind === 'boolean' ? 1 : 2, strides: m.strides } };
}

function doutOf(a: AttentionData, nan: boolean): Float32Array {
  const { B, NH, T, hs } = a.dims;
  return generate({ seed: a.c.seed ^ 0x5bd1e995, profile: 'normal', scale: 1, nan: nan ? 0.002 : 0, posInf: 0, negInf: 0, maskedRow: 0 }, B * NH * T, hs);
}

const noInf = (s: ValueSpec): ValueSpec => ({ ...s, posInf: 0, negInf: 0 });

describe('wasm attention: against the FP64 reference', () => {
  it('forward: out and lse within attentionBound (masks, causal, T ≠ S, every special value); inputs untouched', () => {
    fc.assert(
      fc.property(attentionCaseArb({ maxScores: 30_000 }), (c) => {
        const a = materialise(c, true);
        if (a.dims.S === 0 || a.dims.hs === 0 || a.dims.T === 0) return;
        const args = argsOf(a);
        const before = snapshot(a.q32, a.k32, a.v32, args.mask?.data);
        const r = rt.attention(a.q32, a.k32, a.v32, a.dims, args);
        expectUnchanged('attention', before, [a.q32, a.k32, a.v32, args.mask?.data]);
        const q64 = widen(a.q32);
        const k64 = widen(a.k32);
        const v64 = widen(a.v32);
        const ref = attentionRef(q64, k64, v64, a.dims, a.opts);
        const bound = attentionBound(M, q64, k64, v64, a.dims, a.opts, ref);
        const { B, NH, T, S, hs } = a.dims;
        const what = `attention B=${B} NH=${NH} T=${T} S=${S} hs=${hs} causal=${c.causal} mask=${c.mask}/${c.maskShape}`;
        expectWithin(`${what} out`, r.out, ref.out, bound.out, [B, NH, T, hs]);
        expectWithin(`${what} lse`, r.lse, ref.lse, bound.lse, [B, NH, T]);
      }),
      propertyParams(40),
    );
  });

  it('backward: dq, dk, dv within attentionBackwardBound from the float32 out and lse; inputs untouched', () => {
    fc.assert(
      fc.property(attentionCaseArb({ profiles: ['normal', 'ties', 'zeros', 'tiny'], scales: [1e-3, 1, 3], maxScores: 16_000, maxElements: 30_000 }), fc.boolean(), (c, nan) => {
        const a = materialise({ ...c, q: noInf(c.q), k: noInf(c.k), v: noInf(c.v) }, true);
        if (a.dims.S === 0 || a.dims.hs === 0 || a.dims.T === 0) return;
        const args = argsOf(a);
        const f = rt.attention(a.q32, a.k32, a.v32, a.dims, args);
        const dout = doutOf(a, nan);
        const before = snapshot(dout, a.q32, a.k32, a.v32, f.out, f.lse);
        const g = rt.attentionBackward(dout, a.q32, a.k32, a.v32, f.out, f.lse, a.dims, args);
        expectUnchanged('attentionBackward', before, [dout, a.q32, a.k32, a.v32, f.out, f.lse]);
        const refArgs = [widen(dout), widen(a.q32), widen(a.k32), widen(a.v32), widen(f.out), widen(f.lse), a.dims, a.opts] as const;
        const ref = attentionBackwardRef(...refArgs);
        const bound = attentionBackwardBound(M, ...refArgs, ref);
        const { B, NH, T, S, hs } = a.dims;
        const what = `attentionBackward B=${B} NH=${NH} T=${T} S=${S} hs=${hs} causal=${c.causal} mask=${c.mask}`;
        expectWithin(`${what} dq`, g.dq, ref.dq, bound.dq, [B, NH, T, hs]);
        expectWithin(`${what} dk`, g.dk, ref.dk, bound.dk, [B, NH, S, hs]);
        expectWithin(`${what} dv`, g.dv, ref.dv, bound.dv, [B, NH, S, hs]);
      }),
      propertyParams(30),
    );
  });
});

describe('wasm attention: the contract', () => {
  const dims = { B: 1, NH: 1, T: 3, S: 3, hs: 2 };
  it('a fully masked row gives out = 0, lse = −Inf and zero gradients; NaN in an excluded key or value never reaches a row', () => {
    const q = new Float32Array([1, 2, 3, 4, 5, 6]);
    const k = new Float32Array([1, 0, 0, 1, NaN, NaN]);
    const v = new Float32Array([1, 2, 3, 4, Infinity, NaN]);
    // row 0 sees nothing, row 1 sees key 0 (boolean mask), row 2 sees keys 0 and 1 (the NaN key 2 is masked)
    const mask = { data: new Float32Array([0, 0, 0, 1, 0, 0, 1, 1, 0]), kind: 1 as const, strides: [0, 0, 3, 1] };
    const r = rt.attention(q, k, v, dims, { causal: false, scale: 1, mask });
    expect(Array.from(r.out.subarray(0, 2))).toEqual([0, 0]);
    expect(r.lse[0]).toBe(-Infinity);
    expect(Array.from(r.out.subarray(2, 4))).toEqual([1, 2]);
    for (const x of r.out) expect(Number.isNaN(x)).toBe(false);
    const g = rt.attentionBackward(new Float32Array(6).fill(1), q, k, v, r.out, r.lse, dims, { causal: false, scale: 1, mask });
    expect(Array.from(g.dq.subarray(0, 2))).toEqual([0, 0]);
    for (const x of [...g.dq, ...g.dk, ...g.dv]) expect(Number.isNaN(x)).toBe(false);
  });

  it('±Inf in v reaches every row that includes its key even where the weight underflows to 0; NaN and +Inf scores', () => {
    const d = { B: 1, NH: 1, T: 1, S: 2, hs: 1 };
    // score gap 200: exp(−200) underflows float32, yet the key takes part
    const r = rt.attention(new Float32Array([1]), new Float32Array([200, 0]), new Float32Array([5, Infinity]), d, { causal: false, scale: 1 });
    expect(r.out[0]).toBe(Infinity);
    const n = rt.attention(new Float32Array([NaN]), new Float32Array([1, 2]), new Float32Array([1, 2]), d, { causal: false, scale: 1 });
    expect(n.out[0]).toBeNaN();
    expect(n.lse[0]).toBeNaN();
    const p = rt.attention(new Float32Array([Infinity]), new Float32Array([1, 2]), new Float32Array([1, 2]), d, { causal: false, scale: 1 });
    expect(p.lse[0]).toBe(Infinity);
    expect(p.out[0]).toBeNaN();
  });

  it('causal with T > S: the queries t ≥ S see every key (top-left alignment)', () => {
    const d = { B: 1, NH: 1, T: 4, S: 2, hs: 1 };
    const r = rt.attention(new Float32Array([0, 0, 0, 0]), new Float32Array([0, 0]), new Float32Array([2, 4]), d, { causal: true, scale: 1 });
    expect(Array.from(r.out)).toEqual([2, 3, 3, 3]);
  });
});

describe('wasm attention: threads', () => {
  it('two threads give the bits of one: rows split in the forward, heads in the backward; the GPT shape and odd ones', () => {
    for (const [B, NH, T, S, hs, causal, masked] of [
      [16, 4, 64, 64, 16, true, false],
      [2, 3, 77, 77, 33, true, true],
      [1, 5, 19, 131, 8, false, true],
    ] as const) {
      const dims = { B, NH, T, S, hs };
      const spec = { profile: 'normal' as const, scale: 1.5, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 };
      const q = generate({ ...spec, seed: 1 }, B * NH * T, hs);
      const k = generate({ ...spec, seed: 2 }, B * NH * S, hs);
      const v = generate({ ...spec, seed: 3 }, B * NH * S, hs);
      const dout = generate({ ...spec, seed: 4 }, B * NH * T, hs);
      const mdata = generate({ ...spec, seed: 5, negInf: 0.3 }, T, S);
      const args: AttentionArgs = { causal, scale: 1 / Math.sqrt(hs), ...(masked ? { mask: { data: mdata, kind: 2 as const, strides: [0, 0, S, 1] } } : {}) };
      const f1 = rt.attention(q, k, v, dims, args, { threads: 1 });
      const f2 = rt.attention(q, k, v, dims, args, { threads: 2 });
      expectSameBits('attention out', f2.out, f1.out);
      expectSameBits('attention lse', f2.lse, f1.lse);
      const g1 = rt.attentionBackward(dout, q, k, v, f1.out, f1.lse, dims, args, { threads: 1 });
      const g2 = rt.attentionBackward(dout, q, k, v, f1.out, f1.lse, dims, args, { threads: 2 });
      expectSameBits('attention dq', g2.dq, g1.dq);
      expectSameBits('attention dk', g2.dk, g1.dk);
      expectSameBits('attention dv', g2.dv, g1.dv);
    }
  });
});
