/**
 * Shared checks for matmul, forward and backward: against the FP64
 * reference within the derived bound, metamorphic properties that need no
 * reference ((A·B)ᵀ = Bᵀ·Aᵀ through transB, exact power-of-two scaling, bias
 * as an extra row), shapes around the unroll edges, and named edge cases.
 */
import fc from 'fast-check';
import { F32_MAX } from '../../kernels/bounds.js';
import { matmul, matmulBackward, matmulBackwardBound, matmulBackwardRef, matmulBound, matmulRef } from '../../kernels/matmul.js';
import { Tensor } from '../../tensor.js';
import { dimArb, valueSpecArb } from '../arbitraries.js';
import { compareWithAllowed, describeFailure } from '../compare.js';
import { expectWithinBound, property, withUnmutatedInputs, type CheckContext, type KernelCheck } from '../suite.js';
import { generate, widen, type ValueSpec } from '../values.js';

/**
 * Largest input magnitude in the properties: products reach 1e32 and sums of
 * a few thousand of them stay below float32 max in any order, so the float32
 * partial sums cannot overflow where the float64 reference does not (the
 * contract leaves that case to the named edge cases).
 */
const HUGE = 1e15;

/**
 * Values of a spec, with magnitudes above HUGE folded into [HUGE, 10·HUGE)
 * (keeping sign and leading digits, so the 'huge' and 'wide' profiles still
 * give a spread of large values).
 */
export function foldedValues(spec: ValueSpec, n: number): Float32Array {
  const x = generate(spec, 1, n);
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (Number.isFinite(v) && Math.abs(v) > HUGE) {
      const mag = Math.abs(v);
      x[i] = Math.sign(v) * HUGE * (mag / 10 ** Math.floor(Math.log10(mag)));
    }
  }
  return x;
}

/**
 * headlessgl flushes subnormal inputs to zero, so a subnormal times ±Inf is
 * NaN there while the reference gives ±Inf (see the contract): Inf is not
 * planted next to the 'tiny' profile.
 */
function compatible(x: ValueSpec, y: ValueSpec): [ValueSpec, ValueSpec] {
  if (x.profile !== 'tiny' && y.profile !== 'tiny') return [x, y];
  const noInf = (s: ValueSpec): ValueSpec => ({ ...s, posInf: 0, negInf: 0 });
  return [noInf(x), noInf(y)];
}

export interface MatmulCase {
  M: number;
  K: number;
  N: number;
  transB: boolean;
  bias: boolean;
  aSpec: ValueSpec;
  bSpec: ValueSpec;
  biasSpec: ValueSpec;
}

/** Shapes up to K = 1100 (the unroll and chunk edges included) with M·K, K·N ≤ 24k and M·N·K ≤ 1.2M. */
export function matmulCaseArb(o: { specials?: boolean } = {}): fc.Arbitrary<MatmulCase> {
  return fc
    .record({
      M: dimArb(64),
      K: dimArb(1100),
      N: dimArb(200),
      transB: fc.boolean(),
      bias: fc.boolean(),
      aSpec: valueSpecArb({ specials: o.specials }),
      bSpec: valueSpecArb({ specials: o.specials }),
      biasSpec: valueSpecArb({ specials: o.specials }),
    })
    .map((c) => {
      const M = Math.max(1, Math.min(c.M, Math.floor(24_000 / c.K)));
      let N = Math.max(1, Math.min(c.N, Math.floor(24_000 / c.K)));
      N = Math.max(1, Math.min(N, Math.floor(1_200_000 / (M * c.K))));
      const [aSpec, bSpec] = compatible(c.aSpec, c.bSpec);
      return { ...c, M, N, aSpec, bSpec };
    });
}

export function matmulInputs(c: MatmulCase) {
  const a32 = foldedValues(c.aSpec, c.M * c.K);
  const b32 = foldedValues(c.bSpec, c.K * c.N);
  const bias32 = c.bias ? foldedValues(c.biasSpec, c.N) : undefined;
  return {
    a32,
    b32,
    bias32,
    a64: widen(a32),
    b64: widen(b32),
    bias64: bias32 ? widen(bias32) : undefined,
    a: Tensor.fromHost(a32, [c.M, c.K]),
    b: Tensor.fromHost(b32, c.transB ? [c.N, c.K] : [c.K, c.N]),
    biasT: bias32 ? Tensor.fromHost(bias32, [c.N]) : undefined,
  };
}

/** Upstream gradients: ordinary values with occasional NaN. */
function gradSpec(seed: number, specials: boolean): ValueSpec {
  return { seed: seed ^ 0x2545f491, profile: 'normal', scale: 1, nan: specials ? 0.002 : 0, posInf: 0, negInf: 0, maskedRow: 0 };
}

async function checkForward(ctx: CheckContext, c: MatmulCase): Promise<void> {
  const { a64, b64, bias64, a, b, biasT } = matmulInputs(c);
  const inputs: Record<string, Tensor> = biasT ? { a, b, bias: biasT } : { a, b };
  const out = await withUnmutatedInputs(inputs, () => matmul(ctx.device, a, b, { transB: c.transB, bias: biasT }));
  if (out.shape.join() !== [c.M, c.N].join()) throw new Error(`matmul returned shape [${out.shape}] for [${c.M}, ${c.N}]`);
  const ref = matmulRef(a64, b64, c.M, c.K, c.N, c.transB, bias64);
  await expectWithinBound(ctx, { kernel: 'matmul', phase: 'forward', output: 'c' }, out, ref, matmulBound(ctx.model, a64, b64, c.M, c.K, c.N, c.transB, bias64, ref));
}

async function checkBackward(ctx: CheckContext, c: MatmulCase, specials: boolean): Promise<void> {
  const { a64, b64, a, b } = matmulInputs(c);
  const dout32 = generate(gradSpec(c.aSpec.seed, specials), c.M, c.N);
  const dout = Tensor.fromHost(dout32, [c.M, c.N]);
  const g = await withUnmutatedInputs({ dout, a, b }, () => matmulBackward(ctx.device, dout, a, b, { transB: c.transB, bias: true }));
  const dout64 = widen(dout32);
  const ref = matmulBackwardRef(dout64, a64, b64, c.M, c.K, c.N, c.transB);
  const bound = matmulBackwardBound(ctx.model, dout64, a64, b64, c.M, c.K, c.N, c.transB, ref);
  if (g.db.shape.join() !== b.shape.join() || g.da.shape.join() !== a.shape.join()) {
    throw new Error(`matmulBackward shapes: da [${g.da.shape}] for a [${a.shape}], db [${g.db.shape}] for b [${b.shape}]`);
  }
  await expectWithinBound(ctx, { kernel: 'matmul', phase: 'backward', output: 'da' }, g.da, ref.da, bound.da);
  await expectWithinBound(ctx, { kernel: 'matmul', phase: 'backward', output: 'db' }, g.db, ref.db, bound.db);
  await expectWithinBound(ctx, { kernel: 'matmul', phase: 'backward', output: 'dbias' }, g.dbias!, ref.dbias, bound.dbias);
}

const main: KernelCheck[] = [
  {
    id: 'matmul.forward: within bound of the FP64 reference',
    kernel: 'matmul',
    phase: 'forward',
    defaultRuns: 25,
    run: (ctx) => property(ctx, matmulCaseArb(), (c) => checkForward(ctx, c)),
  },
  {
    id: 'matmul.backward: da, db and dbias within bound of the FP64 reference',
    kernel: 'matmul',
    phase: 'backward',
    defaultRuns: 15,
    run: (ctx) => property(ctx, fc.tuple(matmulCaseArb(), fc.boolean()), ([c, specials]) => checkBackward(ctx, c, specials)),
  },
];

/** Transpose of a row-major (R, Cc) array. */
function transpose(x: Float32Array, R: number, Cc: number): Float32Array {
  const t = new Float32Array(R * Cc);
  for (let r = 0; r < R; r++) for (let c = 0; c < Cc; c++) t[c * R + r] = x[r * Cc + c];
  return t;
}

/** Bitwise-equal float32 values, NaN matching NaN (payloads aside) and −0 matching +0. */
function sameValues(x: ArrayLike<number>, y: ArrayLike<number>): number {
  for (let i = 0; i < x.length; i++) {
    const p = x[i];
    const q = y[i];
    if (!(p === q || (p !== p && q !== q))) return i;
  }
  return -1;
}

const metamorphic: KernelCheck[] = [
  {
    id: 'matmul.forward: (A·B)ᵀ equals Bᵀ·Aᵀ through transB, bit for bit',
    kernel: 'matmul',
    phase: 'forward',
    defaultRuns: 10,
    run: (ctx) =>
      property(ctx, matmulCaseArb(), async (c) => {
        // c_ij = Σ_k a_ik·b_kj and (Bᵀ·Aᵀ)_ji = Σ_k b_kj·a_ik: the same products
        // (multiplication commutes exactly) in the same k order and accumulators,
        // so the two results agree bit for bit; only the strides differ.
        const { a32, b32, a } = matmulInputs({ ...c, transB: false });
        const ab = await (await matmul(ctx.device, a, Tensor.fromHost(b32, [c.K, c.N]))).read();
        const bt = Tensor.fromHost(transpose(b32, c.K, c.N), [c.N, c.K]);
        const btat = await (await matmul(ctx.device, bt, Tensor.fromHost(a32, [c.M, c.K]), { transB: true })).read();
        const back = transpose(Float32Array.from(btat), c.N, c.M);
        const at = sameValues(ab, back);
        if (at >= 0) {
          throw new Error(`(A·B)ᵀ ≠ Bᵀ·Aᵀ on ${ctx.device.backend} for [M, K, N] = [${c.M}, ${c.K}, ${c.N}] at c[${Math.floor(at / c.N)}, ${at % c.N}]: ${ab[at]} vs ${back[at]}`);
        }
      }),
  },
  {
    id: 'matmul.forward: scaling a and bias by 2^k scales c exactly',
    kernel: 'matmul',
    phase: 'forward',
    defaultRuns: 10,
    run: (ctx) =>
      property(
        ctx,
        fc.tuple(
          matmulCaseArb().map((c) => ({
            ...c,
            // ordinary magnitudes: no product or partial sum comes near overflow or the subnormal range
            aSpec: { ...c.aSpec, profile: 'normal' as const },
            bSpec: { ...c.bSpec, profile: 'normal' as const },
            biasSpec: { ...c.biasSpec, profile: 'normal' as const },
          })),
          fc.integer({ min: -20, max: 20 }),
        ),
        async ([c, k]) => {
          const { a32, bias32, a, b, biasT } = matmulInputs(c);
          const s = 2 ** k;
          const c1 = await (await matmul(ctx.device, a, b, { transB: c.transB, bias: biasT })).read();
          const as = Tensor.fromHost(a32.map((x) => x * s), a.shape);
          const bs = bias32 ? Tensor.fromHost(bias32.map((x) => x * s), [c.N]) : undefined;
          const c2 = await (await matmul(ctx.device, as, b, { transB: c.transB, bias: bs })).read();
          // every rounding sees its operands scaled by 2^k, so every rounded value scales exactly
          const at = sameValues(c1.map((x) => x * s), c2);
          if (at >= 0) throw new Error(`matmul(2^${k}·a) ≠ 2^${k}·matmul(a) on ${ctx.device.backend} for [M, K, N] = [${c.M}, ${c.K}, ${c.N}] at flat ${at}: ${c1[at] * s} vs ${c2[at]}`);
        },
      ),
  },
  {
    id: 'matmul.forward: a bias equals an extra column of ones in a and the bias as a row of b',
    kernel: 'matmul',
    phase: 'forward',
    defaultRuns: 10,
    run: (ctx) =>
      property(ctx, matmulCaseArb(), async (c0) => {
        const c = { ...c0, bias: true, transB: false };
        const { a32, b32, bias32, a64, b64, bias64, a, b, biasT } = matmulInputs(c);
        const K1 = c.K + 1;
        const a1 = new Float32Array(c.M * K1);
        for (let i = 0; i < c.M; i++) {
          a1.set(a32.subarray(i * c.K, (i + 1) * c.K), i * K1);
          a1[i * K1 + c.K] = 1;
        }
        const b1 = new Float32Array(K1 * c.N);
        b1.set(b32);
        b1.set(bias32!, c.K * c.N);
        const withBias = await (await matmul(ctx.device, a, b, { bias: biasT })).read();
        const asRow = await (await matmul(ctx.device, Tensor.fromHost(a1, [c.M, K1]), Tensor.fromHost(b1, [K1, c.N]))).read();
        // both are within their bounds of the same exact value (the row adds 1·bias_j exactly)
        const ref = matmulRef(a64, b64, c.M, c.K, c.N, false, bias64);
        const bnd1 = matmulBound(ctx.model, a64, b64, c.M, c.K, c.N, false, bias64, ref).allowed;
        const bnd2 = matmulBound(ctx.model, widen(a1), widen(b1), c.M, K1, c.N, false, undefined, ref).allowed;
        const r = compareWithAllowed(asRow, withBias, bnd1.map((x, i) => x + bnd2[i]));
        if (!r.ok) throw new Error(describeFailure(`matmul with bias vs bias as a row on ${ctx.device.backend}`, r, [c.M, c.N], 'sum of the two bounds'));
      }),
  },
];

/** Sizes of 1 and odd sizes around the unroll-by-4 edges and the column-sum chunk (256). */
const EDGE_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 2, 1],
  [1, 3, 2],
  [2, 4, 3],
  [3, 5, 2],
  [1, 7, 1],
  [5, 8, 3],
  [4, 9, 4],
  [3, 1, 5],
  [17, 3, 1],
  [1, 1, 300],
  [300, 1, 1],
  [257, 2, 3],
  [2, 255, 3],
  [2, 256, 3],
  [1, 257, 2],
  [1, 1023, 1],
  [1, 1025, 2],
];

const shapes: KernelCheck[] = [
  {
    id: 'matmul: sizes of 1 and odd sizes around the unroll edges, forward and backward',
    kernel: 'matmul',
    phase: 'forward',
    defaultRuns: 1,
    run: async (ctx) => {
      let seed = 1;
      for (const [M, K, N] of EDGE_SHAPES) {
        for (const transB of [false, true]) {
          const spec: ValueSpec = { seed: seed++, profile: 'normal', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 };
          const c: MatmulCase = { M, K, N, transB, bias: seed % 2 === 0, aSpec: spec, bSpec: { ...spec, seed: seed++ }, biasSpec: { ...spec, seed: seed++ } };
          await checkForward(ctx, c);
          await checkBackward(ctx, c, false);
        }
      }
    },
  },
  {
    id: 'matmul: leading dimensions of a flatten into rows',
    kernel: 'matmul',
    phase: 'forward',
    defaultRuns: 1,
    run: async (ctx) => {
      const [B, T, K, N] = [2, 3, 5, 4];
      const spec: ValueSpec = { seed: 77, profile: 'normal', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 };
      const x32 = generate(spec, B * T, K);
      const w32 = generate({ ...spec, seed: 78 }, N, K);
      const x = Tensor.fromHost(x32, [B, T, K]);
      const w = Tensor.fromHost(w32, [N, K]);
      const y = await matmul(ctx.device, x, w, { transB: true });
      if (y.shape.join() !== [B, T, N].join()) throw new Error(`matmul of [${B}, ${T}, ${K}] by [${N}, ${K}]ᵀ gave shape [${y.shape}]`);
      const ref = matmulRef(widen(x32), widen(w32), B * T, K, N, true);
      await expectWithinBound(ctx, { kernel: 'matmul', phase: 'forward', output: 'c' }, y, ref, matmulBound(ctx.model, widen(x32), widen(w32), B * T, K, N, true, undefined, ref));
      const dy32 = generate({ ...spec, seed: 79 }, B * T, N);
      const g = await matmulBackward(ctx.device, Tensor.fromHost(dy32, [B, T, N]), x, w, { transB: true });
      if (g.da.shape.join() !== x.shape.join() || g.db.shape.join() !== w.shape.join() || g.dbias !== undefined) {
        throw new Error(`matmulBackward gave da [${g.da.shape}], db [${g.db.shape}], dbias ${g.dbias ? `[${g.dbias.shape}]` : 'none'}`);
      }
    },
  },
];

/** Named edge cases: rows of a, and b as (K, N), checked against the reference within the bound. */
const edgeCases: { name: string; a: number[][]; b: number[][]; bias?: number[] }[] = [
  { name: 'propagates NaN', a: [[1, NaN], [1, 2]], b: [[1, 2], [3, 4]] },
  { name: '0·Inf is NaN, Inf·2 is Inf', a: [[0, 1], [Infinity, 0], [2, 0]], b: [[Infinity, 1], [1, 1]] },
  { name: 'Inf + (−Inf) is NaN', a: [[Infinity, -Infinity], [Infinity, Infinity]], b: [[1, 1], [1, 1]] },
  { name: 'NaN bias makes its column NaN; Inf bias its column Inf', a: [[1, 2], [3, 4]], b: [[1, 0, 1], [0, 1, 1]], bias: [NaN, Infinity, -1] },
  { name: 'products to 1e30 do not overflow', a: [[1e15, -1e15, 1e15], [1e15, 1e15, 1e15]], b: [[1e15], [1e15], [1e15]] },
  { name: 'results beyond float32 max are ±Inf', a: [[F32_MAX, F32_MAX], [-F32_MAX, -F32_MAX], [1e20, 0]], b: [[1, 1e20], [1, 0]] },
  { name: 'near float32 max: cancels to 0, halves sum to max, doubles overflow', a: [[F32_MAX, -F32_MAX], [F32_MAX, F32_MAX]], b: [[1, 0.5], [1, 0.5]] },
  { name: 'subnormal inputs', a: [[1e-40, 1e-45], [1e-38, -1e-40]], b: [[1, 1e10], [1, 2]] },
  { name: 'ties and signed zeros', a: [[-0, 0, 2, 2], [0.5, 0.5, -0.5, -0.5]], b: [[1], [-1], [0.25], [0.25]] },
];

const edges: KernelCheck[] = [
  ...edgeCases.map(({ name, a, b, bias }) => ({
    id: `matmul: ${name}`,
    kernel: 'matmul',
    phase: 'forward' as const,
    defaultRuns: 1,
    run: async (ctx: CheckContext) => {
      const M = a.length;
      const K = a[0].length;
      const N = b[0].length;
      const a32 = Float32Array.from(a.flat());
      const b32 = Float32Array.from(b.flat());
      const bias32 = bias ? Float32Array.from(bias) : undefined;
      const out = await matmul(ctx.device, Tensor.fromHost(a32, [M, K]), Tensor.fromHost(b32, [K, N]), { bias: bias32 ? Tensor.fromHost(bias32, [N]) : undefined });
      const ref = matmulRef(widen(a32), widen(b32), M, K, N, false, bias32 ? widen(bias32) : undefined);
      const bound = matmulBound(ctx.model, widen(a32), widen(b32), M, K, N, false, bias32 ? widen(bias32) : undefined, ref);
      const r = compareWithAllowed(await out.read(), ref, bound.allowed);
      if (!r.ok) throw new Error(describeFailure(`matmul '${name}' on ${ctx.device.backend}`, r, [M, N], bound.note));
    },
  })),
  {
    id: 'matmul: K = 0 gives zeros plus the bias; empty M or N give empty outputs',
    kernel: 'matmul',
    phase: 'forward',
    defaultRuns: 1,
    run: async (ctx) => {
      const bias = Tensor.fromHost(Float32Array.from([1.5, -2, NaN]), [3]);
      const c = await (await matmul(ctx.device, Tensor.fromHost(new Float32Array(0), [2, 0]), Tensor.fromHost(new Float32Array(0), [0, 3]), { bias })).read();
      const want = [1.5, -2, NaN, 1.5, -2, NaN];
      if (sameValues(c, want) >= 0 || c.length !== 6) throw new Error(`matmul with K = 0 and a bias gave [${Array.from(c)}], expected [${want}]`);
      const z = await (await matmul(ctx.device, Tensor.fromHost(new Float32Array(0), [2, 0]), Tensor.fromHost(new Float32Array(0), [3, 0]), { transB: true })).read();
      if (z.length !== 6 || z.some((v) => v !== 0)) throw new Error(`matmul with K = 0 gave [${Array.from(z)}], expected zeros`);
      const e = await matmul(ctx.device, Tensor.fromHost(new Float32Array(0), [0, 4]), Tensor.fromHost(new Float32Array(12), [4, 3]));
      if (e.shape.join() !== '0,3') throw new Error(`matmul with M = 0 gave shape [${e.shape}]`);
      const g = await matmulBackward(ctx.device, Tensor.fromHost(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]), Tensor.fromHost(new Float32Array(0), [2, 0]), Tensor.fromHost(new Float32Array(0), [0, 3]), { bias: true });
      const dbias = await g.dbias!.read();
      if (g.da.size !== 0 || g.db.size !== 0 || sameValues(dbias, [5, 7, 9]) >= 0) throw new Error(`matmulBackward with K = 0 gave dbias [${Array.from(dbias)}], expected [5, 7, 9]`);
      const g0 = await matmulBackward(ctx.device, Tensor.fromHost(new Float32Array(0), [0, 3]), Tensor.fromHost(new Float32Array(0), [0, 2]), Tensor.fromHost(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]), { bias: true });
      const db0 = await g0.db.read();
      const dbias0 = await g0.dbias!.read();
      if (db0.length !== 6 || db0.some((v) => v !== 0) || dbias0.some((v) => v !== 0)) throw new Error(`matmulBackward with M = 0 gave db [${Array.from(db0)}], dbias [${Array.from(dbias0)}]; expected zeros`);
    },
  },
];

export const matmulChecks: KernelCheck[] = [...main, ...metamorphic, ...shapes, ...edges];
