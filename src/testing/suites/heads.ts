/**
 * Shared checks for splitHeads / mergeHeads: pure permutations, so every
 * backend must reproduce the reference exactly (allowed error 0, NaN ↔ NaN).
 */
import fc from 'fast-check';
import { mergeHeads, mergeHeadsBackward, mergeHeadsRef, splitHeads, splitHeadsBackward, splitHeadsRef, unmergeHeadsRef, unsplitHeadsRef } from '../../kernels/heads.js';
import { Tensor } from '../../tensor.js';
import { valueSpecArb } from '../arbitraries.js';
import { expectWithinBound, property, withUnmutatedInputs, type KernelCheck } from '../suite.js';
import { generate, widen } from '../values.js';

const dimsArb = fc.record({
  B: fc.integer({ min: 1, max: 3 }),
  T: fc.integer({ min: 1, max: 17 }),
  NH: fc.integer({ min: 1, max: 4 }),
  hs: fc.constantFrom(1, 2, 3, 8, 16),
  spec: valueSpecArb(),
});

const exact = (n: number) => ({ allowed: new Float64Array(n), note: 'a permutation: exact' });

export const headsChecks: KernelCheck[] = [
  {
    id: 'splitHeads.forward and backward: exact permutations',
    kernel: 'splitHeads',
    phase: 'forward',
    defaultRuns: 15,
    run: (ctx) =>
      property(ctx, dimsArb, async ({ B, T, NH, hs, spec }) => {
        const C = NH * hs;
        const x32 = generate(spec, B * T, 3 * C);
        const qkv = Tensor.fromHost(x32, [B, T, 3 * C]);
        const { q, k, v } = await withUnmutatedInputs({ qkv }, () => splitHeads(ctx.device, qkv, NH));
        const dims = { B, T, NH, hs };
        const x64 = widen(x32);
        const n = B * NH * T * hs;
        await expectWithinBound(ctx, { kernel: 'splitHeads', phase: 'forward', output: 'q' }, q, splitHeadsRef(x64, dims, 0), exact(n));
        await expectWithinBound(ctx, { kernel: 'splitHeads', phase: 'forward', output: 'k' }, k, splitHeadsRef(x64, dims, 1), exact(n));
        await expectWithinBound(ctx, { kernel: 'splitHeads', phase: 'forward', output: 'v' }, v, splitHeadsRef(x64, dims, 2), exact(n));
        const d = [0, 1, 2].map((p) => Tensor.fromHost(generate({ ...spec, seed: spec.seed + p + 1 }, B * NH * T, hs), [B, NH, T, hs]));
        const dqkv = await withUnmutatedInputs({ dq: d[0], dk: d[1], dv: d[2] }, () => splitHeadsBackward(ctx.device, d[0], d[1], d[2]));
        const ref = unsplitHeadsRef(widen(d[0].data as Float32Array), widen(d[1].data as Float32Array), widen(d[2].data as Float32Array), dims);
        await expectWithinBound(ctx, { kernel: 'splitHeads', phase: 'backward', output: 'dqkv' }, dqkv, ref, exact(ref.length));
      }),
  },
  {
    id: 'mergeHeads.forward and backward: exact permutations',
    kernel: 'mergeHeads',
    phase: 'forward',
    defaultRuns: 15,
    run: (ctx) =>
      property(ctx, dimsArb, async ({ B, T, NH, hs, spec }) => {
        const y32 = generate(spec, B * NH * T, hs);
        const y = Tensor.fromHost(y32, [B, NH, T, hs]);
        const dims = { B, T, NH, hs };
        const out = await withUnmutatedInputs({ y }, () => mergeHeads(ctx.device, y));
        const ref = mergeHeadsRef(widen(y32), dims);
        await expectWithinBound(ctx, { kernel: 'mergeHeads', phase: 'forward', output: 'out' }, out, ref, exact(ref.length));
        const g32 = generate({ ...spec, seed: spec.seed + 7 }, B * T, NH * hs);
        const dout = Tensor.fromHost(g32, [B, T, NH * hs]);
        const dy = await withUnmutatedInputs({ dout }, () => mergeHeadsBackward(ctx.device, dout, NH));
        const dref = unmergeHeadsRef(widen(g32), dims);
        await expectWithinBound(ctx, { kernel: 'mergeHeads', phase: 'backward', output: 'dy' }, dy, dref, exact(dref.length));
      }),
  },
];
