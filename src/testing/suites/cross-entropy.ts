/**
 * Shared checks for crossEntropy, forward and backward.
 */
import fc from 'fast-check';
import {
  countTargets,
  crossEntropy,
  crossEntropyBackward,
  crossEntropyBackwardBound,
  crossEntropyBackwardRef,
  crossEntropyBound,
  crossEntropyRef,
  type CrossEntropyConfig,
  type CrossEntropyReduction,
} from '../../kernels/cross-entropy.js';
import { logSoftmax, logSoftmaxBound, logSoftmaxRef, logSumExpBound, logSumExpRef } from '../../kernels/softmax.js';
import { Tensor } from '../../tensor.js';
import { matrixArb, type MatrixCase } from '../arbitraries.js';
import { compareWithAllowed, describeFailure } from '../compare.js';
import { expectWithinBound, property, withUnmutatedInputs, type CheckContext, type KernelCheck } from '../suite.js';
import { generate, Rng, widen, type ValueSpec } from '../values.js';

const F32_MAX = 3.4028234663852886e38;

/** Logits with the full extreme-value mix, fully masked rows included. */
const logits = () => matrixArb({ maxRows: 48, maxCols: 3000, maxElements: 30_000, maskedRows: true });

/** How targets and options are drawn for one case. */
interface TargetPlan {
  labelSmoothing: number;
  reduction: CrossEntropyReduction;
  /** −100 (the default, left out of the options), or values that collide with real classes. */
  ignoreIndex: number;
  /** Fraction of rows given ignoreIndex (1: every row, so 'mean' is NaN). */
  ignoreFrac: number;
  /** Fraction of rows whose target is the row's argmax (loss near 0). */
  argmaxFrac: number;
  /** Pass targets as int32 (else float32 holding integers). */
  int32: boolean;
}

const planArb = (o: { reductions?: CrossEntropyReduction[]; smoothing?: number[]; ignore?: boolean } = {}): fc.Arbitrary<TargetPlan> =>
  fc.record({
    labelSmoothing: fc.constantFrom(...(o.smoothing ?? [0, 0, 0.1, 0.5, 1])),
    reduction: fc.constantFrom(...(o.reductions ?? (['mean', 'sum', 'none'] as CrossEntropyReduction[]))),
    ignoreIndex: o.ignore === false ? fc.constant(-100) : fc.constantFrom(-100, -100, 0, -1),
    ignoreFrac: o.ignore === false ? fc.constant(0) : fc.constantFrom(0, 0, 0.3, 1),
    argmaxFrac: fc.constantFrom(0, 0.3),
    int32: fc.boolean(),
  });

function optionsOf(p: TargetPlan): CrossEntropyConfig {
  return { ignoreIndex: p.ignoreIndex, labelSmoothing: p.labelSmoothing, reduction: p.reduction };
}

/** Targets (N) for logits x (N, V): random classes, some at the row's argmax, some ignored. */
function makeTargets(seed: number, x: Float32Array, N: number, V: number, p: TargetPlan): { t64: Float64Array; targets: Tensor } {
  const rng = new Rng(seed ^ 0x2545f491);
  const t64 = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    if (rng.uniform() < p.ignoreFrac) {
      t64[r] = p.ignoreIndex;
      continue;
    }
    if (rng.uniform() < p.argmaxFrac) {
      let best = 0;
      for (let j = 1; j < V; j++) if (x[r * V + j] > x[r * V + best]) best = j;
      t64[r] = best;
    } else {
      t64[r] = rng.int(0, V - 1);
    }
  }
  const targets = Tensor.fromHost(p.int32 ? Int32Array.from(t64) : Float32Array.from(t64), [N]);
  return { t64, targets };
}

function inputs(c: MatrixCase) {
  const x32 = generate(c.spec, c.N, c.L);
  return { x32, x64: widen(x32), x: Tensor.fromHost(x32, [c.N, c.L]) };
}

/** Upstream gradients: ordinary values of scale 1, with an occasional NaN. */
function gradSpec(seed: number, specials: boolean): ValueSpec {
  return { seed: seed ^ 0x5bd1e995, profile: 'normal', scale: 1, nan: specials ? 0.002 : 0, posInf: 0, negInf: 0, maskedRow: 0 };
}

function expectShape(what: string, t: Tensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${what} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
}

const forward: KernelCheck[] = [
  {
    id: 'crossEntropy.forward: loss and lse within bound of the FP64 reference',
    kernel: 'crossEntropy',
    phase: 'forward',
    defaultRuns: 30,
    run: (ctx) =>
      property(ctx, fc.tuple(logits(), planArb()), async ([c, plan]) => {
        const { x32, x64, x } = inputs(c);
        const { t64, targets } = makeTargets(c.spec.seed, x32, c.N, c.L, plan);
        const o = optionsOf(plan);
        const { loss, lse } = await withUnmutatedInputs({ x, targets }, () => crossEntropy(ctx.device, x, targets, o));
        expectShape('crossEntropy loss', loss, o.reduction === 'none' ? [c.N] : []);
        expectShape('crossEntropy lse', lse, [c.N]);
        const ref = crossEntropyRef(x64, t64, c.N, c.L, o);
        await expectWithinBound(ctx, { kernel: 'crossEntropy', phase: 'forward', output: 'loss' }, loss, ref.loss, crossEntropyBound(ctx.model, x64, t64, c.N, c.L, o, ref.loss));
        await expectWithinBound(ctx, { kernel: 'crossEntropy', phase: 'forward', output: 'lse' }, lse, ref.lse, logSumExpBound(ctx.model, x64, c.N, c.L, ref.lse));
      }),
  },
];

const backward: KernelCheck[] = [
  {
    id: 'crossEntropy.backward: within bound of the FP64 reference',
    kernel: 'crossEntropy',
    phase: 'backward',
    defaultRuns: 25,
    run: (ctx) =>
      property(ctx, fc.tuple(logits(), planArb(), fc.boolean()), async ([c, plan, specials]) => {
        const { x32, x64, x } = inputs(c);
        const { t64, targets } = makeTargets(c.spec.seed, x32, c.N, c.L, plan);
        const o = optionsOf(plan);
        // the backward is checked for the lse it is given: the float32 rounding of the exact one
        const lse32 = Float32Array.from(logSumExpRef(x64, c.N, c.L));
        const dloss32 = generate(gradSpec(c.spec.seed, specials), 1, o.reduction === 'none' ? c.N : 1);
        const lse = Tensor.fromHost(lse32, [c.N]);
        const dloss = Tensor.fromHost(dloss32, o.reduction === 'none' ? [c.N] : []);
        const dx = await withUnmutatedInputs({ dloss, x, targets, lse }, () => crossEntropyBackward(ctx.device, dloss, x, targets, lse, o));
        expectShape('crossEntropyBackward dlogits', dx, [c.N, c.L]);
        const dloss64 = widen(dloss32);
        const lse64 = widen(lse32);
        const ref = crossEntropyBackwardRef(dloss64, x64, t64, lse64, c.N, c.L, o);
        const bound = crossEntropyBackwardBound(ctx.model, dloss64, x64, t64, lse64, c.N, c.L, o, ref);
        await expectWithinBound(ctx, { kernel: 'crossEntropy', phase: 'backward', output: 'dlogits' }, dx, ref, bound);
      }),
  },
];

/** Values on a 1/256 grid: adding a shift that is also on the grid is exact in float32. */
function gridCase(seed: number, N: number, V: number): { x32: Float32Array; shift: number } {
  const spec: ValueSpec = { seed, profile: 'normal', scale: 8, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 };
  const x32 = generate(spec, N, V).map((v) => Math.round(v * 256) / 256);
  const shift = (((seed % 4096) - 2048) / 256) * 8; // |shift| ≤ 64, a multiple of 1/32
  return { x32, shift };
}

/** Logits whose lse is accurate to a few ULPs of a modest number (no ±1e30 offsets). */
const moderateLogits = (specials: boolean) =>
  matrixArb({ maxRows: 32, maxCols: 3000, maxElements: 20_000, profiles: ['normal', 'ties', 'zeros', 'tiny'], specials });

const metamorphic: KernelCheck[] = [
  {
    id: 'crossEntropy.backward: gradient rows sum to 0 without smoothing or ignore',
    kernel: 'crossEntropy',
    phase: 'backward',
    defaultRuns: 15,
    run: (ctx) =>
      property(ctx, fc.tuple(moderateLogits(false), planArb({ smoothing: [0], ignore: false })), async ([c, plan]) => {
        const { x32, x64, x } = inputs(c);
        const { t64, targets } = makeTargets(c.spec.seed, x32, c.N, c.L, plan);
        const o = optionsOf(plan);
        const { lse } = await withUnmutatedInputs({ x, targets }, () => crossEntropy(ctx.device, x, targets, o));
        const dloss32 = generate(gradSpec(c.spec.seed, false), 1, o.reduction === 'none' ? c.N : 1);
        const dloss = Tensor.fromHost(dloss32, o.reduction === 'none' ? [c.N] : []);
        const dx = await (await withUnmutatedInputs({ dloss, x, targets, lse }, () => crossEntropyBackward(ctx.device, dloss, x, targets, lse, o))).read();
        // The device's lse̅ is within its bound of the exact lse; with it,
        //   Σ_j g·(exp(x_j − lse̅) − y_j) = g·(exp(lse − lse̅) − 1)   (Σ_j y_j = 1),
        // so |Σ_j dx̂_j| ≤ Σ_j (bound of dx̂_j against the lse̅ gradient) + |g|·expm1(|lse − lse̅|)
        // plus this float64 sum's own rounding.
        const lseDev = widen((await lse.read()) as Float32Array);
        const lseRef = logSumExpRef(x64, c.N, c.L);
        const lseErr = logSumExpBound(ctx.model, x64, c.N, c.L, lseRef).allowed;
        const dloss64 = widen(dloss32);
        const ref = crossEntropyBackwardRef(dloss64, x64, t64, lseDev, c.N, c.L, o);
        const b = crossEntropyBackwardBound(ctx.model, dloss64, x64, t64, lseDev, c.N, c.L, o, ref).allowed;
        for (let r = 0; r < c.N; r++) {
          const g = o.reduction === 'none' ? dloss64[r] : o.reduction === 'sum' ? dloss64[0] : dloss64[0] / c.N;
          let sum = 0;
          let abs = 0;
          let allowed = Math.abs(g) * Math.expm1(lseErr[r]);
          for (let j = 0; j < c.L; j++) {
            sum += dx[r * c.L + j];
            abs += Math.abs(dx[r * c.L + j]);
            allowed += b[r * c.L + j];
          }
          allowed += c.L * 2 ** -53 * abs;
          if (!(Math.abs(sum) <= allowed)) {
            throw new Error(`crossEntropyBackward row ${r} of [${c.N}, ${c.L}] sums to ${sum} on ${ctx.device.backend} (${o.reduction}, g ${g}); allowed |Σ| ≤ ${allowed}`);
          }
        }
      }),
  },
  {
    id: 'crossEntropy.forward: invariant under adding a constant per row',
    kernel: 'crossEntropy',
    phase: 'forward',
    defaultRuns: 15,
    run: (ctx) =>
      property(
        ctx,
        fc.record({ seed: fc.nat(), N: fc.integer({ min: 1, max: 8 }), V: fc.integer({ min: 1, max: 600 }), plan: planArb({ reductions: ['none'] }) }),
        async ({ seed, N, V, plan }) => {
          const { x32, shift } = gridCase(seed, N, V);
          // x + shift is exact on the grid (|x| < 2^7, 8 fractional bits, far below 2^24), so the exact loss is the same
          const xs32 = x32.map((v) => v + shift);
          const { t64, targets } = makeTargets(seed, x32, N, V, plan);
          const o = optionsOf(plan);
          const x64 = widen(x32);
          const ref = crossEntropyRef(x64, t64, N, V, o).loss;
          const b1 = crossEntropyBound(ctx.model, x64, t64, N, V, o, ref).allowed;
          const b2 = crossEntropyBound(ctx.model, widen(xs32), t64, N, V, o, ref).allowed;
          const xa = Tensor.fromHost(x32, [N, V]);
          const xb = Tensor.fromHost(xs32, [N, V]);
          const l1 = await (await withUnmutatedInputs({ xa, targets }, () => crossEntropy(ctx.device, xa, targets, o))).loss.read();
          const l2 = await (await withUnmutatedInputs({ xb, targets }, () => crossEntropy(ctx.device, xb, targets, o))).loss.read();
          const r = compareWithAllowed(l2, l1, b1.map((v, i) => v + b2[i]));
          if (!r.ok) throw new Error(describeFailure(`crossEntropy(x + ${shift}) vs crossEntropy(x) on ${ctx.device.backend}`, r, [N], 'sum of the two bounds'));
        },
      ),
  },
  {
    id: 'crossEntropy.forward: equals −logSoftmax(x)[t] without smoothing',
    kernel: 'crossEntropy',
    phase: 'forward',
    defaultRuns: 15,
    run: (ctx) =>
      property(ctx, fc.tuple(logits(), planArb({ reductions: ['none'], smoothing: [0], ignore: false })), async ([c, plan]) => {
        const { x32, x64, x } = inputs(c);
        const { t64, targets } = makeTargets(c.spec.seed, x32, c.N, c.L, plan);
        const o = optionsOf(plan);
        const ce = await (await withUnmutatedInputs({ x, targets }, () => crossEntropy(ctx.device, x, targets, o))).loss.read();
        const ls = await (await withUnmutatedInputs({ x }, () => logSoftmax(ctx.device, x))).read();
        const ceRef = crossEntropyRef(x64, t64, c.N, c.L, o).loss;
        const lsRef = logSoftmaxRef(x64, c.N, c.L);
        const bCe = crossEntropyBound(ctx.model, x64, t64, c.N, c.L, o, ceRef).allowed;
        const bLs = logSoftmaxBound(ctx.model, x64, c.N, c.L, lsRef).allowed;
        const viaLs = new Float64Array(c.N);
        const allowed = new Float64Array(c.N);
        for (let r = 0; r < c.N; r++) {
          const i = r * c.L + t64[r];
          // both are within their bounds of the same exact value (negation is exact)
          viaLs[r] = -ls[i];
          allowed[r] = bCe[r] + bLs[i];
        }
        const r = compareWithAllowed(ce, viaLs, allowed, { float32: true });
        if (!r.ok) throw new Error(describeFailure(`crossEntropy vs −logSoftmax(x)[t] on ${ctx.device.backend}`, r, [c.N], 'sum of the two bounds'));
      }),
  },
  {
    id: "crossEntropy.forward: reductions agree ('none' sums to 'sum', 'mean' = 'sum'/count)",
    kernel: 'crossEntropy',
    phase: 'forward',
    defaultRuns: 15,
    run: (ctx) =>
      property(ctx, fc.tuple(moderateLogits(true), planArb({ reductions: ['none'] })), async ([c, plan]) => {
        const { x32, x64, x } = inputs(c);
        const { t64, targets } = makeTargets(c.spec.seed, x32, c.N, c.L, plan);
        const run = async (reduction: CrossEntropyReduction) => {
          const o = { ...optionsOf(plan), reduction };
          const loss = await (await withUnmutatedInputs({ x, targets }, () => crossEntropy(ctx.device, x, targets, o))).loss.read();
          const ref = crossEntropyRef(x64, t64, c.N, c.L, o).loss;
          return { loss, allowed: crossEntropyBound(ctx.model, x64, t64, c.N, c.L, o, ref).allowed };
        };
        const none = await run('none');
        const sum = await run('sum');
        const mean = await run('mean');
        const count = countTargets(t64, c.N, plan.ignoreIndex);
        let total = 0;
        let abs = 0;
        let allowed = sum.allowed[0];
        for (let r = 0; r < c.N; r++) {
          total += none.loss[r];
          abs += Math.abs(none.loss[r]);
          allowed += none.allowed[r];
        }
        // each side is within its bound of the same exact sum; the float64 sum here adds ≤ N·2^-53·Σ|loss|
        const rs = compareWithAllowed(sum.loss, [total], allowed + c.N * 2 ** -53 * abs, { float32: true });
        if (!rs.ok) throw new Error(describeFailure(`crossEntropy 'sum' vs Σ 'none' on ${ctx.device.backend}`, rs, [], 'sum of the bounds'));
        const viaSum = sum.loss[0] / count; // count 0: 0/0 = NaN, which 'mean' must be too
        const rm = compareWithAllowed(mean.loss, [viaSum], mean.allowed[0] + sum.allowed[0] / count + 2 ** -53 * Math.abs(viaSum), { float32: true });
        if (!rm.ok) throw new Error(describeFailure(`crossEntropy 'mean' vs 'sum'/${count} on ${ctx.device.backend}`, rm, [], 'sum of the bounds'));
      }),
  },
];

/** Named edge cases, each checked (forward and backward, several option sets) against the FP64 reference. */
const edgeCases: { name: string; rows: number[][]; targets: number[] }[] = [
  { name: 'overflow', rows: [[1000, 1000, 1000], [88.8, 89, 90]], targets: [1, 0] },
  { name: 'underflow', rows: [[-1000, -1000, -1000], [-104, -150, -200]], targets: [2, 2] },
  {
    name: 'huge logit gaps (±1e30, float32 max)',
    rows: [[1e30, 0, -1e30], [1e30, 0, -1e30], [F32_MAX, -F32_MAX, 0], [-1e30, 1e30, 1e30], [F32_MAX, -F32_MAX, -F32_MAX]],
    targets: [0, 2, 1, 0, 2],
  },
  { name: 'propagates NaNs', rows: [[1, NaN, 2], [NaN, Infinity, -Infinity], [0, 1, 2]], targets: [0, 2, 1] },
  { name: '+Inf logit', rows: [[Infinity, 1, 2], [1, Infinity, 2], [0, 1, 2]], targets: [0, 0, 2] },
  { name: '−Inf at non-target positions (masked vocabulary)', rows: [[-Infinity, 0, 1], [5, -Infinity, -Infinity]], targets: [1, 0] },
  { name: '−Inf at the target', rows: [[-Infinity, 0, 1], [0, 1, 2]], targets: [0, 1] },
  { name: 'all −Inf row', rows: [[-Infinity, -Infinity, -Infinity], [0, 1, 2]], targets: [1, 1] },
  { name: 'ignored rows are 0 whatever their logits', rows: [[NaN, 1, 2], [Infinity, 0, 0], [-Infinity, -Infinity, -Infinity], [1, 2, 3]], targets: [-100, -100, -100, 2] },
  { name: 'all targets ignored', rows: [[1, 2, 3], [NaN, 0, 0]], targets: [-100, -100] },
  { name: 'V = 1', rows: [[3], [-1e30], [F32_MAX], [-Infinity]], targets: [0, 0, 0, -100] },
  { name: 'confident target (loss near 0)', rows: [[30, 0, 0], [100, -100, 0], [0.5, 0.5, 0.5]], targets: [0, 0, 1] },
  { name: 'ties and zeros', rows: [[0, 0, 0], [-0, 0, -0], [2, 2, -1]], targets: [0, 1, 2] },
  { name: 'subnormal logits', rows: [[1e-45, -1e-45, 0], [1e-40, 2e-40, 3e-40]], targets: [1, 2] },
];

const edgeOptions: CrossEntropyConfig[] = [
  { ignoreIndex: -100, labelSmoothing: 0, reduction: 'mean' },
  { ignoreIndex: -100, labelSmoothing: 0, reduction: 'none' },
  { ignoreIndex: -100, labelSmoothing: 0.1, reduction: 'none' },
  { ignoreIndex: -100, labelSmoothing: 0.1, reduction: 'sum' },
  { ignoreIndex: -100, labelSmoothing: 1, reduction: 'mean' },
];

async function checkEdge(ctx: CheckContext, name: string, rows: number[][], t: number[], o: CrossEntropyConfig): Promise<void> {
  const N = rows.length;
  const V = rows[0].length;
  const x32 = Float32Array.from(rows.flat());
  const x64 = widen(x32);
  const t64 = Float64Array.from(t);
  const x = Tensor.fromHost(x32, [N, V]);
  const targets = Tensor.fromHost(Int32Array.from(t), [N]);
  const opts = o.reduction === 'mean' && o.labelSmoothing === 0 ? undefined : { labelSmoothing: o.labelSmoothing, reduction: o.reduction }; // defaults too
  const what = `crossEntropy '${name}' (ε ${o.labelSmoothing}, ${o.reduction}) on ${ctx.device.backend}`;
  const record = (output: string, phase: 'forward' | 'backward', r: ReturnType<typeof compareWithAllowed>) =>
    ctx.recorder?.record({ backend: ctx.device.backend, kernel: 'crossEntropy', phase, output, model: ctx.model.name, maxRatio: r.maxRatio, maxRel: r.maxRel, maxUlp: r.maxUlp, elements: r.count });

  const { loss, lse } = await withUnmutatedInputs({ x, targets }, () => crossEntropy(ctx.device, x, targets, opts));
  const ref = crossEntropyRef(x64, t64, N, V, o);
  const rl = compareWithAllowed(await loss.read(), ref.loss, crossEntropyBound(ctx.model, x64, t64, N, V, o, ref.loss).allowed);
  record('loss', 'forward', rl);
  if (!rl.ok) throw new Error(describeFailure(`${what}: loss`, rl, loss.shape));
  const re = compareWithAllowed(await lse.read(), ref.lse, logSumExpBound(ctx.model, x64, N, V, ref.lse).allowed);
  record('lse', 'forward', re);
  if (!re.ok) throw new Error(describeFailure(`${what}: lse`, re, lse.shape));

  const lse32 = Float32Array.from(ref.lse);
  const dloss64 = o.reduction === 'none' ? Float64Array.from({ length: N }, (_, i) => 1 - 0.25 * i) : Float64Array.of(1);
  const dloss = Tensor.fromHost(Float32Array.from(dloss64), o.reduction === 'none' ? [N] : []);
  const lseIn = Tensor.fromHost(lse32, [N]);
  const dx = await withUnmutatedInputs({ dloss, x, targets, lseIn }, () => crossEntropyBackward(ctx.device, dloss, x, targets, lseIn, opts));
  const dref = crossEntropyBackwardRef(dloss64, x64, t64, widen(lse32), N, V, o);
  const rd = compareWithAllowed(await dx.read(), dref, crossEntropyBackwardBound(ctx.model, dloss64, x64, t64, widen(lse32), N, V, o, dref).allowed);
  record('dlogits', 'backward', rd);
  if (!rd.ok) throw new Error(describeFailure(`${what}: dlogits`, rd, dx.shape));
}

const edges: KernelCheck[] = edgeCases.map(({ name, rows, targets }) => ({
  id: `crossEntropy: ${name}`,
  kernel: 'crossEntropy',
  phase: 'forward' as const,
  defaultRuns: 1,
  run: async (ctx: CheckContext) => {
    for (const o of edgeOptions) await checkEdge(ctx, name, rows, targets, o);
  },
}));

export const crossEntropyChecks: KernelCheck[] = [...forward, ...backward, ...metamorphic, ...edges];
