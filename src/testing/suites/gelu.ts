/**
 * Shared checks for GELU (exact erf form and tanh approximation), forward
 * and backward.
 */
import fc from 'fast-check';
import { gelu, geluBackward, geluBackwardBound, geluBackwardRef, geluBound, geluRef, type GeluApproximation } from '../../kernels/gelu.js';
import { Tensor } from '../../tensor.js';
import { matrixArb, type MatrixCase } from '../arbitraries.js';
import { compareWithAllowed, describeFailure } from '../compare.js';
import { expectWithinBound, property, withUnmutatedInputs, type CheckContext, type KernelCheck } from '../suite.js';
import { generate, widen, type ValueSpec } from '../values.js';

const F32_MAX = 3.4028234663852886e38;
const APPROXIMATIONS: GeluApproximation[] = ['none', 'tanh'];

/** Inputs: every profile (huge, tiny, ties, zeros …) with NaN and ±Inf planted. */
const inputs = () => matrixArb({ maxRows: 64, maxCols: 3000, maxElements: 40_000, scales: [1e-3, 1, 4, 10, 100] });

/** Upstream gradients: ordinary values of scale 1, occasionally NaN. */
function gradSpec(seed: number, specials: boolean): ValueSpec {
  return { seed: seed ^ 0x2545f491, profile: 'normal', scale: 1, nan: specials ? 0.002 : 0, posInf: 0, negInf: 0, maskedRow: 0 };
}

function tensorOf(c: MatrixCase) {
  const x32 = generate(c.spec, c.N, c.L);
  return { x32, x64: widen(x32), x: Tensor.fromHost(x32, [c.N, c.L]) };
}

const forward: KernelCheck[] = APPROXIMATIONS.map((approximate) => ({
  id: `gelu.forward (${approximate}): within bound of the FP64 reference`,
  kernel: 'gelu',
  phase: 'forward' as const,
  defaultRuns: 25,
  run: (ctx: CheckContext) =>
    property(ctx, inputs(), async (c) => {
      const { x64, x } = tensorOf(c);
      const y = await withUnmutatedInputs({ x }, () => gelu(ctx.device, x, { approximate }));
      const ref = geluRef(x64, approximate);
      await expectWithinBound(ctx, { kernel: 'gelu', phase: 'forward', output: `y (${approximate})` }, y, ref, geluBound(ctx.model, x64, ref, approximate));
    }),
}));

const backward: KernelCheck[] = APPROXIMATIONS.map((approximate) => ({
  id: `gelu.backward (${approximate}): within bound of the FP64 reference`,
  kernel: 'gelu',
  phase: 'backward' as const,
  defaultRuns: 20,
  run: (ctx: CheckContext) =>
    property(ctx, fc.tuple(inputs(), fc.boolean()), async ([c, specials]) => {
      const { x64, x } = tensorOf(c);
      const dy32 = generate(gradSpec(c.spec.seed, specials), c.N, c.L);
      const dy = Tensor.fromHost(dy32, [c.N, c.L]);
      const dx = await withUnmutatedInputs({ x, dy }, () => geluBackward(ctx.device, dy, x, { approximate }));
      const dy64 = widen(dy32);
      const ref = geluBackwardRef(dy64, x64, approximate);
      await expectWithinBound(ctx, { kernel: 'gelu', phase: 'backward', output: `dx (${approximate})` }, dx, ref, geluBackwardBound(ctx.model, dy64, x64, ref, approximate));
    }),
}));

/**
 * gelu(x) − gelu(−x) = x for both forms: x·Φ(x) + x·Φ(−x) = x, and
 * x·σ(2y) + x·σ(−2y) = x because y is odd in x. Each output is within its
 * bound of the exact value; the float64 subtraction of the check adds at
 * most 2^-53·|x|.
 */
const metamorphic: KernelCheck[] = [
  ...APPROXIMATIONS.map((approximate) => ({
    id: `gelu.forward (${approximate}): gelu(x) − gelu(−x) = x`,
    kernel: 'gelu',
    phase: 'forward' as const,
    defaultRuns: 15,
    run: (ctx: CheckContext) =>
      property(ctx, matrixArb({ maxRows: 16, maxCols: 3000, maxElements: 20_000, scales: [1, 4, 10] }), async (c) => {
        const { x32, x64, x } = tensorOf(c);
        const xn32 = x32.map((v) => -v);
        const xn64 = widen(xn32);
        const yp = await (await gelu(ctx.device, x, { approximate })).read();
        const yn = await (await gelu(ctx.device, Tensor.fromHost(xn32, [c.N, c.L]), { approximate })).read();
        const bp = geluBound(ctx.model, x64, geluRef(x64, approximate), approximate).allowed;
        const bn = geluBound(ctx.model, xn64, geluRef(xn64, approximate), approximate).allowed;
        const diff = new Float64Array(x64.length);
        const allowed = new Float64Array(x64.length);
        for (let i = 0; i < diff.length; i++) {
          diff[i] = yp[i] - yn[i];
          allowed[i] = bp[i] + bn[i] + 2 ** -53 * Math.abs(x64[i]);
        }
        const r = compareWithAllowed(diff, x64, allowed);
        if (!r.ok) throw new Error(describeFailure(`gelu(x) − gelu(−x) vs x (${approximate}) on ${ctx.device.backend}`, r, [c.N, c.L], 'sum of the two bounds'));
      }),
  })),
  ...APPROXIMATIONS.map((approximate) => ({
    id: `gelu.backward (${approximate}): agrees with finite differences of the forward on this backend`,
    kernel: 'gelu',
    phase: 'backward' as const,
    defaultRuns: 10,
    run: (ctx: CheckContext) => property(ctx, fc.integer({ min: 0, max: 0x7fffffff }), (seed) => fdCheck(ctx, approximate, seed)),
  })),
];

/**
 * Central differences of the device's own forward pass, Richardson
 * extrapolated: G = (4·D(h/2) − D(h))/3 with D(s) = (f(x + s) − f(x − s))/2s
 * and h = 1/64. x lies on a 1/256 grid in [−8, 8], so x ± h and x ± h/2 are
 * exact in float32. Error of G:
 *   - from the device values: each f(x ± s) is within its forward bound b,
 *     so |ΔG| ≤ (4/3)·(b(x + h/2) + b(x − h/2))/h + (1/3)·(b(x + h) + b(x − h))/(2h);
 *   - truncation: G = f' − (h⁴/480)·f⁽⁵⁾(ξ) + O(h⁶·f⁽⁷⁾/15120); for the erf
 *     form gelu⁽⁵⁾ = φ(x)·(x⁵ − 11x³ + 18x), whose maximum is 2.84; the tanh
 *     form's is 2.87 (both found on a fine grid, |f⁽⁷⁾| ≤ 18), so with 4 in
 *     place of f⁽⁵⁾ the truncation is below 4·h⁴/480 + 1e-13 < 1.4e-9.
 * The device backward (dy = 1) must be within its own bound plus both.
 */
async function fdCheck(ctx: CheckContext, approximate: GeluApproximation, seed: number): Promise<void> {
  const n = 257;
  const h = 1 / 64;
  const spec: ValueSpec = { seed, profile: 'normal', scale: 3, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 };
  const x32 = generate(spec, 1, n).map((v) => Math.max(-8, Math.min(8, Math.round(v * 256) / 256)));
  const shifted = [h, -h, h / 2, -h / 2].map((s) => x32.map((v) => v + s));
  const values = await Promise.all(shifted.map(async (xs) => (await gelu(ctx.device, Tensor.fromHost(xs, [n]), { approximate })).read()));
  const bounds = shifted.map((xs) => {
    const x64 = widen(xs);
    return geluBound(ctx.model, x64, geluRef(x64, approximate), approximate).allowed;
  });
  const dy = Tensor.fromHost(new Float32Array(n).fill(1), [n]);
  const dx = await (await geluBackward(ctx.device, dy, Tensor.fromHost(x32, [n]), { approximate })).read();
  const x64 = widen(x32);
  const ones = new Float64Array(n).fill(1);
  const bwd = geluBackwardBound(ctx.model, ones, x64, geluBackwardRef(ones, x64, approximate), approximate).allowed;
  const G = new Float64Array(n);
  const allowed = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const Dh = (values[0][i] - values[1][i]) / (2 * h);
    const Dh2 = (values[2][i] - values[3][i]) / h;
    G[i] = (4 * Dh2 - Dh) / 3;
    allowed[i] = bwd[i] + ((4 / 3) * (bounds[2][i] + bounds[3][i])) / h + ((1 / 3) * (bounds[0][i] + bounds[1][i])) / (2 * h) + 1.4e-9 + 2 ** -50;
  }
  const r = compareWithAllowed(dx, G, allowed, { float32: false });
  if (!r.ok) throw new Error(describeFailure(`geluBackward (${approximate}) vs finite differences of gelu on ${ctx.device.backend}`, r, [n], 'backward bound + FD error'));
}

/** Named edge cases, each checked forward (bound) and backward with dy = 1. */
const edgeCases: { name: string; xs: number[] }[] = [
  { name: 'NaN and infinities', xs: [NaN, Infinity, -Infinity, 0, -0] },
  { name: 'huge values', xs: [1e30, -1e30, F32_MAX, -F32_MAX, 1e20, -1e20, 1e13, -1e13] },
  { name: 'negative tail (relative accuracy until underflow)', xs: [-3, -5, -8, -10, -12, -13, -13.5, -14, -14.25, -14.5, -15, -15.5, -20, -40] },
  { name: 'positive saturation', xs: [3, 5, 5.9, 6, 10, 14.9, 15, 15.1, 16, 100] },
  { name: 'tiny and subnormal', xs: [1e-45, -1e-45, 1e-40, -1e-40, 1e-38, -1e-38, 1e-20, -1e-20] },
  { name: 'around the minimum (gelu′ = 0 near −0.7518)', xs: [-0.75, -0.7517, -0.7518, -0.752, -0.76, -0.5, -1] },
];

const edges: KernelCheck[] = edgeCases.flatMap(({ name, xs }) =>
  APPROXIMATIONS.map((approximate) => ({
    id: `gelu (${approximate}): ${name}`,
    kernel: 'gelu',
    phase: 'forward' as const,
    defaultRuns: 1,
    run: async (ctx: CheckContext) => {
      const x32 = Float32Array.from(xs);
      const x64 = widen(x32);
      const x = Tensor.fromHost(x32, [xs.length]);
      const ref = geluRef(x64, approximate);
      await expectWithinBound(ctx, { kernel: 'gelu', phase: 'forward', output: `y (${approximate})` }, await gelu(ctx.device, x, { approximate }), ref, geluBound(ctx.model, x64, ref, approximate));
      const ones = new Float64Array(xs.length).fill(1);
      const dref = geluBackwardRef(ones, x64, approximate);
      const dx = await geluBackward(ctx.device, Tensor.fromHost(new Float32Array(xs.length).fill(1), [xs.length]), x, { approximate });
      await expectWithinBound(ctx, { kernel: 'gelu', phase: 'backward', output: `dx (${approximate})` }, dx, dref, geluBackwardBound(ctx.model, ones, x64, dref, approximate));
    },
  })),
);

export const geluChecks: KernelCheck[] = [...forward, ...backward, ...metamorphic, ...edges];
