/**
 * Shared checks for embedding (token + position), forward and backward:
 * against the FP64 reference within the derived bounds, with token streams
 * that repeat ids (so the backward must accumulate), and named edge cases.
 */
import fc from 'fast-check';
import { F32_MAX } from '../../kernels/bounds.js';
import { embedding, embeddingBackward, embeddingBackwardBound, embeddingBackwardRef, embeddingBound, embeddingRef } from '../../kernels/embedding.js';
import { Tensor } from '../../tensor.js';
import { dimArb, valueSpecArb } from '../arbitraries.js';
import { compareWithAllowed, describeFailure } from '../compare.js';
import { expectWithinBound, property, withUnmutatedInputs, type CheckContext, type KernelCheck } from '../suite.js';
import { generate, Rng, widen, type ValueSpec } from '../values.js';
import { foldedValues } from './matmul.js';

export interface EmbeddingCase {
  B: number;
  T: number;
  /** maxT − T */
  extraT: number;
  V: number;
  C: number;
  /** How token ids are drawn: uniform, or half of them one id (heavy repeats). */
  tokens: 'uniform' | 'skewed';
  int32: boolean;
  tokenSeed: number;
  wteSpec: ValueSpec;
  wpeSpec: ValueSpec;
  doutSpec: ValueSpec;
}

/** B·T·C ≤ 24k, V·C ≤ 24k. */
export function embeddingCaseArb(): fc.Arbitrary<EmbeddingCase> {
  return fc
    .record({
      B: fc.integer({ min: 1, max: 6 }),
      T: dimArb(64),
      extraT: fc.constantFrom(0, 1, 7),
      V: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 300 })),
      C: dimArb(300),
      tokens: fc.constantFrom('uniform' as const, 'skewed' as const),
      int32: fc.boolean(),
      tokenSeed: fc.nat(),
      wteSpec: valueSpecArb(),
      wpeSpec: valueSpecArb(),
      doutSpec: valueSpecArb(),
    })
    .map((c) => {
      const C = Math.max(1, Math.min(c.C, Math.floor(24_000 / (c.B * c.T)), Math.floor(24_000 / c.V)));
      return { ...c, C };
    });
}

/** Token ids in [0, V): uniform, or with half of them a single id. */
export function drawTokens(c: Pick<EmbeddingCase, 'B' | 'T' | 'V' | 'tokens' | 'tokenSeed'>): number[] {
  const rng = new Rng(c.tokenSeed);
  const hot = rng.int(0, c.V - 1);
  return Array.from({ length: c.B * c.T }, () => (c.tokens === 'skewed' && rng.uniform() < 0.5 ? hot : rng.int(0, c.V - 1)));
}

export function embeddingInputs(c: EmbeddingCase) {
  const ids = drawTokens(c);
  const maxT = c.T + c.extraT;
  const wte32 = generate(c.wteSpec, c.V, c.C);
  const wpe32 = generate(c.wpeSpec, maxT, c.C);
  const tokens = Tensor.fromHost(c.int32 ? Int32Array.from(ids) : Float32Array.from(ids), [c.B, c.T]);
  return { ids, maxT, wte32, wpe32, wte: Tensor.fromHost(wte32, [c.V, c.C]), wpe: Tensor.fromHost(wpe32, [maxT, c.C]), tokens };
}

const main: KernelCheck[] = [
  {
    id: 'embedding.forward: within one rounding of the FP64 reference',
    kernel: 'embedding',
    phase: 'forward',
    defaultRuns: 25,
    run: (ctx) =>
      property(ctx, embeddingCaseArb(), async (c) => {
        const { ids, wte32, wpe32, wte, wpe, tokens } = embeddingInputs(c);
        const out = await withUnmutatedInputs({ tokens, wte, wpe }, () => embedding(ctx.device, tokens, wte, wpe));
        if (out.shape.join() !== [c.B, c.T, c.C].join()) throw new Error(`embedding returned shape [${out.shape}] for [${c.B}, ${c.T}, ${c.C}]`);
        const ref = embeddingRef(ids, widen(wte32), widen(wpe32), c.B, c.T, c.C);
        await expectWithinBound(ctx, { kernel: 'embedding', phase: 'forward', output: 'out' }, out, ref, embeddingBound(ctx.model, ref));
      }),
  },
  {
    id: 'embedding.backward: dwte accumulates repeated tokens, dwpe sums the batch, within bound',
    kernel: 'embedding',
    phase: 'backward',
    defaultRuns: 25,
    run: (ctx) =>
      property(ctx, embeddingCaseArb(), async (c) => {
        const { ids, maxT, tokens } = embeddingInputs(c);
        // magnitudes folded below 1e16: float32 partial sums of B·T terms cannot overflow (see the contract)
        const dout32 = foldedValues(c.doutSpec, c.B * c.T * c.C);
        const dout = Tensor.fromHost(dout32, [c.B, c.T, c.C]);
        const g = await withUnmutatedInputs({ dout, tokens }, () => embeddingBackward(ctx.device, dout, tokens, c.V, maxT));
        const dout64 = widen(dout32);
        const ref = embeddingBackwardRef(dout64, ids, c.B, c.T, c.C, c.V, maxT);
        const bound = embeddingBackwardBound(ctx.model, dout64, ids, c.B, c.T, c.C, c.V, maxT, ref);
        await expectWithinBound(ctx, { kernel: 'embedding', phase: 'backward', output: 'dwte' }, g.dwte, ref.dwte, bound.dwte);
        await expectWithinBound(ctx, { kernel: 'embedding', phase: 'backward', output: 'dwpe' }, g.dwpe, ref.dwpe, bound.dwpe);
      }),
  },
];

const metamorphic: KernelCheck[] = [
  {
    id: 'embedding.forward: with wpe = 0 it gathers the rows of wte exactly',
    kernel: 'embedding',
    phase: 'forward',
    defaultRuns: 10,
    run: (ctx) =>
      property(ctx, embeddingCaseArb(), async (c) => {
        const { ids, maxT, wte32, wte, tokens } = embeddingInputs(c);
        const out = await (await embedding(ctx.device, tokens, wte, Tensor.fromHost(new Float32Array(maxT * c.C), [maxT, c.C]))).read();
        // x + 0 = x exactly (−0 + 0 = +0, equal as numbers); a flushing backend may zero subnormal rows
        const want = new Float64Array(c.B * c.T * c.C);
        for (let i = 0; i < c.B * c.T; i++) for (let k = 0; k < c.C; k++) want[i * c.C + k] = wte32[ids[i] * c.C + k];
        const r = compareWithAllowed(out, want, ctx.model.tiny);
        if (!r.ok) throw new Error(describeFailure(`embedding with wpe = 0 vs the rows of wte on ${ctx.device.backend}`, r, [c.B, c.T, c.C], 'exact'));
      }),
  },
  {
    id: 'embedding.backward: token ids as int32 and as float32 give the same gradients',
    kernel: 'embedding',
    phase: 'backward',
    defaultRuns: 5,
    run: (ctx) =>
      property(ctx, embeddingCaseArb(), async (c) => {
        const ids = drawTokens(c);
        const dout = Tensor.fromHost(generate(c.doutSpec, c.B * c.T, c.C), [c.B, c.T, c.C]);
        const g1 = await embeddingBackward(ctx.device, dout, Tensor.fromHost(Int32Array.from(ids), [c.B, c.T]), c.V, c.T);
        const g2 = await embeddingBackward(ctx.device, dout, Tensor.fromHost(Float32Array.from(ids), [c.B, c.T]), c.V, c.T);
        for (const k of ['dwte', 'dwpe'] as const) {
          const r = compareWithAllowed(await g1[k].read(), await g2[k].read(), 0);
          if (!r.ok) throw new Error(describeFailure(`embeddingBackward ${k}: int32 vs float32 ids on ${ctx.device.backend}`, r, g1[k].shape, 'identical'));
        }
      }),
  },
];

/** Named edge cases, each compared with the reference within its bound. */
const edgeCases: { name: string; tokens: number[][]; wte: number[][]; wpe: number[][]; dout?: number[][][] }[] = [
  {
    name: 'a token seen twice gets the sum; unused tokens and positions ≥ T get 0',
    tokens: [[2, 0, 2], [2, 2, 1]],
    wte: [[1, 2], [3, 4], [5, 6], [7, 8]],
    wpe: [[0.5, -0.5], [0.25, 0.25], [-1, 1], [9, 9]],
    dout: [[[1, 2], [3, 4], [5, 6]], [[0.5, 0.25], [-1, 8], [100, 1e-3]]],
  },
  {
    name: 'propagates NaN and ±Inf; Inf + (−Inf) is NaN',
    tokens: [[0, 1, 0]],
    wte: [[NaN, Infinity], [-Infinity, 1]],
    wpe: [[1, 2], [Infinity, Infinity], [0, -Infinity]],
    dout: [[[Infinity, 1], [1, NaN], [-Infinity, 1]]],
  },
  {
    name: 'sums beyond float32 max are ±Inf',
    // every order of every sum overflows alike (or cancels exactly): see the contract on partial sums
    tokens: [[0, 0], [1, 1]],
    wte: [[F32_MAX, -F32_MAX], [1e38, 3e38]],
    wpe: [[F32_MAX, -F32_MAX], [1e38, -3e38]],
    dout: [[[F32_MAX, 1], [F32_MAX, -F32_MAX]], [[-F32_MAX, 2], [-F32_MAX, -F32_MAX]]],
  },
  {
    name: 'subnormal values',
    tokens: [[1, 1]],
    wte: [[0, 0], [1e-40, -1e-45]],
    wpe: [[1e-40, 1e-40], [-1e-40, 0]],
    dout: [[[1e-40, 1e-45], [1e-40, 1e-39]]],
  },
];

const edges: KernelCheck[] = edgeCases.map(({ name, tokens, wte, wpe, dout }) => ({
  id: `embedding: ${name}`,
  kernel: 'embedding',
  phase: 'forward' as const,
  defaultRuns: 1,
  run: async (ctx: CheckContext) => {
    const B = tokens.length;
    const T = tokens[0].length;
    const V = wte.length;
    const C = wte[0].length;
    const maxT = wpe.length;
    const ids = tokens.flat();
    const wte32 = Float32Array.from(wte.flat());
    const wpe32 = Float32Array.from(wpe.flat());
    const tok = Tensor.fromHost(Int32Array.from(ids), [B, T]);
    const out = await embedding(ctx.device, tok, Tensor.fromHost(wte32, [V, C]), Tensor.fromHost(wpe32, [maxT, C]));
    const ref = embeddingRef(ids, widen(wte32), widen(wpe32), B, T, C);
    const r = compareWithAllowed(await out.read(), ref, embeddingBound(ctx.model, ref).allowed);
    if (!r.ok) throw new Error(describeFailure(`embedding '${name}' on ${ctx.device.backend}`, r, [B, T, C]));
    if (dout) {
      const d32 = Float32Array.from(dout.flat(2));
      const g = await embeddingBackward(ctx.device, Tensor.fromHost(d32, [B, T, C]), tok, V, maxT);
      const gr = embeddingBackwardRef(widen(d32), ids, B, T, C, V, maxT);
      const bound = embeddingBackwardBound(ctx.model, widen(d32), ids, B, T, C, V, maxT, gr);
      for (const k of ['dwte', 'dwpe'] as const) {
        const rk = compareWithAllowed(await g[k].read(), gr[k], bound[k].allowed);
        if (!rk.ok) throw new Error(describeFailure(`embeddingBackward ${k} '${name}' on ${ctx.device.backend}`, rk, g[k].shape, bound[k].note));
      }
    }
  },
}));

export const embeddingChecks: KernelCheck[] = [...main, ...metamorphic, ...edges];
