/**
 * embedding: token plus position embeddings, forward and backward.
 *
 * Shapes: tokens (B, T) token ids (an int32 tensor, or a float tensor of
 * integers); wte (V, C) the token table; wpe (maxT, C) the position table,
 * T ≤ maxT. out and dout are (B, T, C).
 *
 *   forward:   out[b, t, c] = wte[tokens[b, t], c] + wpe[t, c]
 *   backward:  dwte[v, c] = Σ_{(b, t): tokens[b, t] = v} dout[b, t, c]   (accumulates: a token seen twice gets the sum)
 *              dwpe[t, c] = Σ_b dout[b, t, c] for t < T, and 0 for T ≤ t < maxT
 *
 * Algorithm (gpu.js, float32):
 *   forward: one thread per output element, two loads and one addition.
 *   dwte: a gather, not a scatter (gpu.js has no atomics): the host sorts the
 *     B·T positions by token into a CSR index (positions grouped by token,
 *     `offsets` (V + 1) into them, positions in increasing order), and one
 *     thread per (v, c) sums dout over the positions of token v, stopping at
 *     its count. The loop bound is the constant B·T; the `break` makes the
 *     work Σ_v C·count(v) = B·T·C additions plus V·C thread starts, and the
 *     host pass is O(B·T + V). One kernel compiles per (B, T, C, V), however
 *     the tokens are distributed.
 *   dwpe: one thread per (t, c), a loop over b.
 *
 * Edge-case contract (the FP64 reference defines it; every backend matches):
 *   - ±Inf and NaN in the tables or in dout propagate per IEEE (Inf + (−Inf)
 *     = NaN); two finite entries whose sum exceeds float32 max give ±Inf.
 *   - Backward partial sums are float32: when Σ|dout| over the summed
 *     positions exceeds float32 max, dwte or dwpe may be ±Inf or NaN even if
 *     the exact sum is representable (F32_MAX + F32_MAX − F32_MAX); the bound
 *     is then infinite. The tests use such sums only where every order
 *     overflows alike.
 *   - Tokens must be integers in [0, V) and T ≤ maxT; anything else is an
 *     ArgumentError naming the argument, the offending value and the shapes.
 *   - B·T = 0 or C = 0: out is empty; the backward returns zero tables.
 *   - Rows of dwte for tokens that do not occur, and rows t ≥ T of dwpe, are 0.
 *   - headlessgl flushes subnormal inputs and results to zero (a few `tiny`
 *     in the bound).
 *   - Sizes: more than 2^24 elements in any tensor is refused on the gpu.js
 *     float32 backends (see GPUJS_INDEX_LIMIT in shapes.ts).
 *
 * Error bounds:
 *   forward: exact up to one rounding: |Δout| ≤ u_once·|out| + 3·tiny, where
 *     u_once = uStore when the addition is float32 (it is the only rounding),
 *     and uStore + u when it is float64 rounded to float32 on store (cpu);
 *     3·tiny for two flushed operands and a flushed result.
 *   dwte[v, c]: count(v) terms added in a chain: count(v) − 1 roundings,
 *     |Δ| ≤ γ(count(v) − 1)·Σ|dout| + uStore|dwte| + (count(v) + 1)·tiny.
 *   dwpe[t, c]: B terms in a chain, |Δ| ≤ γ(B − 1)·Σ_b|dout| + uStore|dwpe| + (B + 1)·tiny.
 */
import type { Device } from '../device.js';
import { registerKernel, runKernel } from '../dispatch.js';
import { ArgumentError, checkDimension, fmtShape } from '../errors.js';
import { Tensor } from '../tensor.js';
import { type Bound, type ErrorModel, gamma, SECOND_ORDER } from './bounds.js';
import { idiv, imod } from './gpujs/index-math.js';
import { checkFloat, checkGpuIndexable, checkRank, checkTensor, emptyLike, f64, out64 } from './shapes.js';

// ---------------------------------------------------------------------------
// FP64 reference
// ---------------------------------------------------------------------------

/** out (B, T, C) = wte[tokens] + wpe[t] in float64. Tokens are valid (checked by the caller). */
export function embeddingRef(tokens: ArrayLike<number>, wte: Float64Array, wpe: Float64Array, B: number, T: number, C: number): Float64Array {
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const v = tokens[b * T + t];
      for (let c = 0; c < C; c++) out[(b * T + t) * C + c] = wte[v * C + c] + wpe[t * C + c];
    }
  }
  return out;
}

/** dwte (V, C) and dwpe (maxT, C) in float64, accumulating in position order. */
export function embeddingBackwardRef(
  dout: Float64Array,
  tokens: ArrayLike<number>,
  B: number,
  T: number,
  C: number,
  V: number,
  maxT: number,
): { dwte: Float64Array; dwpe: Float64Array } {
  const dwte = new Float64Array(V * C);
  const dwpe = new Float64Array(maxT * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const v = tokens[b * T + t];
      for (let c = 0; c < C; c++) {
        const d = dout[(b * T + t) * C + c];
        dwte[v * C + c] += d;
        dwpe[t * C + c] += d;
      }
    }
  }
  return { dwte, dwpe };
}

// ---------------------------------------------------------------------------
// Error bounds
// ---------------------------------------------------------------------------


/** Relative error of one addition whose result is stored in float32 (see the header). */
function oneRounding(M: ErrorModel): number {
  return M.u === M.uStore ? M.uStore : M.uStore + M.u;
}

/** forward: |Δout| ≤ u_once·|out| + 3·tiny (see the header). */
export function embeddingBound(M: ErrorModel, ref: Float64Array): Bound {
  const allowed = new Float64Array(ref.length);
  const r = oneRounding(M);
  for (let i = 0; i < ref.length; i++) allowed[i] = SECOND_ORDER * r * Math.abs(ref[i]) + 3 * M.tiny;
  return { allowed, note: `embedding: one rounding, |Δout| ≤ ${r.toExponential(3)}·|out| + 3·tiny, ${M.name}` };
}

/**
 * backward: a chain of n additions starting from the first term has n − 1
 * roundings, so |Δ| ≤ γ(n − 1)·Σ|terms| (Higham §4.2), plus the float32 store
 * (uStore|result|) and tiny for flushed terms and partial sums.
 */
export function embeddingBackwardBound(
  M: ErrorModel,
  dout: Float64Array,
  tokens: ArrayLike<number>,
  B: number,
  T: number,
  C: number,
  V: number,
  maxT: number,
  ref: { dwte: Float64Array; dwpe: Float64Array },
): { dwte: Bound; dwpe: Bound } {
  const count = new Float64Array(V);
  const absTe = new Float64Array(V * C);
  const absPe = new Float64Array(maxT * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const v = tokens[b * T + t];
      count[v]++;
      for (let c = 0; c < C; c++) {
        const d = Math.abs(dout[(b * T + t) * C + c]);
        absTe[v * C + c] += d;
        absPe[t * C + c] += d;
      }
    }
  }
  const dwte = new Float64Array(V * C);
  for (let v = 0; v < V; v++) {
    const g = gamma(Math.max(count[v] - 1, 0), M.u);
    for (let c = 0; c < C; c++) {
      const i = v * C + c;
      dwte[i] = SECOND_ORDER * (g * absTe[i] + M.uStore * Math.abs(ref.dwte[i])) + (count[v] + 1) * M.tiny;
    }
  }
  const dwpe = new Float64Array(maxT * C);
  const gB = gamma(Math.max(B - 1, 0), M.u);
  for (let i = 0; i < T * C; i++) dwpe[i] = SECOND_ORDER * (gB * absPe[i] + M.uStore * Math.abs(ref.dwpe[i])) + (B + 1) * M.tiny;
  return {
    dwte: { allowed: dwte, note: `embeddingBackward dwte: |Δdwte[v,c]| ≤ γ(count(v) − 1)·Σ|dout| + u_store|dwte| + tiny terms, ${M.name}` },
    dwpe: { allowed: dwpe, note: `embeddingBackward dwpe: |Δdwpe[t,c]| ≤ γ(B − 1)·Σ_b|dout| + u_store|dwpe| + tiny terms, ${M.name}` },
  };
}

// ---------------------------------------------------------------------------
// gpu.js kernels (float32; one thread per output element)
// ---------------------------------------------------------------------------

interface EmbThis {
  thread: { x: number };
  constants: { T: number; C: number };
}

/** out[bt, c] = wte[tokens[bt], c] + wpe[bt mod T, c]; index splits by `idiv` (exact in float32). */
function embeddingKernel(this: EmbThis, tokens: number[], wte: number[], wpe: number[]): number {
  const bt = idiv(this.thread.x, this.constants.C);
  const c = this.thread.x - bt * this.constants.C;
  const t = imod(bt, this.constants.T);
  const v = tokens[bt];
  return wte[v * this.constants.C + c] + wpe[t * this.constants.C + c];
}

interface DwteThis {
  thread: { x: number };
  constants: { C: number; BT: number };
}

/**
 * dwte[v, c] = Σ_p dout[positions[offsets[v] + p], c] for p < count(v), in
 * increasing position order (the reference's order). The loop bound is the
 * constant B·T; the break stops at count(v).
 */
function embeddingDwteKernel(this: DwteThis, dout: number[], positions: number[], offsets: number[]): number {
  const v = idiv(this.thread.x, this.constants.C);
  const c = this.thread.x - v * this.constants.C;
  const start = offsets[v];
  const count = offsets[v + 1] - start;
  let s = 0;
  for (let p = 0; p < this.constants.BT; p++) {
    if (p >= count) {
      break;
    }
    s += dout[positions[start + p] * this.constants.C + c];
  }
  return s;
}

interface DwpeThis {
  thread: { x: number };
  constants: { B: number; T: number; C: number };
}

/** dwpe[t, c] = Σ_b dout[b, t, c] for t < T, else 0. */
function embeddingDwpeKernel(this: DwpeThis, dout: number[]): number {
  const t = idiv(this.thread.x, this.constants.C);
  const c = this.thread.x - t * this.constants.C;
  let s = 0;
  if (t < this.constants.T) {
    for (let b = 0; b < this.constants.B; b++) {
      s += dout[(b * this.constants.T + t) * this.constants.C + c];
    }
  }
  return s;
}

/**
 * The CSR index of the dwte gather: positions (B·T) sorted by token (stable:
 * increasing position within a token) and offsets (V + 1), both as float32
 * (exact: B·T ≤ 2^24 on these backends). A counting sort, O(B·T + V).
 */
export function tokenIndex(tokens: ArrayLike<number>, V: number): { positions: Float32Array; offsets: Float32Array } {
  const n = tokens.length;
  const offsets = new Float32Array(V + 1);
  for (let i = 0; i < n; i++) offsets[tokens[i] + 1]++;
  for (let v = 0; v < V; v++) offsets[v + 1] += offsets[v];
  const next = Float64Array.from(offsets.subarray(0, V));
  const positions = new Float32Array(n);
  for (let i = 0; i < n; i++) positions[next[tokens[i]]++] = i;
  return { positions, offsets };
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

export interface EmbeddingAttrs {
  B: number;
  T: number;
  C: number;
  V: number;
  maxT: number;
  /** Validated token ids on the host (the CSR index and the reference read them). */
  ids: Float32Array;
}

registerKernel<EmbeddingAttrs>({
  kernel: 'embedding',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { wte, wpe }, { B, T, C, ids }) => ({ out: out64(embeddingRef(ids, f64(wte), f64(wpe), B, T, C), [B, T, C]) }),
});
registerKernel<EmbeddingAttrs>({
  kernel: 'embedding',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { wte, wpe }, { B, T, C, ids }) => {
    const tok = Tensor.fromHost(ids, [B, T]);
    return { out: await d.gpujs!.run({ name: 'embedding.forward', fn: embeddingKernel, outputs: B * T * C, constants: { T, C } }, [tok, wte, wpe], [B, T, C]) };
  },
});

registerKernel<EmbeddingAttrs>({
  kernel: 'embedding',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dout }, { B, T, C, V, maxT, ids }) => {
    const r = embeddingBackwardRef(f64(dout), ids, B, T, C, V, maxT);
    return { dwte: out64(r.dwte, [V, C]), dwpe: out64(r.dwpe, [maxT, C]) };
  },
});
registerKernel<EmbeddingAttrs>({
  kernel: 'embedding',
  phase: 'backward',
  backend: 'gpujs',
  impl: async (d, { dout }, { B, T, C, V, maxT, ids }) => {
    const rt = d.gpujs!;
    const { positions, offsets } = tokenIndex(ids, V);
    const dwte = await rt.run(
      { name: 'embedding.dwte', fn: embeddingDwteKernel, outputs: V * C, constants: { C, BT: B * T } },
      [dout, Tensor.fromHost(positions, [B * T]), Tensor.fromHost(offsets, [V + 1])],
      [V, C],
    );
    const dwpe = await rt.run({ name: 'embedding.dwpe', fn: embeddingDwpeKernel, outputs: maxT * C, constants: { B, T, C } }, [dout], [maxT, C]);
    return { dwte, dwpe };
  },
});

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

/**
 * Reads and validates token ids: integers in [0, V), returned as float32
 * (exact: V ≤ 2^24 whenever the tables are indexable).
 */
async function tokenIds(fn: string, tokens: Tensor, V: number, tableNote: string): Promise<Float32Array> {
  const raw = await tokens.read();
  const ids = new Float32Array(raw.length);
  const T = tokens.shape[1];
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i];
    if (!Number.isInteger(v)) {
      throw new ArgumentError(`${fn}: 'tokens' must hold integer token ids, got ${v} at [${Math.floor(i / T)}, ${i % T}] of 'tokens' ${fmtShape(tokens.shape, ['B', 'T'])}`);
    }
    if (v < 0 || v >= V) {
      throw new ArgumentError(`${fn}: token id ${v} at [${Math.floor(i / T)}, ${i % T}] of 'tokens' ${fmtShape(tokens.shape, ['B', 'T'])} is out of range [0, ${V}) for ${tableNote}`);
    }
    ids[i] = v;
  }
  return ids;
}

function checkTokens(fn: string, tokens: Tensor): { B: number; T: number } {
  checkRank(fn, 'tokens', tokens, 2, ['B', 'T']);
  return { B: tokens.shape[0], T: tokens.shape[1] };
}

/**
 * Token plus position embedding: out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :].
 *
 * @param tokens (B, T) token ids: an int32 tensor, or a float tensor of integers, each in [0, V)
 * @param wte (V, C) token embedding table
 * @param wpe (maxT, C) position embedding table, T ≤ maxT
 * @returns out (B, T, C)
 * @example
 * const x = await embedding(dev, tensor(new Int32Array([3, 1, 3]), [1, 3]), wte, wpe); // (1, 3, C)
 */
export async function embedding(device: Device, tokens: Tensor, wte: Tensor, wpe: Tensor): Promise<Tensor> {
  const fn = 'embedding';
  const { B, T } = checkTokens(fn, tokens);
  checkRank(fn, 'wte', wte, 2, ['V', 'C']);
  checkFloat(fn, 'wte', wte);
  checkRank(fn, 'wpe', wpe, 2, ['maxT', 'C']);
  checkFloat(fn, 'wpe', wpe);
  const [V, C] = wte.shape;
  const maxT = wpe.shape[0];
  if (wpe.shape[1] !== C) {
    throw new ArgumentError(`${fn}: 'wte' ${fmtShape(wte.shape, ['V', 'C'])} and 'wpe' ${fmtShape(wpe.shape, ['maxT', 'C'])} must have the same C`);
  }
  if (T > maxT) {
    throw new ArgumentError(`${fn}: 'tokens' ${fmtShape(tokens.shape, ['B', 'T'])} has T = ${T} positions but 'wpe' ${fmtShape(wpe.shape, ['maxT', 'C'])} has only maxT = ${maxT}`);
  }
  for (const [name, shape] of [['tokens', tokens.shape], ['wte', wte.shape], ['wpe', wpe.shape], ['output', [B, T, C]]] as const) {
    checkGpuIndexable(fn, device, name, shape);
  }
  const ids = await tokenIds(fn, tokens, V, `'wte' ${fmtShape(wte.shape, ['V', 'C'])}`);
  if (B * T * C === 0) return emptyLike(device.info.precision, [B, T, C]);
  return (await runKernel(device, 'embedding', 'forward', { tokens, wte, wpe }, { B, T, C, V, maxT, ids })).out;
}

/**
 * Gradients of the embedding: dwte accumulates dout over every position
 * holding a token (a token seen twice gets the sum), dwpe sums dout over the
 * batch; rows of unused tokens and positions t ≥ T are 0.
 *
 * @param dout (B, T, C) gradient with respect to the embedding output
 * @param tokens (B, T) the forward token ids
 * @param V vocabulary size (rows of wte)
 * @param maxT rows of wpe
 * @returns dwte (V, C), dwpe (maxT, C)
 * @example
 * const { dwte, dwpe } = await embeddingBackward(dev, dx, tokens, 65, 256);
 */
export async function embeddingBackward(device: Device, dout: Tensor, tokens: Tensor, V: number, maxT: number): Promise<{ dwte: Tensor; dwpe: Tensor }> {
  const fn = 'embeddingBackward';
  const { B, T } = checkTokens(fn, tokens);
  checkDimension(fn, 'V', V);
  checkDimension(fn, 'maxT', maxT);
  checkTensor(fn, 'dout', dout);
  checkFloat(fn, 'dout', dout);
  if (dout.shape.length !== 3 || dout.shape[0] !== B || dout.shape[1] !== T) {
    throw new ArgumentError(`${fn}: 'dout' must have shape [B, T, C] with [B, T] = [${B}, ${T}] from 'tokens', got ${fmtShape(dout.shape)}`);
  }
  const C = dout.shape[2];
  if (T > maxT) {
    throw new ArgumentError(`${fn}: 'tokens' ${fmtShape(tokens.shape, ['B', 'T'])} has T = ${T} positions but maxT = ${maxT}`);
  }
  for (const [name, shape] of [['tokens', tokens.shape], ['dout', dout.shape], ['dwte', [V, C]], ['dwpe', [maxT, C]]] as const) {
    checkGpuIndexable(fn, device, name, shape);
  }
  const ids = await tokenIds(fn, tokens, V, `V = ${V}`);
  if (B * T * C === 0) {
    // nothing to accumulate (and V ≥ 1, C ≥ 1 otherwise: every token is in [0, V))
    const p = device.info.precision;
    return { dwte: emptyLike(p, [V, C]), dwpe: emptyLike(p, [maxT, C]) };
  }
  return (await runKernel(device, 'embedding', 'backward', { dout }, { B, T, C, V, maxT, ids })) as { dwte: Tensor; dwpe: Tensor };
}
