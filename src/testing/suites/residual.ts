/**
 * Shared checks for the residual add, forward and backward.
 */
import fc from 'fast-check';
import { residual, residualBackward, residualBackwardBound, residualBound, residualRef } from '../../kernels/residual.js';
import { Tensor } from '../../tensor.js';
import { matrixArb, valueSpecArb } from '../arbitraries.js';
import { compareWithAllowed, describeFailure } from '../compare.js';
import { expectWithinBound, property, withUnmutatedInputs, type CheckContext, type KernelCheck } from '../suite.js';
import { generate, widen } from '../values.js';

const F32_MAX = 3.4028234663852886e38;

/** Two tensors of one shape with independently drawn extreme-value mixes. */
const pairs = () => fc.tuple(matrixArb({ maxRows: 64, maxCols: 3000, maxElements: 40_000 }), valueSpecArb());

const forward: KernelCheck[] = [
  {
    id: 'residual.forward: within bound of the FP64 reference',
    kernel: 'residual',
    phase: 'forward',
    defaultRuns: 25,
    run: (ctx) =>
      property(ctx, pairs(), async ([c, specB]) => {
        const a32 = generate(c.spec, c.N, c.L);
        const b32 = generate(specB, c.N, c.L);
        const a = Tensor.fromHost(a32, [c.N, c.L]);
        const b = Tensor.fromHost(b32, [c.N, c.L]);
        const out = await withUnmutatedInputs({ a, b }, () => residual(ctx.device, a, b));
        const ref = residualRef(widen(a32), widen(b32));
        await expectWithinBound(ctx, { kernel: 'residual', phase: 'forward', output: 'out' }, out, ref, residualBound(ctx.model, ref));
      }),
  },
  {
    id: 'residual.forward: commutative, bit for bit',
    kernel: 'residual',
    phase: 'forward',
    defaultRuns: 10,
    run: (ctx) =>
      property(ctx, pairs(), async ([c, specB]) => {
        const a = Tensor.fromHost(generate(c.spec, c.N, c.L), [c.N, c.L]);
        const b = Tensor.fromHost(generate(specB, c.N, c.L), [c.N, c.L]);
        const ab = await (await residual(ctx.device, a, b)).read();
        const ba = await (await residual(ctx.device, b, a)).read();
        // a correctly rounded sum does not depend on the order of its operands
        const r = compareWithAllowed(ba, ab, 0);
        if (!r.ok) throw new Error(describeFailure(`residual(b, a) vs residual(a, b) on ${ctx.device.backend}`, r, [c.N, c.L], 'exact'));
      }),
  },
];

const backward: KernelCheck[] = [
  {
    id: 'residual.backward: da and db equal dout, as fresh tensors',
    kernel: 'residual',
    phase: 'backward',
    defaultRuns: 15,
    run: (ctx) =>
      property(ctx, matrixArb({ maxRows: 64, maxCols: 3000, maxElements: 40_000 }), async (c) => {
        const d32 = generate(c.spec, c.N, c.L);
        const dout = Tensor.fromHost(d32, [c.N, c.L]);
        const { da, db } = await withUnmutatedInputs({ dout }, () => residualBackward(ctx.device, dout));
        if (da === db || da === dout || db === dout) throw new Error(`residualBackward on ${ctx.device.backend} returned shared tensors`);
        const ref = widen(d32);
        const bound = residualBackwardBound(ctx.model, ref.length);
        await expectWithinBound(ctx, { kernel: 'residual', phase: 'backward', output: 'da' }, da, ref, bound);
        await expectWithinBound(ctx, { kernel: 'residual', phase: 'backward', output: 'db' }, db, ref, bound);
        // disposing one gradient leaves the other (and dout) readable
        da.dispose();
        const again = await db.read();
        const r = compareWithAllowed(again, ref, bound.allowed);
        if (!r.ok) throw new Error(describeFailure(`residualBackward db after da.dispose() on ${ctx.device.backend}`, r, [c.N, c.L]));
        db.dispose();
      }),
  },
];

/** Named edge cases; each row is [a…], [b…]. */
const edgeCases: { name: string; a: number[]; b: number[] }[] = [
  { name: 'overflow of finite inputs gives ±Inf', a: [F32_MAX, -F32_MAX, 3e38, 2e38], b: [F32_MAX, -F32_MAX, 3e38, -3e38] },
  { name: 'exact cancellation of huge values', a: [F32_MAX, 1e30, -1e30, 1], b: [-F32_MAX, -1e30, 1e30, -1] },
  { name: 'absorption: 1e30 + 1', a: [1e30, -1e30, 2 ** 24, 1], b: [1, -1, 1, 2 ** -30] },
  { name: 'propagates NaNs; Inf − Inf is NaN', a: [NaN, 1, Infinity, Infinity, -Infinity], b: [1, NaN, -Infinity, 5, 5] },
  { name: 'signed zeros and subnormals', a: [0, -0, 1e-45, 1e-40, -1e-40], b: [-0, -0, 1e-45, 1e-40, 2e-40] },
];

const edges: KernelCheck[] = edgeCases.map(({ name, a, b }) => ({
  id: `residual: ${name}`,
  kernel: 'residual',
  phase: 'forward' as const,
  defaultRuns: 1,
  run: async (ctx: CheckContext) => {
    const a32 = Float32Array.from(a);
    const b32 = Float32Array.from(b);
    const out = await residual(ctx.device, Tensor.fromHost(a32, [1, a.length]), Tensor.fromHost(b32, [1, b.length]));
    const ref = residualRef(widen(a32), widen(b32));
    await expectWithinBound(ctx, { kernel: 'residual', phase: 'forward', output: 'out' }, out, ref, residualBound(ctx.model, ref));
  },
}));

export const residualChecks: KernelCheck[] = [...forward, ...backward, ...edges];
