/**
 * Shared checks for the AdamW step: one step against the FP64 reference
 * within the derived bound (random options, extreme values), several steps
 * feeding the device's own state back, and named edge cases, including the
 * first step derived by hand from the formula.
 */
import fc from 'fast-check';
import { adamw, adamwBound, adamwConfig, adamwRef, type AdamWConfig, type AdamWOptions } from '../../kernels/adamw.js';
import { Tensor } from '../../tensor.js';
import { dimArb, valueSpecArb } from '../arbitraries.js';
import { compareWithAllowed, describeFailure } from '../compare.js';
import { expectWithinBound, property, withUnmutatedInputs, type CheckContext, type KernelCheck } from '../suite.js';
import { widen, type ValueSpec } from '../values.js';
import { foldedValues } from './matmul.js';

export interface AdamWCase {
  n: number;
  options: AdamWOptions;
  pSpec: ValueSpec;
  gSpec: ValueSpec;
  mSpec: ValueSpec;
  vSpec: ValueSpec;
}

export function adamwOptionsArb(): fc.Arbitrary<AdamWOptions> {
  return fc.record({
    lr: fc.constantFrom(1e-3, 3e-4, 0.1, 0, 1),
    step: fc.oneof(fc.constantFrom(1, 2, 3, 10, 1000), fc.integer({ min: 1, max: 1_000_000 })),
    beta1: fc.constantFrom(0.9, 0.95, 0, 0.5),
    beta2: fc.constantFrom(0.999, 0.99, 0.95, 0),
    eps: fc.constantFrom(1e-8, 1e-6, 1e-3),
    weightDecay: fc.constantFrom(0.01, 0, 0.1),
  });
}

export function adamwCaseArb(maxN = 5000): fc.Arbitrary<AdamWCase> {
  return fc.record({ n: dimArb(maxN), options: adamwOptionsArb(), pSpec: valueSpecArb(), gSpec: valueSpecArb(), mSpec: valueSpecArb(), vSpec: valueSpecArb() });
}

/**
 * State and gradient from the specs: θ with the full extreme mix; g and m
 * folded below 1e16 and v the square of such values (≤ 1e32), so v' stays
 * inside the float32 range where the bound holds (see the contract).
 */
export function adamwInputs(c: Pick<AdamWCase, 'n' | 'pSpec' | 'gSpec' | 'mSpec' | 'vSpec'>) {
  const p32 = foldedValues({ ...c.pSpec }, c.n);
  const g32 = foldedValues(c.gSpec, c.n);
  const m32 = foldedValues(c.mSpec, c.n);
  const v32 = foldedValues(c.vSpec, c.n).map((x) => x * x);
  return { p32, g32, m32, v32 };
}

/** Runs one step on the device and compares all three outputs with the reference. */
async function checkStep(ctx: CheckContext, config: AdamWConfig, p: Tensor, g: Tensor, m: Tensor, v: Tensor): Promise<{ param: Tensor; m: Tensor; v: Tensor }> {
  const out = await withUnmutatedInputs({ p, g, m, v }, () => adamw(ctx.device, { param: p, grad: g, m, v }, config));
  const [p64, g64, m64, v64] = await Promise.all([p, g, m, v].map(async (t) => widen(Float32Array.from(await t.read()))));
  const ref = adamwRef(p64, g64, m64, v64, config);
  const bound = adamwBound(ctx.model, p64, g64, m64, v64, config, ref);
  const where = (output: string) => ({ kernel: 'adamw', phase: 'forward' as const, output });
  await expectWithinBound(ctx, where('m'), out.m, ref.m, bound.m);
  await expectWithinBound(ctx, where('v'), out.v, ref.v, bound.v);
  await expectWithinBound(ctx, where('param'), out.param, ref.param, bound.param);
  return out;
}

const main: KernelCheck[] = [
  {
    id: 'adamw: one step within bound of the FP64 reference',
    kernel: 'adamw',
    phase: 'forward',
    defaultRuns: 30,
    run: (ctx) =>
      property(ctx, adamwCaseArb(), async (c) => {
        const { p32, g32, m32, v32 } = adamwInputs(c);
        const t = (x: Float32Array) => Tensor.fromHost(x, [c.n]);
        await checkStep(ctx, adamwConfig('adamw', c.options), t(p32), t(g32), t(m32), t(v32));
      }),
  },
  {
    id: 'adamw: several steps feeding the device state back, each within bound',
    kernel: 'adamw',
    phase: 'forward',
    defaultRuns: 8,
    run: (ctx) =>
      property(ctx, fc.tuple(adamwCaseArb(400), fc.constantFrom(1, 10, 100), fc.integer({ min: 2, max: 5 })), async ([c, t0, steps]) => {
        const config0 = adamwConfig('adamw', { ...c.options, step: t0 });
        const first = adamwInputs(c);
        const t = (x: Float32Array) => Tensor.fromHost(x, [c.n]);
        let state = { param: t(first.p32), m: Tensor.fromHost(new Float32Array(c.n), [c.n]), v: Tensor.fromHost(new Float32Array(c.n), [c.n]) };
        for (let s = 0; s < steps; s++) {
          const g = t(foldedValues({ ...c.gSpec, seed: c.gSpec.seed + s }, c.n));
          // outputs of one step (resident on webgpu) are the next step's inputs
          state = await checkStep(ctx, { ...config0, step: t0 + s }, state.param, g, state.m, state.v);
        }
      }),
  },
];

/** f32 tensors of a list. */
const f32 = (xs: number[]) => Tensor.fromHost(Float32Array.from(xs), [xs.length]);

interface EdgeCase {
  name: string;
  p: number[];
  g: number[];
  m: number[];
  v: number[];
  options: AdamWOptions;
}

/** Edge cases compared with the reference within the bound (non-finite values exactly). */
const refEdges: EdgeCase[] = [
  { name: 'NaN gradient gives NaN param and moments', p: [1, 2, 3], g: [NaN, 1, NaN], m: [0, 0, 1], v: [0, 0, 1], options: { lr: 1e-3, step: 1 } },
  { name: '±Inf gradient: m = ±Inf, v = +Inf, param NaN', p: [1, 2], g: [Infinity, -Infinity], m: [0, 0], v: [0, 0], options: { lr: 1e-3, step: 5 } },
  { name: 'gradients of 1e15: v to 1e27 without overflow', p: [1, -1, 0], g: [1e15, -1e15, 1e15], m: [0, 1e15, -1e15], v: [0, 1e30, 1e30], options: { lr: 1e-3, step: 3 } },
  { name: 'subnormal gradients and moments', p: [1e-40, 1, -1e-45], g: [1e-40, -1e-45, 1e-39], m: [1e-41, 0, -1e-40], v: [1e-45, 1e-40, 0], options: { lr: 1e-3, step: 2 } },
  { name: 'β₁ = β₂ = 0 (plain sign-like steps)', p: [1, 2, 3], g: [0.5, -2, 0], m: [9, 9, 9], v: [9, 9, 9], options: { lr: 0.1, step: 1, beta1: 0, beta2: 0, weightDecay: 0 } },
];

const edges: KernelCheck[] = [
  ...refEdges.map(({ name, p, g, m, v, options }) => ({
    id: `adamw: ${name}`,
    kernel: 'adamw',
    phase: 'forward' as const,
    defaultRuns: 1,
    run: async (ctx: CheckContext) => {
      await checkStep(ctx, adamwConfig('adamw', options), f32(p), f32(g), f32(m), f32(v));
    },
  })),
  {
    id: 'adamw: first step with g = 1 from zero moments moves θ by lr/(1 + eps) after the decay (derived by hand)',
    kernel: 'adamw',
    phase: 'forward',
    defaultRuns: 1,
    run: async (ctx) => {
      // m' = 1 − β₁, v' = 1 − β₂, m̂ = m'/(1 − β₁) = 1, v̂ = 1: the update is lr·1/(√1 + eps)
      const lr = 0.01;
      const wd = 0.1;
      const eps = 1e-8;
      const theta = [1, -2, 0, 3.5, 1e10];
      const n = theta.length;
      const config = adamwConfig('adamw', { lr, step: 1, weightDecay: wd, eps });
      const out = await adamw(ctx.device, { param: f32(theta), grad: f32(Array(n).fill(1)), m: f32(Array(n).fill(0)), v: f32(Array(n).fill(0)) }, config);
      const hand = {
        param: Float64Array.from(theta, (x) => x - lr * wd * x - lr / (1 + eps)),
        m: new Float64Array(n).fill(1 - 0.9),
        v: new Float64Array(n).fill(1 - 0.999),
      };
      const bound = adamwBound(ctx.model, Float64Array.from(theta), new Float64Array(n).fill(1), new Float64Array(n), new Float64Array(n), config, hand);
      for (const k of ['param', 'm', 'v'] as const) {
        const r = compareWithAllowed(await out[k].read(), hand[k], bound[k].allowed);
        if (!r.ok) throw new Error(describeFailure(`adamw first step '${k}' vs the hand-derived value on ${ctx.device.backend}`, r, [n], bound[k].note));
      }
    },
  },
  {
    id: 'adamw: g = 0 with zero moments only decays; lr = 0 leaves θ exactly unchanged',
    kernel: 'adamw',
    phase: 'forward',
    defaultRuns: 1,
    run: async (ctx) => {
      const theta = [1, -2, 0, 3.5, 1e30, -1e-30];
      const n = theta.length;
      const zeros = () => f32(Array(n).fill(0));
      const config = adamwConfig('adamw', { lr: 0.5, step: 7, weightDecay: 0.01 });
      const out = await adamw(ctx.device, { param: f32(theta), grad: zeros(), m: zeros(), v: zeros() }, config);
      const decayed = Float64Array.from(theta, (x) => Math.fround(x) * (1 - 0.5 * 0.01));
      // dec·θ: dec's float32 argument, the product, the subtraction of 0 and the store
      const allowed = decayed.map((x) => 4 * ctx.model.uStore * Math.abs(x) + ctx.model.tiny);
      const r = compareWithAllowed(await out.param.read(), decayed, allowed);
      if (!r.ok) throw new Error(describeFailure(`adamw with g = 0 on ${ctx.device.backend}`, r, [n], 'θ·(1 − lr·wd) up to 4 roundings'));
      const mv = [...(await out.m.read()), ...(await out.v.read())];
      if (mv.some((x) => x !== 0)) throw new Error(`adamw with g = 0 and zero moments gave m, v = [${mv}] on ${ctx.device.backend}`);
      const frozen = await adamw(ctx.device, { param: f32(theta), grad: f32([1, -1, 2, 0.5, 3, 1e10]), m: f32([0.1, 0, 2, -1, 5, 1]), v: f32([1, 2, 0, 3, 4, 1]) }, { lr: 0, step: 3 });
      const p = await frozen.param.read();
      const want = Float32Array.from(theta);
      if (p.some((x, i) => x !== want[i])) throw new Error(`adamw with lr = 0 changed θ: [${Array.from(p)}] vs [${Array.from(want)}] on ${ctx.device.backend}`);
    },
  },
  {
    id: 'adamw: v beyond float32 max becomes +Inf and that element only decays (the contract)',
    kernel: 'adamw',
    phase: 'forward',
    defaultRuns: 1,
    run: async (ctx) => {
      // (1 − β₂)·g² = 1e-3·1e44 = 1e41 > float32 max: v' = +Inf, m'/√v' = 0, θ' = θ·(1 − lr·wd)
      const theta = [2, -3];
      const out = await adamw(ctx.device, { param: f32(theta), grad: f32([1e22, -1e22]), m: f32([0, 0]), v: f32([0, 0]) }, { lr: 0.1, step: 1, weightDecay: 0.5 });
      const v = await out.v.read();
      const m = await out.m.read();
      const p = await out.param.read();
      const decayed = theta.map((x) => x * (1 - 0.1 * 0.5));
      const ok =
        v.every((x) => x === Infinity) &&
        Math.abs(m[0] - 1e21) <= 4 * ctx.model.uStore * 1e21 &&
        Math.abs(m[1] + 1e21) <= 4 * ctx.model.uStore * 1e21 &&
        p.every((x, i) => Math.abs(x - decayed[i]) <= 4 * ctx.model.uStore * Math.abs(decayed[i]));
      if (!ok) throw new Error(`adamw with g = ±1e22 on ${ctx.device.backend}: param [${Array.from(p)}], m [${Array.from(m)}], v [${Array.from(v)}]; expected param ≈ [${decayed}], m ≈ ±1e21, v = +Inf`);
    },
  },
];

export const adamwChecks: KernelCheck[] = [...main, ...edges];
