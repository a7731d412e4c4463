/**
 * crossEntropy: fused log-softmax + negative log-likelihood over the last
 * axis, forward and backward, with PyTorch's `F.cross_entropy` options.
 *
 * Shapes: logits (..., V) are N rows of V class scores (N = product of the
 * leading dimensions); targets (...) or (N) hold one class index per row;
 * loss is [] for 'mean' and 'sum', (...) for 'none'; lse (...) is the row's
 * log-sum-exp, cached for the backward pass; dlogits (..., V).
 *
 * What is computed, per row i with target t, m = max_j x_j, s = Σ_j exp(x_j − m),
 * lse = m + log s and smoothing ε ∈ [0, 1]:
 *   loss_i = lse − (1−ε)·x_t − (ε/V)·Σ_j x_j              (the mathematics)
 *          = log s + (1−ε)·(m − x_t) + ε·(1/V)·Σ_j (m − x_j)  (what is evaluated)
 * The second form is a sum of three non-negative terms: log s ∈ [0, log V],
 * and every gap m − x ≥ 0. Nothing cancels, nothing overflows before the
 * result does, and no log of a (possibly underflowed) probability is taken.
 * An ignored row (t = ignoreIndex) contributes exactly 0. Reductions, as in
 * PyTorch: 'none' gives loss_i; 'sum' gives Σ_i loss_i; 'mean' gives
 * Σ_i loss_i / (number of rows not ignored).
 *
 * Backward (dloss has the loss's shape), computed directly, never through a
 * stored log-probability:
 *   dlogits_ij = g_i·(p_ij − y_ij),  p_ij = exp(x_ij − lse_i),
 *   y_ij = (1−ε)·[j = t_i] + ε/V,
 *   g_i = dloss_i ('none'), dloss ('sum'), dloss/count ('mean'); 0 for an ignored row.
 *
 * Edge-case contract (the FP64 reference defines it; every backend matches):
 *   - ignored rows: loss 0 and gradient exactly 0, whatever their logits
 *     (NaN and ±Inf included; PyTorch's gradient there would be NaN·0 = NaN);
 *     lse is still the row's log-sum-exp;
 *   - a NaN logit in a row: that row's loss is NaN (so 'mean'/'sum' are NaN);
 *   - a +Inf logit (no NaN): loss NaN, as −logSoftmax (the normaliser is infinite);
 *   - all logits −Inf (a fully masked row) and not ignored: loss NaN (0/0, as PyTorch);
 *   - −Inf logits at non-target positions (a masked vocabulary): they take no
 *     part and the loss is finite when ε = 0; with ε > 0 the smoothed target
 *     puts mass ε/V on a class of probability 0, so the loss is +Inf (PyTorch too);
 *   - −Inf at the target (ε < 1): loss +Inf; the gradient stays finite (p_t = 0);
 *   - ε = 1: the target term has weight 0 and is left out, so a −Inf target
 *     logit gives +Inf (the smoothing term is infinite) where PyTorch's
 *     0·∞ gives NaN: the only deliberate difference, in a case without a label;
 *   - huge gaps (±1e30, float32 max): exact, every exponent is ≤ 0; a row loss
 *     beyond float32 max is +Inf in float32 ('none', 'sum'), while a 'mean' that
 *     fits stays finite (rows are scaled by 1/count before they are summed);
 *   - V = 1: loss 0 (with or without smoothing), lse = x;
 *   - all rows ignored: 'mean' is NaN (0/0, as PyTorch), 'sum' 0;
 *   - N = 0: 'mean' NaN (as PyTorch), 'sum' 0, 'none' and lse empty;
 *     V = 0 (every target must then be ignored): loss 0 per row, lse −Inf;
 *   - backward follows IEEE arithmetic on its formula (NaN in, NaN out),
 *     except that ignored rows are exactly 0.
 *   - the gradient uses the float32 lse it is given: its absolute error
 *     (≤ u·|lse|) becomes a relative error of p. That is below 2^-16 for
 *     |lse| ≤ 256 and exact for a unique maximum of any size (log s = 0), but a
 *     tie at 1e30 (lse = 1e30 + log 2 rounds to 1e30) gives p = 1 for both.
 *
 * Bad input (ArgumentError naming the function, the argument and the shapes):
 * a target that is not an integer (NaN included) or is outside [0, V) and is
 * not ignoreIndex, targets whose shape is neither (...) nor (N), V > 2^24
 * (class indices must be exact in float32), unknown options, labelSmoothing
 * outside [0, 1], a non-integer ignoreIndex, dloss or lse of the wrong shape.
 *
 * Error bounds: see `crossEntropyBound` and `crossEntropyBackwardBound`; each
 * is derived beside its code. lse has softmax.ts's `logSumExpBound` (it is
 * computed the same way).
 */
import type { Device } from '../device.js';
import { registerKernel, runKernel } from '../dispatch.js';
import { ArgumentError, checkFiniteNumber, checkOneOf, checkOptions, fmtShape } from '../errors.js';
import { Tensor } from '../tensor.js';
import { type Bound, type ErrorModel, ROW_CHUNK, gamma, sumDepth, SECOND_ORDER } from './bounds.js';
import { idiv } from './gpujs/index-math.js';
import { rowMax, rowSum, rowSumExp } from './gpujs/rows.js';
import { checkFloat, checkShape, checkTensor, emptyLike, f64, lastAxis, out64 } from './shapes.js';
import { logError, rowStats64, sumExpError } from './softmax.js';

export type CrossEntropyReduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  /** Rows whose target equals this are ignored (default −100, as PyTorch). Any integer. */
  ignoreIndex?: number;
  /** ε in [0, 1]: the target distribution is (1−ε)·one-hot + ε/V (default 0). */
  labelSmoothing?: number;
  /** 'mean' over the rows not ignored (default), 'sum', or 'none' (one loss per row). */
  reduction?: CrossEntropyReduction;
}

/** Options with their defaults filled in (what the reference functions take). */
export interface CrossEntropyConfig {
  ignoreIndex: number;
  labelSmoothing: number;
  reduction: CrossEntropyReduction;
}

export interface CrossEntropyResult {
  /** [] for 'mean' and 'sum', (...) i.e. (N) for 'none'. */
  loss: Tensor;
  /** (...) i.e. (N): log Σ_j exp(x_j) of every row, for the backward pass. */
  lse: Tensor;
}

const OPTION_KEYS = ['ignoreIndex', 'labelSmoothing', 'reduction'] as const;
const REDUCTIONS: readonly CrossEntropyReduction[] = ['mean', 'sum', 'none'];

/**
 * How implementations receive targets: (N) float values, the class index or
 * IGNORED for a row to ignore. Coding ignored rows once on the host keeps an
 * arbitrary ignoreIndex (even one that float32 cannot hold) out of the kernels.
 */
export const IGNORED = -1;
/** Class indices are passed as float32; they are exact up to 2^24. */
const MAX_CLASSES = 2 ** 24;

// ---------------------------------------------------------------------------
// FP64 reference
// ---------------------------------------------------------------------------

/**
 * The pieces of one row's loss: log s, A = m − x_t and B = (1/V)·Σ_j (m − x_j)
 * (B only when ε > 0). `loss` is NaN for a NaN, +Inf or all −Inf row.
 */
function rowLoss64(x: ArrayLike<number>, r: number, V: number, t: number, eps: number): { loss: number; m: number; s: number; A: number; B: number } {
  const { m, s } = rowStats64(x, r, V);
  if (!Number.isFinite(m)) return { loss: NaN, m, s, A: NaN, B: NaN };
  const A = m - x[r * V + t];
  let B = 0;
  if (eps > 0) {
    for (let j = 0; j < V; j++) B += m - x[r * V + j];
    B /= V;
  }
  // terms with weight 0 are left out (so ε = 1 with x_t = −Inf is +Inf, not 0·∞)
  const loss = Math.log(s) + (eps < 1 ? (1 - eps) * A : 0) + (eps > 0 ? eps * B : 0);
  return { loss, m, s, A, B };
}

/** Number of rows whose target is not ignoreIndex (the 'mean' denominator). */
export function countTargets(targets: ArrayLike<number>, N: number, ignoreIndex: number): number {
  let count = 0;
  for (let r = 0; r < N; r++) if (targets[r] !== ignoreIndex) count++;
  return count;
}

/** Per-row losses (N) of x (N, V) with targets (N); ignored rows are 0. */
export function crossEntropyRowsRef(x: ArrayLike<number>, targets: ArrayLike<number>, N: number, V: number, o: CrossEntropyConfig): Float64Array {
  const out = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    const t = targets[r];
    out[r] = t === o.ignoreIndex ? 0 : rowLoss64(x, r, V, t, o.labelSmoothing).loss;
  }
  return out;
}

/**
 * Loss and lse of x (N, V) with targets (N) in float64. loss has one element
 * for 'mean' and 'sum', N for 'none'.
 */
export function crossEntropyRef(x: ArrayLike<number>, targets: ArrayLike<number>, N: number, V: number, o: CrossEntropyConfig): { loss: Float64Array; lse: Float64Array } {
  const rows = crossEntropyRowsRef(x, targets, N, V, o);
  const lse = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    const { m, s } = rowStats64(x, r, V);
    lse[r] = Number.isFinite(m) ? m + Math.log(s) : m;
  }
  if (o.reduction === 'none') return { loss: rows, lse };
  let sum = 0;
  for (let r = 0; r < N; r++) sum += rows[r];
  // 'mean' with every row ignored (or N = 0) is 0/0 = NaN, as PyTorch
  const loss = o.reduction === 'sum' ? sum : sum / countTargets(targets, N, o.ignoreIndex);
  return { loss: Float64Array.of(loss), lse };
}

/** The upstream gradient of row r: dloss_r, dloss, or dloss/count. */
function rowGrad(dloss: ArrayLike<number>, r: number, o: CrossEntropyConfig, count: number): number {
  if (o.reduction === 'none') return dloss[r];
  return o.reduction === 'sum' ? dloss[0] : dloss[0] / count;
}

/** dlogits (N, V) from dloss ([1] or (N)), x (N, V), targets (N) and lse (N). */
export function crossEntropyBackwardRef(
  dloss: ArrayLike<number>,
  x: ArrayLike<number>,
  targets: ArrayLike<number>,
  lse: ArrayLike<number>,
  N: number,
  V: number,
  o: CrossEntropyConfig,
): Float64Array {
  const dx = new Float64Array(N * V);
  const count = countTargets(targets, N, o.ignoreIndex);
  const eps = o.labelSmoothing;
  for (let r = 0; r < N; r++) {
    const t = targets[r];
    if (t === o.ignoreIndex) continue; // exactly 0
    const g = rowGrad(dloss, r, o, count);
    for (let j = 0; j < V; j++) {
      const p = Math.exp(x[r * V + j] - lse[r]);
      const y = (j === t ? 1 - eps : 0) + eps / V;
      dx[r * V + j] = g * (p - y);
    }
  }
  return dx;
}

// ---------------------------------------------------------------------------
// Error bounds (per element, in float64, for a backend's error model)
// ---------------------------------------------------------------------------


/**
 * Absolute error of one row's loss as the gpu.js kernels evaluate it, before
 * the reduction. The kernel computes, in this order,
 *   h = ½·log ŝ;  h += fl(1−ε)·fl(m·½ − x_t·½);  h += fl(ε)·b̂;  c = h·scale
 * with b̂ = Σ_j fl(fl(m·½ − x_j·½)·fl(1/V)) summed in chunks (the halves keep
 * every gap, and so every partial result, below float32 max; ×½ and ×2 are exact
 * except on subnormals). Term by term:
 *   ½·log ŝ:  |Δ| ≤ δ_s + log_err(s) (ŝ = s(1 + δ), |log(1 + δ)| ≈ |δ|; ×½, ×2 exact);
 *   (1−ε)·A:  the gap's subtraction, the rounding of 1−ε, the product: 3u relative;
 *   ε·B:      per term subtraction, 1/V's rounding, product (3u), the chunked sum
 *             γ(sumDepth(V)) with two stored levels (2·uStore), then ε's rounding and
 *             the product (2u): 5u + γ + 2·uStore relative;
 *   two additions of non-negative terms: 2u·loss; the stored result: uStore·loss;
 *   operands below FLT_MIN may be flushed or halved inexactly: 4·tiny absolute.
 * The terms are all ≥ 0, so these relative errors never meet a cancellation.
 */
function rowLossError(M: ErrorModel, x: ArrayLike<number>, r: number, V: number, t: number, eps: number): { loss: number; err: number } {
  const { loss, m, s, A, B } = rowLoss64(x, r, V, t, eps);
  if (!Number.isFinite(loss)) return { loss, err: 0 };
  const termA = eps < 1 ? 3 * M.u * (1 - eps) * A : 0;
  const termB = eps > 0 ? (5 * M.u + gamma(sumDepth(V), M.u) + 2 * M.uStore) * eps * B : 0;
  const err = SECOND_ORDER * (sumExpError(M, x, r, V, m) + logError(M, s) + termA + termB + (2 * M.u + M.uStore) * loss) + 4 * M.tiny;
  return { loss, err };
}

/**
 * Bound on the loss (the reduced output `ref` of crossEntropyRef):
 *   'none': the row error above;
 *   'sum':  Σ_i err_i + (γ(sumDepth(N)) + 2·uStore)·Σ_i loss_i (a chunked sum of N
 *           non-negative rows with stored partials) + uStore·|sum|;
 *   'mean': each row is scaled by fl(2/count) before the sum (2u more per row),
 *           then as 'sum', all divided by count.
 */
export function crossEntropyBound(
  M: ErrorModel,
  x: ArrayLike<number>,
  targets: ArrayLike<number>,
  N: number,
  V: number,
  o: CrossEntropyConfig,
  ref: Float64Array,
): Bound {
  const rowErr = new Float64Array(N);
  let errSum = 0;
  let lossSum = 0;
  for (let r = 0; r < N; r++) {
    if (targets[r] === o.ignoreIndex) continue; // exactly 0
    const { loss, err } = rowLossError(M, x, r, V, targets[r], o.labelSmoothing);
    rowErr[r] = err;
    errSum += err + (o.reduction === 'mean' ? 2 * M.u * Math.abs(loss) : 0);
    lossSum += Math.abs(loss);
  }
  const note = `crossEntropy: row |Δ| ≤ δ_s + log_err(s) + 3u(1−ε)(m − x_t) + (5u + γ_V + 2u_store)ε·mean(m − x) + (2u + u_store)·loss + 4·tiny`;
  if (o.reduction === 'none') return { allowed: rowErr, note: `${note}, ${M.name}` };
  const count = o.reduction === 'mean' ? countTargets(targets, N, o.ignoreIndex) : 1;
  const reduced = (errSum + (gamma(sumDepth(N), M.u) + 2 * M.uStore) * lossSum) / count + M.uStore * Math.abs(ref[0]);
  return { allowed: Float64Array.of(SECOND_ORDER * reduced), note: `${note}; ${o.reduction} of N rows adds γ(depth N)·Σ|loss_i|, ${M.name}` };
}

/**
 * Bound on dlogits against crossEntropyBackwardRef with the same lse. The
 * kernel computes g = dloss·fl(gscale) (gscale = 1/count for 'mean', else 1),
 * p = exp(fl(x − lse)), y = fl((1−ε)[j = t] + ε/V) and g·(p − y):
 *   p:      u·|x − lse| (the subtraction, amplified by exp) + exp_err, relative;
 *   y:      one rounding, u·y;
 *   p − y:  u·|p − y|;  g·(…): u·|dx|;  g: 2u·|dx| for 'mean' (gscale and the product);
 *   store:  uStore·|dx|;  p or dx below FLT_MIN may be flushed: tiny·(|g| + 1).
 * Ignored rows are exactly 0 (allowed 0).
 */
export function crossEntropyBackwardBound(
  M: ErrorModel,
  dloss: ArrayLike<number>,
  x: ArrayLike<number>,
  targets: ArrayLike<number>,
  lse: ArrayLike<number>,
  N: number,
  V: number,
  o: CrossEntropyConfig,
  ref: Float64Array,
): Bound {
  const allowed = new Float64Array(N * V);
  const count = countTargets(targets, N, o.ignoreIndex);
  const eps = o.labelSmoothing;
  const gErr = o.reduction === 'mean' ? 2 * M.u : 0;
  for (let r = 0; r < N; r++) {
    const t = targets[r];
    if (t === o.ignoreIndex) continue;
    const g = Math.abs(rowGrad(dloss, r, o, count));
    for (let j = 0; j < V; j++) {
      const i = r * V + j;
      if (!Number.isFinite(ref[i])) continue;
      const d = x[i] - lse[r];
      const p = Math.exp(d);
      const y = (j === t ? 1 - eps : 0) + eps / V;
      const theta = Number.isFinite(d) ? M.u * Math.abs(d) + M.expRel(d) : 0;
      allowed[i] = SECOND_ORDER * (g * (p * theta + M.u * y + M.u * Math.abs(p - y)) + (gErr + M.u + M.uStore) * Math.abs(ref[i])) + M.tiny * (g + 1);
    }
  }
  return { allowed, note: `crossEntropyBackward: |Δdx| ≤ |g|(p(u|x − lse| + exp_err) + u·y + u|p − y|) + (u + u_store [+ 2u mean])|dx| + tiny(|g| + 1), ${M.name}` };
}

// ---------------------------------------------------------------------------
// gpu.js kernels (float32; one thread per output element)
// ---------------------------------------------------------------------------

interface ElemThis {
  thread: { x: number };
  constants: { V: number };
}

interface ChunkThis {
  thread: { x: number };
  constants: { L: number; CH: number; NC: number };
}

interface BackwardThis {
  thread: { x: number };
  constants: { V: number; PER_ROW: number };
}

/** lse_r = m_r + log s_r; a non-finite m (NaN, ±Inf) is the answer itself (as softmax.ts). */
function ceLseKernel(this: ElemThis, m: number[], s: number[]): number {
  const mr = m[this.thread.x];
  if (mr != mr || mr > 3.4028234663852886e38 || mr < -3.4028234663852886e38) {
    return mr;
  }
  return mr + Math.log(s[this.thread.x]);
}

/**
 * Σ over a chunk of (m·h1 − x·h2)·invV, i.e. half the gaps divided by V. h1
 * and h2 are both ½, passed as separate arguments so that no shader compiler
 * can factor m·½ − x·½ into (m − x)·½, which overflows for float32-max gaps.
 */
function ceHalfGapKernel(this: ChunkThis, x: number[], m: number[], h1: number, h2: number, invV: number): number {
  const r = idiv(this.thread.x, this.constants.NC);
  const c = this.thread.x - r * this.constants.NC;
  const start = r * this.constants.L + c * this.constants.CH;
  const mh = m[r] * h1;
  let s = 0;
  for (let i = 0; i < this.constants.CH; i++) {
    if (c * this.constants.CH + i < this.constants.L) {
      s += (mh - x[start + i] * h2) * invV;
    }
  }
  return s;
}

/**
 * Half of one row's loss, times `scale` (2 for 'none'/'sum', 2/count for 'mean'):
 * ½·log s + (1−ε)·(m − x_t)/2 + ε·b with b the mean half-gap. An ignored row
 * (t < 0) is 0 whatever its logits; a NaN, +Inf or all −Inf row is NaN.
 */
function ceRowKernel(
  this: ElemThis,
  x: number[],
  t: number[],
  m: number[],
  s: number[],
  b: number[],
  nan: number,
  h1: number,
  h2: number,
  om: number,
  ep: number,
  scale: number,
): number {
  const r = this.thread.x;
  const tr = t[r];
  if (tr < 0) {
    return 0;
  }
  const mr = m[r];
  if (mr != mr || mr > 3.4028234663852886e38 || mr < -3.4028234663852886e38) {
    return nan;
  }
  let h = 0.5 * Math.log(s[r]);
  if (om > 0) {
    h += om * (mr * h1 - x[r * this.constants.V + tr] * h2);
  }
  if (ep > 0) {
    h += ep * b[r];
  }
  return h * scale;
}

/** g·(p − y) with p = exp(x − lse), y = yT at the target and yO elsewhere; 0 on ignored rows. */
function ceBackwardKernel(this: BackwardThis, dloss: number[], x: number[], t: number[], lse: number[], gscale: number, yT: number, yO: number): number {
  const r = idiv(this.thread.x, this.constants.V);
  const j = this.thread.x - r * this.constants.V;
  const tr = t[r];
  if (tr < 0) {
    return 0;
  }
  const g = dloss[r * this.constants.PER_ROW] * gscale;
  const p = Math.exp(x[this.thread.x] - lse[r]);
  let y = yO;
  if (j == tr) {
    y = yT;
  }
  return g * (p - y);
}

/** b (N): (1/V)·Σ_j (m − x_j)/2 of x (N, V), in chunks like rows.ts. V ≥ 1. */
async function halfGapMean(device: Device, x: Tensor, m: Tensor, N: number, V: number): Promise<Tensor> {
  const rt = device.gpujs!;
  const CH = Math.min(V, ROW_CHUNK);
  const NC = Math.ceil(V / CH);
  const partial = await rt.run({ name: 'crossEntropy.halfGap', fn: ceHalfGapKernel, outputs: N * NC, constants: { L: V, CH, NC } }, [x, m, 0.5, 0.5, 1 / V], [N, NC]);
  if (NC === 1) return partial;
  const b = await rowSum(rt, partial, N, NC); // partials are ≥ 0 and each ≤ float32 max·CH/V
  partial.dispose();
  return b;
}

// ---------------------------------------------------------------------------
// Registration: reference and gpu.js implementations under one name
// ---------------------------------------------------------------------------

/**
 * What implementations receive. Inputs: forward { logits (N, V), targets (N) },
 * backward { dloss, logits, targets, lse }, with targets coded as float class
 * indices and IGNORED (−1) for ignored rows; count is the number not ignored.
 */
export interface CrossEntropyAttrs {
  N: number;
  V: number;
  /** The leading shape of the logits: lse's shape, and the loss's for 'none'. */
  lead: readonly number[];
  /** The logits' shape (dlogits' shape). */
  shape: readonly number[];
  labelSmoothing: number;
  reduction: CrossEntropyReduction;
  count: number;
}

function lossShape(a: CrossEntropyAttrs): readonly number[] {
  return a.reduction === 'none' ? a.lead : [];
}

function codedConfig(a: CrossEntropyAttrs): CrossEntropyConfig {
  return { ignoreIndex: IGNORED, labelSmoothing: a.labelSmoothing, reduction: a.reduction };
}

registerKernel<CrossEntropyAttrs>({
  kernel: 'crossEntropy',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { logits, targets }, a) => {
    const { loss, lse } = crossEntropyRef(f64(logits), f64(targets), a.N, a.V, codedConfig(a));
    return { loss: out64(loss, lossShape(a)), lse: out64(lse, a.lead) };
  },
});
registerKernel<CrossEntropyAttrs>({
  kernel: 'crossEntropy',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { logits, targets }, a) => {
    const rt = d.gpujs!;
    const { N, V } = a;
    const m = await rowMax(rt, logits, N, V);
    const s = await rowSumExp(rt, logits, m, N, V);
    const lse = await rt.run({ name: 'crossEntropy.lse', fn: ceLseKernel, outputs: N, constants: { V } }, [m, s], a.lead);
    const eps = a.labelSmoothing;
    // b is read only when ε > 0; otherwise any (N) tensor will do
    const b = eps > 0 ? await halfGapMean(d, logits, m, N, V) : s;
    const scale = a.reduction === 'mean' ? 2 / a.count : 2;
    const rows = await rt.run(
      { name: 'crossEntropy.rows', fn: ceRowKernel, outputs: N, constants: { V } },
      [logits, targets, m, s, b, NaN, 0.5, 0.5, 1 - eps, eps, scale],
      a.reduction === 'none' ? a.lead : [N],
    );
    if (b !== s) b.dispose();
    m.dispose();
    s.dispose();
    if (a.reduction === 'none') return { loss: rows, lse };
    if (a.reduction === 'mean' && a.count === 0) {
      rows.dispose();
      const nan = emptyLike('float32', []);
      (nan.data as Float32Array)[0] = NaN; // 0/0, as PyTorch
      return { loss: nan, lse };
    }
    // every row is ≥ 0 (or NaN/Inf), so no partial sum exceeds the total
    const total = await rowSum(rt, rows, 1, N);
    rows.dispose();
    return { loss: total.reshape([]), lse };
  },
});

registerKernel<CrossEntropyAttrs>({
  kernel: 'crossEntropy',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dloss, logits, targets, lse }, a) => ({
    dlogits: out64(crossEntropyBackwardRef(f64(dloss), f64(logits), f64(targets), f64(lse), a.N, a.V, codedConfig(a)), a.shape),
  }),
});
registerKernel<CrossEntropyAttrs>({
  kernel: 'crossEntropy',
  phase: 'backward',
  backend: 'gpujs',
  impl: async (d, { dloss, logits, targets, lse }, a) => {
    const eps = a.labelSmoothing;
    const gscale = a.reduction === 'mean' && a.count > 0 ? 1 / a.count : 1;
    const dlogits = await d.gpujs!.run(
      { name: 'crossEntropy.backward', fn: ceBackwardKernel, outputs: a.N * a.V, constants: { V: a.V, PER_ROW: a.reduction === 'none' ? 1 : 0 } },
      [dloss, logits, targets, lse, gscale, 1 - eps + eps / a.V, eps / a.V],
      a.shape,
    );
    return { dlogits };
  },
});

// ---------------------------------------------------------------------------
// Public functions: validate, handle empty shapes, dispatch
// ---------------------------------------------------------------------------

interface Prepared {
  N: number;
  V: number;
  lead: number[];
  config: CrossEntropyConfig;
  /** Targets coded for the implementations (IGNORED for ignored rows). */
  coded: Float32Array;
  count: number;
}

function resolveOptions(fn: string, options: CrossEntropyOptions | undefined): CrossEntropyConfig {
  checkOptions(fn, options, OPTION_KEYS);
  const o = options ?? {};
  const ignoreIndex = o.ignoreIndex === undefined ? -100 : checkFiniteNumber(fn, 'ignoreIndex', o.ignoreIndex);
  if (!Number.isInteger(ignoreIndex)) throw new ArgumentError(`${fn}: 'ignoreIndex' must be an integer, got ${ignoreIndex}`);
  const labelSmoothing = o.labelSmoothing === undefined ? 0 : checkFiniteNumber(fn, 'labelSmoothing', o.labelSmoothing, { min: 0, max: 1 });
  const reduction = o.reduction === undefined ? 'mean' : checkOneOf(fn, 'reduction', o.reduction, REDUCTIONS);
  return { ignoreIndex, labelSmoothing, reduction };
}

async function prepare(fn: string, logits: Tensor, targets: Tensor, options: CrossEntropyOptions | undefined): Promise<Prepared> {
  const config = resolveOptions(fn, options);
  const { N, L: V } = lastAxis(fn, 'logits', logits, ['N', 'V']);
  const lead = logits.shape.slice(0, -1);
  const logitsShape = fmtShape(logits.shape, [...lead.map((_, i) => (lead.length === 1 ? 'N' : `d${i}`)), 'V']);
  if (V > MAX_CLASSES) {
    throw new ArgumentError(`${fn}: 'logits' ${logitsShape} has more than 2^24 classes; class indices would not be exact in float32`);
  }
  checkTensor(fn, 'targets', targets);
  const sameLead = targets.shape.length === lead.length && targets.shape.every((d, i) => d === lead[i]);
  const flat = targets.shape.length === 1 && targets.shape[0] === N;
  if (!sameLead && !flat) {
    throw new ArgumentError(
      `${fn}: 'targets' must have shape ${fmtShape(lead)} or [N] = [${N}] (one class index per row of 'logits' ${logitsShape}), got ${fmtShape(targets.shape)}`,
    );
  }
  const values = targets.isResident ? await targets.read() : targets.data;
  const coded = new Float32Array(N);
  let count = 0;
  for (let r = 0; r < N; r++) {
    const v = values[r];
    if (!Number.isInteger(v)) {
      throw new ArgumentError(`${fn}: 'targets' ${fmtShape(targets.shape)} holds ${v} at flat index ${r}, which is not an integer class index (logits ${logitsShape})`);
    }
    if (v === config.ignoreIndex) {
      coded[r] = IGNORED;
      continue;
    }
    if (v < 0 || v >= V) {
      throw new ArgumentError(
        `${fn}: 'targets' ${fmtShape(targets.shape)} holds ${v} at flat index ${r}, outside [0, V) = [0, ${V}) for logits ${logitsShape} (ignoreIndex ${config.ignoreIndex})`,
      );
    }
    coded[r] = v;
    count++;
  }
  return { N, V, lead, config, coded, count };
}

function attrsOf(p: Prepared, shape: readonly number[]): CrossEntropyAttrs {
  return { N: p.N, V: p.V, lead: p.lead, shape, labelSmoothing: p.config.labelSmoothing, reduction: p.config.reduction, count: p.count };
}

/**
 * Cross-entropy of logits against class-index targets, fused with the
 * log-softmax and evaluated without cancellation:
 * loss_i = log s + (1−ε)(m − x_t) + ε·mean_j(m − x_j), exactly PyTorch's
 * `F.cross_entropy(logits, targets, ignore_index, label_smoothing, reduction)`
 * for class-index targets (see the file header for the special cases).
 *
 * @param logits (..., V) float scores; (N, V) in the common case
 * @param targets (...) or (N): int32, or float holding integers, each in [0, V) or ignoreIndex
 * @returns loss ([] for 'mean'/'sum', (...) for 'none') and lse (...), cached for the backward pass
 * @example
 * const { loss } = await crossEntropy(dev, tensor([0, 0, 1e30, 0], [2, 2]), tensor([1, 1], [2], 'int32'));
 * // rows: log 2 and 1e30; mean 5e29, with no overflow anywhere
 */
export async function crossEntropy(device: Device, logits: Tensor, targets: Tensor, options?: CrossEntropyOptions): Promise<CrossEntropyResult> {
  const p = await prepare('crossEntropy', logits, targets, options);
  const { N, V, lead, config } = p;
  if (N === 0 || V === 0) {
    // no logits to read: every row is ignored (V = 0 admits no other target)
    const lse = emptyLike(device.info.precision, lead);
    (lse.data as Float32Array | Float64Array).fill(-Infinity);
    const loss = emptyLike(device.info.precision, config.reduction === 'none' ? lead : []);
    if (config.reduction === 'mean') (loss.data as Float32Array | Float64Array)[0] = NaN; // 0/0, as PyTorch
    return { loss, lse };
  }
  const targetsIn = Tensor.fromHost(p.coded, [N]);
  const out = await runKernel(device, 'crossEntropy', 'forward', { logits, targets: targetsIn }, attrsOf(p, logits.shape));
  return { loss: out.loss, lse: out.lse };
}

/**
 * Gradient of crossEntropy with respect to the logits, computed directly:
 * dlogits_ij = g_i·(exp(x_ij − lse_i) − y_ij) with y the smoothed one-hot
 * ((1−ε) at the target plus ε/V everywhere) and g_i the row's share of dloss
 * (dloss/count for 'mean'); ignored rows are exactly 0.
 *
 * @param dloss the gradient with respect to the loss: [] for 'mean'/'sum', (...) for 'none'
 * @param logits (..., V) the forward input
 * @param targets the forward targets
 * @param lse (...) the forward's lse
 * @param options the forward's options
 * @returns dlogits (..., V)
 * @example
 * const { loss, lse } = await crossEntropy(dev, logits, targets);
 * const dlogits = await crossEntropyBackward(dev, tensor([1], []), logits, targets, lse);
 */
export async function crossEntropyBackward(
  device: Device,
  dloss: Tensor,
  logits: Tensor,
  targets: Tensor,
  lse: Tensor,
  options?: CrossEntropyOptions,
): Promise<Tensor> {
  const fn = 'crossEntropyBackward';
  const p = await prepare(fn, logits, targets, options);
  const { N, V, lead, config } = p;
  const leadLetters = lead.map((_, i) => (lead.length === 1 ? 'N' : `d${i}`));
  checkShape(fn, 'lse', lse, lead, leadLetters);
  checkFloat(fn, 'lse', lse);
  if (config.reduction === 'none') checkShape(fn, 'dloss', dloss, lead, leadLetters);
  else if (checkTensor(fn, 'dloss', dloss).shape.length !== 0) {
    throw new ArgumentError(`${fn}: 'dloss' must be a scalar of shape [] for reduction '${config.reduction}', got ${fmtShape(dloss.shape)}`);
  }
  checkFloat(fn, 'dloss', dloss);
  if (N * V === 0) return emptyLike(device.info.precision, logits.shape);
  const targetsIn = Tensor.fromHost(p.coded, [N]);
  const dlossIn = dloss.shape.length === 0 ? dloss.reshape([1]) : dloss.reshape([N]);
  return (await runKernel(device, 'crossEntropy', 'backward', { dloss: dlossIn, logits, targets: targetsIn, lse: lse.reshape([N]) }, attrsOf(p, logits.shape))).dlogits;
}
