/**
 * Shared checks for LayerNorm, forward (out, mean, rstd) and backward
 * (dx, dweight, dbias).
 */
import fc from 'fast-check';
import { layerNorm, layerNormBackward, layerNormBackwardBound, layerNormBackwardRef, layerNormBound, layerNormRef } from '../../kernels/layernorm.js';
import { Tensor } from '../../tensor.js';
import { matrixArb, type MatrixCase } from '../arbitraries.js';
import { compareWithAllowed, describeFailure } from '../compare.js';
import { expectWithinBound, property, withUnmutatedInputs, type CheckContext, type KernelCheck } from '../suite.js';
import { generate, Rng, widen, type ValueSpec } from '../values.js';

const F32_MAX = 3.4028234663852886e38;

/**
 * A LayerNorm case: x from the extreme-value mix, plus two things the plain
 * generator rarely makes and LayerNorm must survive:
 *   - rows with a large common offset (|mean| up to 10⁶× the spread), where
 *     E[x²] − E[x]² cancels catastrophically (even in float64 at 10⁶);
 *   - constant rows (zero variance), where a missing eps divides by zero.
 */
export interface LayerNormCase {
  c: MatrixCase;
  offset: number;
  constantRows: number;
  eps: number;
  wSeed: number;
}

export const layerNormCaseArb = (o: { maxElements?: number; specials?: boolean } = {}): fc.Arbitrary<LayerNormCase> =>
  fc.record({
    c: matrixArb({ maxRows: 64, maxCols: 3000, maxElements: o.maxElements ?? 40_000, specials: o.specials }),
    offset: fc.constantFrom(0, 0, 1e2, 1e4, 1e6),
    constantRows: fc.constantFrom(0, 0, 0.3),
    eps: fc.constantFrom(1e-5, 1e-5, 1e-5, 1e-3, 1e-10),
    wSeed: fc.integer({ min: 0, max: 0x7fffffff }),
  });

export function layerNormInputs(k: LayerNormCase) {
  const { N, L: C, spec } = k.c;
  const x32 = generate(spec, N, C);
  const rng = new Rng(spec.seed ^ 0x68e31da4);
  for (let r = 0; r < N; r++) {
    if (rng.uniform() < k.constantRows) x32.fill(x32[r * C], r * C, (r + 1) * C);
    if (k.offset > 0) {
      // an offset of `offset` times the row's scale; Float32Array rounds the sums
      const shift = (rng.uniform() < 0.5 ? -1 : 1) * k.offset * spec.scale * (1 + rng.uniform());
      for (let j = 0; j < C; j++) x32[r * C + j] += shift;
    }
  }
  const wSpec: ValueSpec = { seed: k.wSeed, profile: 'normal', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 };
  const w32 = generate(wSpec, 1, C).map((v) => 1 + 0.5 * v);
  const b32 = generate({ ...wSpec, seed: k.wSeed ^ 0x1b873593 }, 1, C);
  return {
    N,
    C,
    x32,
    w32,
    b32,
    x64: widen(x32),
    w64: widen(w32),
    b64: widen(b32),
    x: Tensor.fromHost(x32, [N, C]),
    w: Tensor.fromHost(w32, [C]),
    b: Tensor.fromHost(b32, [C]),
  };
}

async function checkForward(ctx: CheckContext, k: LayerNormCase, label = 'layerNorm'): Promise<void> {
  const { N, C, x64, w64, b64, x, w, b } = layerNormInputs(k);
  const r = await withUnmutatedInputs({ x, w, b }, () => layerNorm(ctx.device, x, w, b, { eps: k.eps }));
  const ref = layerNormRef(x64, w64, b64, N, C, k.eps);
  const bound = layerNormBound(ctx.model, x64, w64, N, C, k.eps, ref);
  const where = (output: string) => ({ kernel: 'layerNorm', phase: 'forward' as const, output });
  try {
    await expectWithinBound(ctx, where('out'), r.out, ref.out, { allowed: bound.out, note: bound.note });
    await expectWithinBound(ctx, where('mean'), r.mean, ref.mean, { allowed: bound.mean, note: bound.note });
    await expectWithinBound(ctx, where('rstd'), r.rstd, ref.rstd, { allowed: bound.rstd, note: bound.note });
  } catch (e) {
    throw new Error(`${label} (eps ${k.eps}, offset ${k.offset}, constant rows ${k.constantRows}): ${(e as Error).message}`);
  }
}

const forward: KernelCheck[] = [
  {
    id: 'layerNorm.forward: out, mean, rstd within bound of the FP64 reference',
    kernel: 'layerNorm',
    phase: 'forward',
    defaultRuns: 25,
    run: (ctx) => property(ctx, layerNormCaseArb(), (k) => checkForward(ctx, k)),
  },
];

const backward: KernelCheck[] = [
  {
    id: 'layerNorm.backward: dx, dweight, dbias within bound of the FP64 reference',
    kernel: 'layerNorm',
    phase: 'backward',
    defaultRuns: 20,
    run: (ctx) =>
      property(ctx, fc.tuple(layerNormCaseArb(), fc.boolean()), async ([k, specials]) => {
        const { N, C, x64, w64, b64, x, w } = layerNormInputs(k);
        // the statistics a float32 forward pass would hand over
        const fwd = layerNormRef(x64, w64, b64, N, C, k.eps);
        const mean32 = Float32Array.from(fwd.mean);
        const rstd32 = Float32Array.from(fwd.rstd);
        const doutSpec: ValueSpec = { seed: k.c.spec.seed ^ 0x2545f491, profile: 'normal', scale: 1, nan: specials ? 0.002 : 0, posInf: 0, negInf: 0, maskedRow: 0 };
        const dout32 = generate(doutSpec, N, C);
        const mean = Tensor.fromHost(mean32, [N]);
        const rstd = Tensor.fromHost(rstd32, [N]);
        const dout = Tensor.fromHost(dout32, [N, C]);
        const g = await withUnmutatedInputs({ dout, x, w, mean, rstd }, () => layerNormBackward(ctx.device, dout, x, w, mean, rstd));
        const m64 = widen(mean32);
        const r64 = widen(rstd32);
        const d64 = widen(dout32);
        const ref = layerNormBackwardRef(d64, x64, w64, m64, r64, N, C);
        const bound = layerNormBackwardBound(ctx.model, d64, x64, w64, m64, r64, N, C, ref);
        const where = (output: string) => ({ kernel: 'layerNorm', phase: 'backward' as const, output });
        await expectWithinBound(ctx, where('dx'), g.dx, ref.dx, { allowed: bound.dx, note: bound.note });
        await expectWithinBound(ctx, where('dweight'), g.dweight, ref.dweight, { allowed: bound.dweight, note: bound.note });
        await expectWithinBound(ctx, where('dbias'), g.dbias, ref.dbias, { allowed: bound.dbias, note: bound.note });
      }),
  },
];

/** Two outputs that approximate the same exact value: their difference is within the sum of their bounds. */
function expectSame(what: string, a: ArrayLike<number>, b: ArrayLike<number>, allowed: Float64Array, shape: number[]): void {
  const r = compareWithAllowed(a, b, allowed, { float32: false });
  if (!r.ok) throw new Error(describeFailure(what, r, shape, 'sum of the two bounds'));
}

/** Rows on a 1/256 grid with |x| < 64: adding a multiple of 1/256 below 2^14 is exact in float32. */
function gridRows(seed: number, N: number, C: number, scale: number): Float32Array {
  const spec: ValueSpec = { seed, profile: 'normal', scale, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 };
  return generate(spec, N, C).map((v) => Math.max(-63, Math.min(63, Math.round(v * 256) / 256)));
}

const metamorphic: KernelCheck[] = [
  {
    id: 'layerNorm.forward: with weight 1 and bias 0, rows have mean 0 and variance var/(var + eps)',
    kernel: 'layerNorm',
    phase: 'forward',
    defaultRuns: 15,
    run: (ctx) =>
      property(
        ctx,
        fc.record({ c: matrixArb({ maxRows: 16, maxCols: 3000, maxElements: 20_000, specials: false, scales: [1e-3, 3e-3, 1e-2, 1, 100] }), eps: fc.constantFrom(1e-5, 1e-3) }),
        async ({ c, eps }) => {
          const { N, L: C } = c;
          const x32 = generate(c.spec, N, C);
          const x64 = widen(x32);
          const ones = new Float64Array(C).fill(1);
          const zeros = new Float64Array(C);
          const r = await layerNorm(ctx.device, Tensor.fromHost(x32, [N, C]), Tensor.fromHost(new Float32Array(C).fill(1), [C]), Tensor.fromHost(new Float32Array(C), [C]), { eps });
          const out = await r.out.read();
          const ref = layerNormRef(x64, ones, zeros, N, C, eps);
          const a = layerNormBound(ctx.model, x64, ones, N, C, eps, ref).out;
          for (let row = 0; row < N; row++) {
            // exact: Σ_j o_j = 0 and (1/C)Σ_j o_j² = var/(var + eps), o the exact output
            let mu = 0;
            for (let j = 0; j < C; j++) mu += x64[row * C + j];
            mu /= C;
            let v = 0;
            for (let j = 0; j < C; j++) v += (x64[row * C + j] - mu) ** 2;
            v /= C;
            const target = v / (v + eps);
            let m = 0;
            let sa = 0;
            let sq = 0;
            let cross = 0;
            let a2 = 0;
            for (let j = 0; j < C; j++) {
              const i = row * C + j;
              m += out[i];
              sq += out[i] * out[i];
              sa += a[i];
              cross += Math.abs(ref.out[i]) * a[i];
              a2 += a[i] * a[i];
            }
            m /= C;
            const V = sq / C - m * m;
            // ô = o + ε with |ε_j| ≤ a_j: |m̂| ≤ Σa/C; |(1/C)Σô² − V| ≤ (2Σ|o|a + Σa²)/C; m̂² ≤ (Σa/C)²;
            // the float64 sums of the check add ≤ C·2^-52 of their magnitudes
            const allowMean = sa / C + C * 2 ** -52 * (sq / C + 1);
            const allowVar = (2 * cross + a2) / C + (sa / C) ** 2 + C * 2 ** -50 * (sq / C + target);
            if (!(Math.abs(m) <= allowMean)) throw new Error(`layerNorm row ${row} of [${N}, ${C}] on ${ctx.device.backend}: mean ${m}, allowed |mean| ≤ ${allowMean}`);
            if (!(Math.abs(V - target) <= allowVar)) {
              throw new Error(`layerNorm row ${row} of [${N}, ${C}] (var ${v}, eps ${eps}) on ${ctx.device.backend}: variance ${V}, expected ${target} ± ${allowVar}`);
            }
          }
        },
      ),
  },
  {
    id: 'layerNorm.forward: adding a constant to a row changes only the mean',
    kernel: 'layerNorm',
    phase: 'forward',
    defaultRuns: 15,
    run: (ctx) =>
      property(
        ctx,
        fc.record({ seed: fc.nat(), N: fc.integer({ min: 1, max: 8 }), C: fc.integer({ min: 1, max: 700 }), shift: fc.integer({ min: -(2 ** 21), max: 2 ** 21 }), scale: fc.constantFrom(1 / 16, 1, 8) }),
        async ({ seed, N, C, shift: s, scale }) => {
          const x32 = gridRows(seed, N, C, scale);
          const c = s / 256; // |c| ≤ 8192 on the 1/256 grid: x + c is exact in float32
          const xs32 = x32.map((v) => v + c);
          const w32 = gridRows(seed + 1, 1, C, 1);
          const b32 = gridRows(seed + 2, 1, C, 1);
          const [w64, b64] = [widen(w32), widen(b32)];
          const w = Tensor.fromHost(w32, [C]);
          const b = Tensor.fromHost(b32, [C]);
          const r1 = await layerNorm(ctx.device, Tensor.fromHost(x32, [N, C]), w, b);
          const r2 = await layerNorm(ctx.device, Tensor.fromHost(xs32, [N, C]), w, b);
          const x64 = widen(x32);
          const xs64 = widen(xs32);
          const b1 = layerNormBound(ctx.model, x64, w64, N, C, 1e-5, layerNormRef(x64, w64, b64, N, C));
          const b2 = layerNormBound(ctx.model, xs64, w64, N, C, 1e-5, layerNormRef(xs64, w64, b64, N, C));
          const on = `on ${ctx.device.backend}, shift ${c}`;
          expectSame(`layerNorm(x + c).out vs layerNorm(x).out ${on}`, await r2.out.read(), await r1.out.read(), b1.out.map((v, i) => v + b2.out[i]), [N, C]);
          expectSame(`layerNorm(x + c).rstd vs layerNorm(x).rstd ${on}`, await r2.rstd.read(), await r1.rstd.read(), b1.rstd.map((v, i) => v + b2.rstd[i]), [N]);
          const m1 = await r1.mean.read();
          expectSame(`layerNorm(x + c).mean vs layerNorm(x).mean + c ${on}`, await r2.mean.read(), m1.map((v) => v + c), b1.mean.map((v, i) => v + b2.mean[i] + 2 ** -52 * Math.abs(m1[i] + c)), [N]);
        },
      ),
  },
  {
    id: 'layerNorm.forward: x·2^k with eps·4^k gives the same out, mean·2^k and rstd·2^-k',
    kernel: 'layerNorm',
    phase: 'forward',
    defaultRuns: 15,
    run: (ctx) =>
      property(
        ctx,
        fc.record({ seed: fc.nat(), N: fc.integer({ min: 1, max: 8 }), C: fc.integer({ min: 1, max: 700 }), k: fc.integer({ min: -24, max: 24 }), eps: fc.constantFrom(1e-5, 1e-2) }),
        async ({ seed, N, C, k, eps }) => {
          // scaling by 2^k is exact; (x − mean)·2^k / √(var·4^k + eps·4^k) is the same number
          const x32 = gridRows(seed, N, C, 2);
          const p = 2 ** k;
          const xs32 = x32.map((v) => v * p);
          const eps2 = eps * p * p;
          const w32 = gridRows(seed + 1, 1, C, 1);
          const b32 = gridRows(seed + 2, 1, C, 1);
          const [w64, b64] = [widen(w32), widen(b32)];
          const w = Tensor.fromHost(w32, [C]);
          const b = Tensor.fromHost(b32, [C]);
          const r1 = await layerNorm(ctx.device, Tensor.fromHost(x32, [N, C]), w, b, { eps });
          const r2 = await layerNorm(ctx.device, Tensor.fromHost(xs32, [N, C]), w, b, { eps: eps2 });
          const x64 = widen(x32);
          const xs64 = widen(xs32);
          const b1 = layerNormBound(ctx.model, x64, w64, N, C, eps, layerNormRef(x64, w64, b64, N, C, eps));
          const b2 = layerNormBound(ctx.model, xs64, w64, N, C, eps2, layerNormRef(xs64, w64, b64, N, C, eps2));
          const on = `on ${ctx.device.backend}, k = ${k}`;
          expectSame(`layerNorm(x·2^k).out vs layerNorm(x).out ${on}`, await r2.out.read(), await r1.out.read(), b1.out.map((v, i) => v + b2.out[i]), [N, C]);
          // compare in the scaled units of r2: b1's allowance scales with the outputs
          const rs1 = (await r1.rstd.read()).map((v) => v / p);
          expectSame(`layerNorm(x·2^k).rstd vs layerNorm(x).rstd·2^-k ${on}`, await r2.rstd.read(), rs1, b1.rstd.map((v, i) => v / p + b2.rstd[i]), [N]);
          const m1 = (await r1.mean.read()).map((v) => v * p);
          expectSame(`layerNorm(x·2^k).mean vs layerNorm(x).mean·2^k ${on}`, await r2.mean.read(), m1, b1.mean.map((v, i) => v * p + b2.mean[i]), [N]);
        },
      ),
  },
];

/** Named edge cases: rows of x, with fixed non-trivial weight and bias. */
const edgeCases: { name: string; rows: number[][] }[] = [
  { name: 'zero-variance rows give out = bias, mean = x, rstd = 1/√eps', rows: [[5, 5, 5, 5], [0, 0, 0, 0], [-0, 0, -0, 0], [1e30, 1e30, 1e30, 1e30], [-F32_MAX, -F32_MAX, -F32_MAX, -F32_MAX], [1e-40, 1e-40, 1e-40, 1e-40]] },
  { name: 'C = 1 gives out = bias', rows: [[3.5], [-1e30], [0], [F32_MAX]] },
  { name: 'huge values without overflow', rows: [[1e30, -1e30, 0, 1e30], [F32_MAX, -F32_MAX, F32_MAX, 0], [-F32_MAX, F32_MAX, F32_MAX, F32_MAX], [1e30, 1.0000001e30, 0.9999999e30, 1e30], [1e20, 1, -1, 0]] },
  { name: 'NaN or ±Inf in a row makes the row NaN', rows: [[1, NaN, 2, 3], [Infinity, 1, 2, 3], [-Infinity, -Infinity, 0, 0], [1, 2, 3, 4]] },
  { name: 'tiny and subnormal rows (var ≪ eps)', rows: [[1e-40, 2e-40, -1e-40, 0], [1e-20, 2e-20, -3e-20, 4e-20], [1e-45, 0, -1e-45, 0]] },
  { name: 'variance near eps', rows: [[0.003, -0.003, 0.001, -0.001], [0.01, 0, 0, -0.01]] },
  { name: 'large offset, small spread', rows: [[1e4, 1e4 + 2 ** -10, 1e4 - 2 ** -10, 1e4], [-1e6, -1e6 + 0.0625, -1e6, -1e6 - 0.0625], [16777216, 16777218, 16777216, 16777214]] },
];

const edges: KernelCheck[] = edgeCases.map(({ name, rows }) => ({
  id: `layerNorm: ${name}`,
  kernel: 'layerNorm',
  phase: 'forward' as const,
  defaultRuns: 1,
  run: async (ctx: CheckContext) => {
    const N = rows.length;
    const C = rows[0].length;
    const x32 = Float32Array.from(rows.flat());
    const w32 = Float32Array.from({ length: C }, (_, j) => [1.5, -0.5, 2, 0.25][j % 4]);
    const b32 = Float32Array.from({ length: C }, (_, j) => [0.125, -3, 0, 7][j % 4]);
    const [x64, w64, b64] = [widen(x32), widen(w32), widen(b32)];
    const x = Tensor.fromHost(x32, [N, C]);
    const w = Tensor.fromHost(w32, [C]);
    const r = await layerNorm(ctx.device, x, w, Tensor.fromHost(b32, [C]));
    const ref = layerNormRef(x64, w64, b64, N, C);
    const bound = layerNormBound(ctx.model, x64, w64, N, C, 1e-5, ref);
    const where = (phase: 'forward' | 'backward', output: string) => ({ kernel: 'layerNorm', phase, output });
    await expectWithinBound(ctx, where('forward', 'out'), r.out, ref.out, { allowed: bound.out, note: `${name}: ${bound.note}` });
    await expectWithinBound(ctx, where('forward', 'mean'), r.mean, ref.mean, { allowed: bound.mean, note: `${name}: ${bound.note}` });
    await expectWithinBound(ctx, where('forward', 'rstd'), r.rstd, ref.rstd, { allowed: bound.rstd, note: `${name}: ${bound.note}` });
    // the backward pass from the device's own statistics: finite wherever the row is
    const dout32 = Float32Array.from({ length: N * C }, (_, i) => [0.5, -1, 0.75, 2][i % 4]);
    const mean32 = Float32Array.from(await r.mean.read());
    const rstd32 = Float32Array.from(await r.rstd.read());
    const g = await layerNormBackward(ctx.device, Tensor.fromHost(dout32, [N, C]), x, w, Tensor.fromHost(mean32, [N]), Tensor.fromHost(rstd32, [N]));
    const [d64, m64, r64] = [widen(dout32), widen(mean32), widen(rstd32)];
    const gref = layerNormBackwardRef(d64, x64, w64, m64, r64, N, C);
    const gb = layerNormBackwardBound(ctx.model, d64, x64, w64, m64, r64, N, C, gref);
    await expectWithinBound(ctx, where('backward', 'dx'), g.dx, gref.dx, { allowed: gb.dx, note: `${name}: ${gb.note}` });
    await expectWithinBound(ctx, where('backward', 'dweight'), g.dweight, gref.dweight, { allowed: gb.dweight, note: `${name}: ${gb.note}` });
    await expectWithinBound(ctx, where('backward', 'dbias'), g.dbias, gref.dbias, { allowed: gb.dbias, note: `${name}: ${gb.note}` });
  },
}));

export const layerNormChecks: KernelCheck[] = [...forward, ...backward, ...metamorphic, ...edges];
