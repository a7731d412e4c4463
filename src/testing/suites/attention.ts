/**
 * Shared checks for attention, forward and backward.
 *
 * Inputs are drawn as small descriptions (dimensions, causal flag, mask kind
 * and broadcast shape, scale, one ValueSpec per tensor) and expanded here.
 * Generated q and k are kept inside the domain where the float32 score is
 * defined by its bound (see the contract in kernels/attention.ts): if
 * |scale|·max|q|·max(1, Σ_c|k_jc|) would exceed F32_MAX/4, q or k is scaled by
 * a power of two (exact), and |v| is kept ≤ F32_MAX/4 the same way. Infinities
 * and NaNs planted by the spec are left alone.
 */
import fc from 'fast-check';
import {
  attention,
  attentionBackward,
  attentionBackwardBound,
  attentionBackwardRef,
  attentionBound,
  attentionRef,
  broadcastStrides,
  type AttentionDims,
  type AttentionMask64,
  type AttentionRefOptions,
} from '../../kernels/attention.js';
import type { Bound } from '../../kernels/bounds.js';
import { Tensor } from '../../tensor.js';
import { dimArb, valueSpecArb } from '../arbitraries.js';
import { compareWithAllowed, describeFailure } from '../compare.js';
import { expectWithinBound, property, withUnmutatedInputs, type CheckContext, type KernelCheck } from '../suite.js';
import { generate, Rng, widen, type Profile, type ValueSpec } from '../values.js';

const F32_MAX = 3.4028234663852886e38;

type MaskKind = 'none' | 'boolean' | 'additive';
/** Broadcast shapes of the mask over (B, NH, T, S). */
const MASK_SHAPES = ['TS', '11TS', 'B1TS', 'BHTS', 'B11S'] as const;
type MaskShape = (typeof MASK_SHAPES)[number];

export interface AttentionCase {
  dims: AttentionDims;
  causal: boolean;
  mask: MaskKind;
  maskShape: MaskShape;
  /** undefined: the default 1/√hs. */
  scale: number | undefined;
  q: ValueSpec;
  k: ValueSpec;
  v: ValueSpec;
  /** Seed of the mask and of dout. */
  seed: number;
  /** Probability that a mask row (one query) is fully masked. */
  maskedRows: number;
  /** Allow NaN in the mask and dout. */
  specials: boolean;
}

function maskShapeOf(ms: MaskShape, { B, NH, T, S }: AttentionDims): number[] {
  switch (ms) {
    case 'TS':
      return [T, S];
    case '11TS':
      return [1, 1, T, S];
    case 'B1TS':
      return [B, 1, T, S];
    case 'BHTS':
      return [B, NH, T, S];
    case 'B11S':
      return [B, 1, 1, S];
  }
}

/** Shrinks B, NH, then T and S, then hs until the score matrix and the tensors fit. */
function fitDims(d: AttentionDims, maxScores: number, maxElements: number): AttentionDims {
  let { B, NH, T, S, hs } = d;
  while (B * NH * T * S > maxScores && B * NH > 1) {
    if (NH > 1) NH--;
    else B--;
  }
  while (B * NH * T * S > maxScores) {
    if (T >= S) T = Math.max(1, Math.floor(maxScores / (B * NH * S)) || Math.floor(T / 2));
    else S = Math.max(1, Math.floor(maxScores / (B * NH * T)) || Math.floor(S / 2));
  }
  while (B * NH * (T + 2 * S) * hs > maxElements && hs > 1) hs = Math.max(1, Math.floor(hs / 2));
  return { B, NH, T, S, hs };
}

interface CaseOptions {
  maxScores?: number;
  maxElements?: number;
  profiles?: readonly Profile[];
  scales?: readonly number[];
  specials?: boolean;
  masks?: boolean;
  causal?: boolean;
  /** Smallest head size (≥ 2 makes the default scale differ from 1). */
  hsMin?: number;
  /** Force the default scale. */
  defaultScale?: boolean;
  maskedRows?: boolean;
  /** S = T (the keys are the queries' own positions). */
  selfAttention?: boolean;
}

const HEAD_SIZES = [1, 2, 3, 8, 16, 33, 64, 128];

/**
 * Scales a spec's NaN/±Inf rates by `f` (at most 1). A special value reaches
 * far in attention: one in q poisons its row, one in k every row that sees the
 * key, one in v a column of every such row. Per element the rates are divided
 * so that a spec's rate r gives about 4r poisoned rows (q), 20r poisoned keys
 * per head (k) and 4r poisoned columns (v), and most rows stay finite.
 */
function spread(spec: ValueSpec, f: number): ValueSpec {
  const g = Math.min(1, f);
  return { ...spec, nan: spec.nan * g, posInf: spec.posInf * g, negInf: spec.negInf * g };
}

export function attentionCaseArb(o: CaseOptions = {}): fc.Arbitrary<AttentionCase> {
  const maxScores = o.maxScores ?? 24_000;
  const maxElements = o.maxElements ?? 40_000;
  const spec = valueSpecArb({ profiles: o.profiles, scales: o.scales, specials: o.specials });
  return fc
    .record({
      B: fc.integer({ min: 1, max: 2 }),
      NH: fc.integer({ min: 1, max: 3 }),
      T: dimArb(300),
      S: fc.oneof(fc.constant(0), dimArb(2048)),
      hs: fc.constantFrom(...HEAD_SIZES.filter((h) => h >= (o.hsMin ?? 1))),
      causal: o.causal === undefined ? fc.boolean() : fc.constant(o.causal),
      mask: o.masks === false ? fc.constant<MaskKind>('none') : fc.constantFrom<MaskKind>('none', 'boolean', 'additive'),
      maskShape: fc.constantFrom(...MASK_SHAPES),
      scale: o.defaultScale ? fc.constant(undefined) : fc.constantFrom(undefined, undefined, undefined, 1, 0.37, 2, 1e-3, -0.5),
      q: spec,
      k: spec,
      v: spec,
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
      maskedRows: o.maskedRows === false ? fc.constant(0) : fc.constantFrom(0, 0, 0.2),
    })
    .map((r) => {
      // S = 0 in the draw means "the same as T" (self-attention, the common case)
      const S = r.S === 0 || o.selfAttention ? r.T : r.S;
      let dims = fitDims({ B: r.B, NH: r.NH, T: r.T, S, hs: Math.max(r.hs, o.hsMin ?? 1) }, maxScores, maxElements);
      if (o.selfAttention && dims.S !== dims.T) {
        const n = Math.min(dims.S, dims.T);
        dims = { ...dims, T: n, S: n };
      }
      return {
        dims,
        causal: r.causal,
        mask: r.mask,
        maskShape: r.maskShape,
        scale: r.scale,
        q: spread(r.q, 4 / dims.hs),
        k: spread(r.k, 20 / (dims.S * dims.hs)),
        v: spread(r.v, 4 / dims.S),
        seed: r.seed,
        maskedRows: r.maskedRows,
        specials: o.specials !== false,
      };
    });
}

/** A drawn case expanded into tensors, float64 copies and the reference options. */
export interface AttentionData {
  c: AttentionCase;
  dims: AttentionDims;
  q32: Float32Array;
  k32: Float32Array;
  v32: Float32Array;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  mask: Tensor | undefined;
  opts: AttentionRefOptions;
}

function maxAbsFinite(a: Float32Array): number {
  let m = 0;
  for (const x of a) if (Number.isFinite(x)) m = Math.max(m, Math.abs(x));
  return m;
}

function scaleFinite(a: Float32Array, f: number): void {
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) a[i] = a[i] * f;
}

/** Keeps the score sums and the weighted sums of v inside float32 (powers of two: exact). */
function fitDomain(q32: Float32Array, k32: Float32Array, v32: Float32Array, hs: number, scale: number): void {
  const lim = F32_MAX / 4;
  while (Math.abs(scale) * maxAbsFinite(q32) > lim) scaleFinite(q32, 0.5);
  let K = 0;
  for (let r = 0; r * hs < k32.length; r++) {
    let s = 0;
    for (let c = 0; c < hs; c++) if (Number.isFinite(k32[r * hs + c])) s += Math.abs(k32[r * hs + c]);
    K = Math.max(K, s);
  }
  const Q = Math.abs(scale) * maxAbsFinite(q32);
  if (Q * Math.max(1, K) > lim) scaleFinite(k32, 2 ** -Math.ceil(Math.log2((Q * Math.max(1, K)) / lim) + 1));
  while (maxAbsFinite(v32) > lim) scaleFinite(v32, 0.25);
}

/** Mask data for a case: boolean 1 w.p. 0.7; additive from 0, −Inf, N(0, 2), −1e30, −F32_MAX (and NaN, w.p. 0.002, with specials). */
function makeMask(c: AttentionCase, dims: AttentionDims): { mask: Tensor; m64: AttentionMask64 } | undefined {
  if (c.mask === 'none') return undefined;
  const shape = maskShapeOf(c.maskShape, dims);
  const n = shape.reduce((a, b) => a * b, 1);
  const rng = new Rng(c.seed ^ 0x2545f491);
  const S = dims.S;
  const rows = n / Math.max(1, S);
  const boolean = c.mask === 'boolean';
  const data = boolean ? new Int32Array(n) : new Float32Array(n);
  for (let r = 0; r < rows; r++) {
    const masked = c.maskedRows > 0 && rng.uniform() < c.maskedRows;
    for (let j = 0; j < S; j++) {
      const i = r * S + j;
      if (masked) {
        data[i] = boolean ? 0 : -Infinity;
        continue;
      }
      const p = rng.uniform();
      if (boolean) data[i] = p < 0.7 ? 1 : 0;
      else if (p < 0.4) data[i] = 0;
      else if (p < 0.6) data[i] = -Infinity;
      else if (p < 0.9) data[i] = rng.normal() * 2;
      else if (p < 0.95) data[i] = -1e30;
      else if (p < 0.998 || !c.specials) data[i] = -F32_MAX;
      else data[i] = NaN;
    }
  }
  const r = broadcastStrides(shape, dims);
  if ('bad' in r) throw new Error(`internal: mask shape ${shape} does not broadcast`);
  return {
    mask: Tensor.fromHost(data, shape),
    m64: { data: Float64Array.from(data), kind: boolean ? 'boolean' : 'additive', strides: r.strides },
  };
}

export function materialise(c: AttentionCase, float32Scores: boolean, flushSubnormals = false): AttentionData {
  const dims = c.dims;
  const { B, NH, T, S, hs } = dims;
  const scale = c.scale ?? 1 / Math.sqrt(hs);
  const q32 = generate(c.q, B * NH * T, hs);
  const k32 = generate(c.k, B * NH * S, hs);
  const v32 = generate(c.v, B * NH * S, hs);
  fitDomain(q32, k32, v32, hs, scale);
  const m = makeMask(c, dims);
  return {
    c,
    dims,
    q32,
    k32,
    v32,
    q: Tensor.fromHost(q32, [B, NH, T, hs]),
    k: Tensor.fromHost(k32, [B, NH, S, hs]),
    v: Tensor.fromHost(v32, [B, NH, S, hs]),
    mask: m?.mask,
    opts: { causal: c.causal, scale, mask: m?.m64, float32Scores, flushSubnormals },
  };
}

const f32Scores = (ctx: CheckContext) => ctx.device.info.precision === 'float32';
const flushes = (ctx: CheckContext) => ctx.device.info.flushesSubnormals;

function publicOptions(a: AttentionData) {
  return { causal: a.c.causal, mask: a.mask, scale: a.c.scale };
}

function inputsOf(a: AttentionData, extra: Record<string, Tensor> = {}): Record<string, Tensor> {
  const base: Record<string, Tensor> = { q: a.q, k: a.k, v: a.v, ...extra };
  if (a.mask) base.mask = a.mask;
  return base;
}

/** Runs the forward on the device and checks out and lse against the reference within the bound. */
async function checkForward(
  ctx: CheckContext,
  a: AttentionData,
): Promise<{ ref: { out: Float64Array; lse: Float64Array }; bound: { out: Bound; lse: Bound }; out: ArrayLike<number>; lse: ArrayLike<number> }> {
  const r = await withUnmutatedInputs(inputsOf(a), () => attention(ctx.device, a.q, a.k, a.v, publicOptions(a)));
  const q64 = widen(a.q32);
  const k64 = widen(a.k32);
  const v64 = widen(a.v32);
  const ref = attentionRef(q64, k64, v64, a.dims, a.opts);
  const bound = attentionBound(ctx.model, q64, k64, v64, a.dims, a.opts, ref);
  await expectWithinBound(ctx, { kernel: 'attention', phase: 'forward', output: 'out' }, r.out, ref.out, bound.out);
  await expectWithinBound(ctx, { kernel: 'attention', phase: 'forward', output: 'lse' }, r.lse, ref.lse, bound.lse);
  const out = await r.out.read();
  const lse = await r.lse.read();
  r.out.dispose();
  r.lse.dispose();
  return { ref, bound, out, lse };
}

/** Upstream gradient: ordinary values of scale 1, a few NaNs when the case allows specials. */
function doutOf(a: AttentionData): Float32Array {
  const { B, NH, T, hs } = a.dims;
  const spec: ValueSpec = { seed: a.c.seed ^ 0x5bd1e995, profile: 'normal', scale: 1, nan: a.c.specials ? 0.002 : 0, posInf: 0, negInf: 0, maskedRow: 0 };
  return generate(spec, B * NH * T, hs);
}

/**
 * Runs the backward on the device from the reference forward's out and lse
 * (rounded to float32, as the device would hold them) and checks dq, dk, dv.
 */
async function checkBackward(ctx: CheckContext, a: AttentionData): Promise<{ dq: Float32Array | Float64Array }> {
  const { B, NH, T, hs } = a.dims;
  const q64 = widen(a.q32);
  const k64 = widen(a.k32);
  const v64 = widen(a.v32);
  const fwd = attentionRef(q64, k64, v64, a.dims, a.opts);
  const out32 = Float32Array.from(fwd.out);
  const lse32 = Float32Array.from(fwd.lse);
  const dout32 = doutOf(a);
  const out = Tensor.fromHost(out32, [B, NH, T, hs]);
  const lse = Tensor.fromHost(lse32, [B, NH, T]);
  const dout = Tensor.fromHost(dout32, [B, NH, T, hs]);
  const g = await withUnmutatedInputs(inputsOf(a, { out, lse, dout }), () => attentionBackward(ctx.device, dout, a.q, a.k, a.v, out, lse, publicOptions(a)));
  const args = [widen(dout32), q64, k64, v64, widen(out32), widen(lse32), a.dims, a.opts] as const;
  const ref = attentionBackwardRef(...args);
  const bound = attentionBackwardBound(ctx.model, ...args, ref);
  for (const name of ['dq', 'dk', 'dv'] as const) {
    await expectWithinBound(ctx, { kernel: 'attention', phase: 'backward', output: name }, g[name], ref[name], bound[name]);
  }
  const dq = await g.dq.read();
  g.dq.dispose();
  g.dk.dispose();
  g.dv.dispose();
  return { dq: dq as Float32Array | Float64Array };
}

// ---------------------------------------------------------------------------
// Properties against the reference
// ---------------------------------------------------------------------------

/** Backward inputs stay where products and sums cannot overflow float32 (the bound's domain). */
const BACKWARD_PROFILES: readonly Profile[] = ['normal', 'ties', 'zeros', 'tiny'];

const forward: KernelCheck[] = [
  {
    id: 'attention.forward: within bound of the FP64 reference',
    kernel: 'attention',
    phase: 'forward',
    defaultRuns: 40,
    run: (ctx) => property(ctx, attentionCaseArb(), async (c) => void (await checkForward(ctx, materialise(c, f32Scores(ctx), flushes(ctx))))),
  },
  {
    // hs ≥ 2 and ordinary values: the default scale 1/√hs changes every result here
    id: 'attention.forward: default scale 1/√hs, ordinary values',
    kernel: 'attention',
    phase: 'forward',
    defaultRuns: 15,
    run: (ctx) =>
      property(
        ctx,
        attentionCaseArb({ hsMin: 2, defaultScale: true, profiles: ['normal'], scales: [1, 3], specials: false, maxScores: 8000 }),
        async (c) => void (await checkForward(ctx, materialise(c, f32Scores(ctx), flushes(ctx)))),
      ),
  },
];

const backward: KernelCheck[] = [
  {
    id: 'attention.backward: within bound of the FP64 reference',
    kernel: 'attention',
    phase: 'backward',
    defaultRuns: 30,
    run: (ctx) =>
      property(ctx, attentionCaseArb({ profiles: BACKWARD_PROFILES, scales: [1e-3, 1, 3], maxScores: 12_000, maxElements: 24_000 }), async (c) => {
        // NaN may be planted (it must propagate exactly); ±Inf is outside the backward's bound
        const spec = (s: ValueSpec): ValueSpec => ({ ...s, posInf: 0, negInf: 0 });
        await checkBackward(ctx, materialise({ ...c, q: spec(c.q), k: spec(c.k), v: spec(c.v) }, f32Scores(ctx), flushes(ctx)));
      }),
  },
];

// ---------------------------------------------------------------------------
// Metamorphic properties
// ---------------------------------------------------------------------------

function rowsEqual(a: ArrayLike<number>, b: ArrayLike<number>, from: number, to: number): number {
  for (let i = from; i < to; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

const selfAttention = (o: CaseOptions = {}) => attentionCaseArb({ maxScores: 6000, profiles: ['normal', 'ties', 'zeros'], specials: false, selfAttention: true, ...o });

const metamorphic: KernelCheck[] = [
  {
    id: 'attention: causal output at position t does not change when later positions change',
    kernel: 'attention',
    phase: 'forward',
    defaultRuns: 15,
    run: (ctx) =>
      property(
        ctx,
        fc.tuple(selfAttention({ causal: true, masks: false }).filter((c) => c.dims.T >= 2), fc.double({ min: 0, max: 1, noNaN: true }), valueSpecArb()),
        async ([c, frac, later]) => {
          const { B, NH, T, hs } = c.dims;
          const t0 = Math.min(T - 2, Math.floor(frac * (T - 1)));
          const a = materialise(c, f32Scores(ctx), flushes(ctx));
          // positions > t0 of q, k, v and dout replaced by other values (NaN, ±Inf and huge ones included)
          const other = generate(later, 4 * B * NH * T, hs);
          const b = { ...a, q32: a.q32.slice(), k32: a.k32.slice(), v32: a.v32.slice() };
          const dout1 = doutOf(a);
          const dout2 = dout1.slice();
          const arrays = [b.q32, b.k32, b.v32, dout2];
          for (let bh = 0; bh < B * NH; bh++)
            for (let t = t0 + 1; t < T; t++)
              arrays.forEach((arr, w) => arr.set(other.subarray(((w * B * NH + bh) * T + t) * hs, ((w * B * NH + bh) * T + t + 1) * hs), (bh * T + t) * hs));
          b.q = Tensor.fromHost(b.q32, a.q.shape);
          b.k = Tensor.fromHost(b.k32, a.k.shape);
          b.v = Tensor.fromHost(b.v32, a.v.shape);
          const runs = [];
          for (const [x, dout32] of [[a, dout1], [b, dout2]] as const) {
            const f = await withUnmutatedInputs(inputsOf(x), () => attention(ctx.device, x.q, x.k, x.v, publicOptions(x)));
            const dout = Tensor.fromHost(dout32, x.q.shape);
            const g = await withUnmutatedInputs(inputsOf(x, { dout }), () => attentionBackward(ctx.device, dout, x.q, x.k, x.v, f.out, f.lse, publicOptions(x)));
            runs.push({ out: await f.out.read(), lse: await f.lse.read(), dq: await g.dq.read() });
          }
          // the same float32 operations on the same values: bit-for-bit the same, row by row
          for (let bh = 0; bh < B * NH; bh++) {
            const checks: [string, ArrayLike<number>, ArrayLike<number>, number, number][] = [
              ['out', runs[0].out, runs[1].out, bh * T * hs, (bh * T + t0 + 1) * hs],
              ['lse', runs[0].lse, runs[1].lse, bh * T, bh * T + t0 + 1],
              ['dq', runs[0].dq, runs[1].dq, bh * T * hs, (bh * T + t0 + 1) * hs],
            ];
            for (const [name, x, y, from, to] of checks) {
              const i = rowsEqual(x, y, from, to);
              if (i >= 0) {
                throw new Error(`attention (causal) on ${ctx.device.backend}: ${name} at flat index ${i} (row ≤ ${t0} of head ${bh}) changed from ${x[i]} to ${y[i]} when positions > ${t0} changed`);
              }
            }
          }
        },
      ),
  },
  {
    id: 'attention: permuting keys and values together leaves the output unchanged',
    kernel: 'attention',
    phase: 'forward',
    defaultRuns: 12,
    run: (ctx) =>
      property(ctx, fc.tuple(attentionCaseArb({ maxScores: 6000, causal: false, masks: false, profiles: ['normal', 'ties', 'wide', 'zeros'], specials: false }), fc.nat()), async ([c, pseed]) => {
        const a = materialise(c, f32Scores(ctx), flushes(ctx));
        const { B, NH, S, hs } = a.dims;
        const rng = new Rng(pseed);
        const b = { ...a, k32: new Float32Array(a.k32.length), v32: new Float32Array(a.v32.length) };
        for (let bh = 0; bh < B * NH; bh++) {
          const perm = Array.from({ length: S }, (_, i) => i);
          for (let i = S - 1; i > 0; i--) {
            const j = rng.int(0, i);
            [perm[i], perm[j]] = [perm[j], perm[i]];
          }
          for (let j = 0; j < S; j++) {
            b.k32.set(a.k32.subarray((bh * S + perm[j]) * hs, (bh * S + perm[j] + 1) * hs), (bh * S + j) * hs);
            b.v32.set(a.v32.subarray((bh * S + perm[j]) * hs, (bh * S + perm[j] + 1) * hs), (bh * S + j) * hs);
          }
        }
        b.k = Tensor.fromHost(b.k32, a.k.shape);
        b.v = Tensor.fromHost(b.v32, a.v.shape);
        const r1 = await checkForward(ctx, a);
        const r2 = await checkForward(ctx, b);
        // both are within their bounds of the same exact values
        for (const [name, y1, y2, b1, b2, shape] of [
          ['out', r1.out, r2.out, r1.bound.out, r2.bound.out, a.q.shape],
          ['lse', r1.lse, r2.lse, r1.bound.lse, r2.bound.lse, a.q.shape.slice(0, 3)],
        ] as const) {
          const allowed = b1.allowed.map((x, i) => x + b2.allowed[i]);
          const r = compareWithAllowed(y2, y1, allowed);
          if (!r.ok) throw new Error(describeFailure(`attention ${name} with permuted keys vs original on ${ctx.device.backend}`, r, shape, 'sum of the two bounds'));
        }
      }),
  },
  {
    id: 'attention: a boolean mask equals the additive mask with 0/−Inf',
    kernel: 'attention',
    phase: 'forward',
    defaultRuns: 12,
    run: (ctx) =>
      property(ctx, attentionCaseArb({ maxScores: 8000, profiles: ['normal', 'ties', 'zeros'], specials: false }).map((c) => ({ ...c, mask: 'boolean' as const })), async (c) => {
        const a = materialise(c, f32Scores(ctx), flushes(ctx));
        const bool = a.mask!;
        const add = Tensor.fromHost(Float32Array.from(bool.data, (x) => (x === 1 ? 0 : -Infinity)), bool.shape);
        const fb = await checkForward(ctx, a);
        const ya = await withUnmutatedInputs({ ...inputsOf(a), add }, () => attention(ctx.device, a.q, a.k, a.v, { causal: c.causal, mask: add, scale: c.scale }));
        // the reference (and so the bound) is the same for both masks: each result is within it
        for (const [name, yb, ta, bd] of [
          ['out', fb.out, ya.out, fb.bound.out],
          ['lse', fb.lse, ya.lse, fb.bound.lse],
        ] as const) {
          const r = compareWithAllowed(await ta.read(), yb, bd.allowed.map((x) => 2 * x));
          if (!r.ok) throw new Error(describeFailure(`attention ${name}: additive 0/−Inf mask vs boolean mask on ${ctx.device.backend}`, r, ta.shape, 'twice the bound'));
        }
      }),
  },
  {
    id: 'attention: fully masked rows give out 0, lse −Inf and zero gradients',
    kernel: 'attention',
    phase: 'backward',
    defaultRuns: 10,
    run: (ctx) =>
      property(
        ctx,
        attentionCaseArb({ maxScores: 6000, profiles: BACKWARD_PROFILES, specials: false }).map((c) => ({
          ...c,
          mask: c.mask === 'none' ? ('additive' as const) : c.mask,
          maskShape: c.maskShape === 'B11S' ? ('B1TS' as const) : c.maskShape,
          maskedRows: 0.3,
        })),
        async (c) => {
          const a = materialise(c, f32Scores(ctx), flushes(ctx));
          const { B, NH, T, hs } = a.dims;
          const { ref, out, lse } = await checkForward(ctx, a);
          const { dq } = await checkBackward(ctx, a);
          for (let row = 0; row < B * NH * T; row++) {
            if (ref.lse[row] !== -Infinity) continue;
            if (lse[row] !== -Infinity) throw new Error(`attention on ${ctx.device.backend}: fully masked row ${row} has lse ${lse[row]}, not −Inf`);
            for (let d = 0; d < hs; d++) {
              const i = row * hs + d;
              if (out[i] !== 0 || dq[i] !== 0) throw new Error(`attention on ${ctx.device.backend}: fully masked row ${row} has out ${out[i]}, dq ${dq[i]} at d = ${d}; both must be exactly 0`);
            }
          }
        },
      ),
  },
];

// ---------------------------------------------------------------------------
// Named edge cases, each forward and backward against the reference
// ---------------------------------------------------------------------------

interface EdgeCase {
  name: string;
  dims: AttentionDims;
  causal?: boolean;
  scale?: number;
  /** Values by (tensor, flat index); everything else from `base`. */
  q?: (i: number) => number;
  k?: (i: number) => number;
  v?: (i: number) => number;
  /** mask data and shape; int32 for boolean. */
  mask?: { data: Int32Array | Float32Array; shape: number[] };
  /** Skip the backward (its inputs are outside the backward's bound). */
  forwardOnly?: boolean;
}

const ordinary = (seed: number) => (i: number) => Math.fround(Math.sin(seed * 7.1 + i * 1.3) * 2);

const edgeCases: EdgeCase[] = [
  { name: 'T = 1, S = 1, hs = 1', dims: { B: 1, NH: 1, T: 1, S: 1, hs: 1 } },
  { name: 'T = 1, S = 1, hs = 1, causal', dims: { B: 1, NH: 1, T: 1, S: 1, hs: 1 }, causal: true },
  { name: 'KV cache: one query over 1025 cached keys', dims: { B: 2, NH: 2, T: 1, S: 1025, hs: 8 } },
  { name: 'causal with T < S (top-left: query t sees keys ≤ t)', dims: { B: 1, NH: 2, T: 3, S: 5, hs: 4 }, causal: true },
  { name: 'causal with T > S (queries t ≥ S see every key)', dims: { B: 1, NH: 2, T: 5, S: 3, hs: 4 }, causal: true },
  {
    name: 'huge scores ±1e30: saturated softmax, no overflow',
    dims: { B: 1, NH: 1, T: 3, S: 4, hs: 2 },
    q: (i) => [1e30, 0, -1e30, 1, 0, 1e-30][i],
    k: (i) => [1, 0, -1, 0, 0.5, 0.5, 0, 1][i],
    forwardOnly: true,
  },
  {
    name: 'score beyond the float32 range (+Inf score: lse +Inf, out NaN)',
    dims: { B: 1, NH: 1, T: 2, S: 2, hs: 1 },
    q: (i) => [1e30, 1][i],
    k: (i) => [1e30, 2][i],
    forwardOnly: true,
  },
  { name: 'NaN in a query', dims: { B: 1, NH: 1, T: 3, S: 3, hs: 2 }, q: (i) => (i === 2 ? NaN : ordinary(1)(i)) },
  { name: 'NaN in a key (causal: earlier queries unaffected)', dims: { B: 1, NH: 1, T: 3, S: 3, hs: 2 }, causal: true, k: (i) => (i === 3 ? NaN : ordinary(2)(i)) },
  { name: 'NaN in a value column', dims: { B: 1, NH: 1, T: 2, S: 3, hs: 3 }, v: (i) => (i === 4 ? NaN : ordinary(3)(i)) },
  {
    name: 'NaN and Inf in excluded positions do not leak',
    dims: { B: 1, NH: 1, T: 3, S: 4, hs: 2 },
    k: (i) => (i === 7 ? NaN : i === 6 ? Infinity : ordinary(4)(i)),
    v: (i) => (i === 6 ? NaN : i === 7 ? -Infinity : ordinary(5)(i)),
    mask: { data: Int32Array.from([1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0]), shape: [3, 4] },
  },
  { name: '+Inf and −Inf in v', dims: { B: 1, NH: 1, T: 2, S: 3, hs: 2 }, v: (i) => (i === 0 ? Infinity : i === 3 ? -Infinity : ordinary(6)(i)), forwardOnly: true },
  {
    name: '±Inf in v where the float32 weight underflows',
    dims: { B: 1, NH: 1, T: 1, S: 2, hs: 1 },
    q: () => 1,
    k: (i) => [0, -300][i],
    v: (i) => [1, Infinity][i],
    scale: 1,
    forwardOnly: true,
  },
  { name: 'ties: identical keys', dims: { B: 1, NH: 1, T: 2, S: 4, hs: 3 }, k: (i) => [0.5, -1, 2][i % 3] },
  {
    name: 'subnormal q and k',
    dims: { B: 1, NH: 1, T: 2, S: 3, hs: 2 },
    q: (i) => [1e-40, -3e-41, 2e-45, 1e-39][i],
    k: (i) => [1e-39, 2e-40, -1e-41, 5e-45, 1e-38, 0][i],
  },
  {
    name: 'additive mask of −F32_MAX (finfo.min style) on a whole row',
    dims: { B: 1, NH: 1, T: 2, S: 3, hs: 2 },
    mask: { data: Float32Array.from([-F32_MAX, -F32_MAX, -F32_MAX, 0, -F32_MAX, 0]), shape: [2, 3] },
  },
  {
    name: 'fully masked rows (boolean and additive)',
    dims: { B: 2, NH: 1, T: 2, S: 3, hs: 2 },
    mask: { data: Float32Array.from([-Infinity, -Infinity, -Infinity, 0, 1, -Infinity, 0, 0, 0, -Infinity, -Infinity, -Infinity]), shape: [2, 1, 2, 3] },
  },
  { name: 'every key masked (boolean mask of zeros)', dims: { B: 1, NH: 2, T: 2, S: 3, hs: 2 }, mask: { data: new Int32Array(6), shape: [1, 1, 2, 3] }, causal: true },
  { name: 'zero scale: a plain average of the values', dims: { B: 1, NH: 1, T: 2, S: 5, hs: 3 }, scale: 0 },
];

const edges: KernelCheck[] = edgeCases.map((e) => ({
  id: `attention: ${e.name}`,
  kernel: 'attention',
  phase: 'forward' as const,
  defaultRuns: 1,
  run: async (ctx: CheckContext) => {
    const { B, NH, T, S, hs } = e.dims;
    const fill = (n: number, f: ((i: number) => number) | undefined, seed: number) => Float32Array.from({ length: n }, (_, i) => (f ?? ordinary(seed))(i));
    const q32 = fill(B * NH * T * hs, e.q, 11);
    const k32 = fill(B * NH * S * hs, e.k, 12);
    const v32 = fill(B * NH * S * hs, e.v, 13);
    let m64: AttentionMask64 | undefined;
    let mask: Tensor | undefined;
    if (e.mask) {
      const r = broadcastStrides(e.mask.shape, e.dims);
      if ('bad' in r) throw new Error(`internal: edge-case mask ${e.mask.shape}`);
      mask = Tensor.fromHost(e.mask.data, e.mask.shape);
      m64 = { data: Float64Array.from(e.mask.data), kind: e.mask.data instanceof Int32Array ? 'boolean' : 'additive', strides: r.strides };
    }
    const c: AttentionCase = {
      dims: e.dims,
      causal: e.causal ?? false,
      mask: 'none',
      maskShape: 'TS',
      scale: e.scale,
      q: { seed: 0, profile: 'normal', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 },
      k: { seed: 0, profile: 'normal', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 },
      v: { seed: 0, profile: 'normal', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 },
      seed: 99,
      maskedRows: 0,
      specials: false,
    };
    const a: AttentionData = {
      c,
      dims: e.dims,
      q32,
      k32,
      v32,
      q: Tensor.fromHost(q32, [B, NH, T, hs]),
      k: Tensor.fromHost(k32, [B, NH, S, hs]),
      v: Tensor.fromHost(v32, [B, NH, S, hs]),
      mask,
      opts: { causal: c.causal, scale: e.scale ?? 1 / Math.sqrt(hs), mask: m64, float32Scores: f32Scores(ctx), flushSubnormals: flushes(ctx) },
    };
    await checkForward(ctx, a);
    if (!e.forwardOnly) await checkBackward(ctx, a);
  },
}));

export const attentionChecks: KernelCheck[] = [...forward, ...backward, ...metamorphic, ...edges];
