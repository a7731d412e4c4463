/**
 * Scaled dot-product attention, forward and backward, with PyTorch's
 * `F.scaled_dot_product_attention` meaning (no dropout).
 *
 * Shapes (letters as in tensor.ts):
 *   q (B, NH, T, hs)  queries        k, v (B, NH, S, hs)  keys and values
 *   out (B, NH, T, hs)                lse (B, NH, T)  row log-sum-exp, cached for backward
 *   mask broadcastable to (B, NH, T, S), right-aligned (e.g. (T, S), (1, 1, T, S),
 *   (B, 1, T, S), (B, NH, T, S), (B, 1, 1, S), or a scalar)
 * T and S may differ: a KV cache runs T = 1 query over S cached keys.
 *
 * What is computed, for each row (b, h, t) over the keys j it includes:
 *   s_j   = Σ_c (scale·q_tc)·k_jc + a_tj      (a: additive mask, 0 without one)
 *   m     = max_j s_j,   l = Σ_j exp(s_j − m),   lse = m + log l
 *   P_j   = exp(s_j − m) / l,                  out_t = Σ_j P_j·v_j
 * with scale = 1/√hs unless given. Subtracting the row max makes every
 * exponent ≤ 0, so nothing overflows however large the scores are.
 *
 * Which keys a query includes (all conditions must hold):
 *   - causal: key j ≤ t (PyTorch's is_causal, `tril(ones(T, S))`, aligned to the
 *     top-left corner). With T ≠ S that means query t sees keys 0..t whatever S
 *     is: for T < S the last S − T keys are seen by nobody (so a KV-cache step,
 *     T = 1 query at the end of S cached keys, passes causal: false — its one
 *     query may see every cached key); for T > S the queries t ≥ S see all keys.
 *     A chunk of T > 1 new queries at the end of S keys needs the bottom-right
 *     alignment: pass it as a mask. Unlike PyTorch, causal and mask combine.
 *   - boolean mask (an int32 tensor of 0/1): 1 takes part, 0 is excluded
 *     (PyTorch's bool mask with True = takes part);
 *   - additive mask (a float tensor): a_tj is added to the score; an entry of
 *     −Inf excludes the key exactly as a boolean 0 does.
 * An excluded key takes no part at all: its score is never formed, so a NaN or
 * Inf in an excluded key or value cannot reach the output (the causal
 * metamorphic test relies on this). A score that comes out −Inf (e.g. q·k with
 * an infinite component) is treated the same way: exp(−Inf − m) = 0 exactly,
 * and the key is skipped rather than multiplied by 0.
 *
 * Edge-case contract (the FP64 reference defines it; every backend matches):
 *   - a fully masked row (no key included, or every included score −Inf):
 *     out = 0 exactly, lse = −Inf, and its gradients are exactly 0 (PyTorch
 *     gives NaN here). This also covers S = 0.
 *   - NaN: a NaN in q_t makes row t's included scores NaN: out_t all NaN and
 *     lse_t NaN. A NaN in k_j does the same to every row that includes key j.
 *     A NaN in v_jd makes out_td NaN (column d only) in every row that includes
 *     key j. A NaN additive-mask entry makes its row NaN.
 *   - ±Inf in q or k: the score is ±Inf (NaN for Inf·0, or +Inf + −Inf within
 *     the dot product). A +Inf score gives lse = +Inf and a NaN output row (the
 *     normaliser is infinite, as in softmax.ts and PyTorch); a −Inf score
 *     excludes its key (above). An additive mask of +Inf acts like a +Inf score.
 *   - ±Inf in v_jd: P_j > 0 exactly for every included key, so out_td = ±Inf
 *     (NaN when both signs meet) in every row that includes key j, even where
 *     the float32 P_j underflows to 0 — the kernels add the infinity itself
 *     rather than 0·Inf.
 *   - huge values (±1e30, float32 max): score gaps up to the float32 range give
 *     exact zeros for the small weights and no overflow. A score is a float32
 *     value on the float32 backends: where |s| exceeds float32 max it is ±Inf
 *     (then the rules above apply); the reference applies the same rule to its
 *     float64 score when it stands in for a float32 backend (`float32Scores`).
 *     The error bound holds where no partial sum of Σ_c (scale·q_c)·k_jc, and no
 *     |scale·q_c|, overflows float32 (sufficient: |scale|·max_c|q_tc|·
 *     max(1, Σ_c|k_jc|) ≤ F32_MAX/4); past that a float32 partial sum can reach
 *     ±Inf or NaN where the exact score is finite, which no float32 kernel can
 *     avoid short of rescaling. Values |v| > F32_MAX/4 may make a weighted sum
 *     overflow where the exact average is within rounding of float32 max.
 *   - ties and exact zeros follow the formulas. Subnormal inputs and results are
 *     flushed to zero on headlessgl (device.info.flushesSubnormals): the bound's
 *     `tiny` terms cover what that does to finite values, and an infinite q_c
 *     or k_c times a subnormal factor (q_c, k_c or scale·q_c below FLT_MIN) is
 *     NaN there where the other backends give ±Inf (the reference follows the
 *     device with `flushSubnormals`).
 *   - sizes: T = 1, S = 1 and hs = 1 are ordinary. B·NH = 0 or T = 0: empty
 *     outputs. S = 0: out = 0, lse = −Inf. hs = 0: out is empty and lse =
 *     log Σ_j exp(a_j) over the included keys (an empty dot product is 0).
 *
 * Backward (dout is the gradient of the loss with respect to out; the gradient
 * with respect to lse is not an input), the standard way:
 *   P_tj = exp(s_tj − lse_t),   D_t = Σ_d dout_td·out_td,
 *   dP_tj = Σ_d dout_td·v_jd,   dS_tj = P_tj·(dP_tj − D_t),
 *   dv_j = Σ_t P_tj·dout_t,     dq_t = scale·Σ_j dS_tj·k_j,   dk_j = scale·Σ_t dS_tj·q_t,
 * over included (t, j) only: excluded pairs are skipped, not multiplied by 0,
 * so fully masked rows give dq = 0 and add nothing to dk, dv. Everything else
 * follows IEEE arithmetic on these formulas, so a NaN reaches exactly where the
 * sums carry it: a NaN in dout_td or out_td makes D_t NaN, hence dq_t (every d)
 * and dk_j (every d) for each key j row t includes; a NaN dout_td also makes
 * dv_jd NaN (column d) for those keys; a NaN in q, k or v makes the scores or
 * dP it enters NaN and spreads along the same sums. The backward reads the
 * cached lse; its bound holds where no product or sum overflows float32, and an
 * infinite dout is outside it (a float32 P that underflows to 0 times Inf is
 * NaN where float64 has ±Inf).
 *
 * Implementation on the gpu.js backends (one thread per output element; the
 * T×S score matrix is materialised): scores → row max → row Σexp → lse and
 * P → P·V, all resident on webgpu. Forward memory: the scores and P, each
 * B·NH·T·S float32 values (B = 4, NH = 12, T = S = 256: 3.1 M values, 12.6 MB
 * each, 25 MB at the peak); backward adds dS (38 MB at the peak, scores freed
 * after P). Work per launch: B·NH·T·S threads for the scores, P and dS,
 * B·NH·T·hs threads for out and dq, B·NH·S·hs for dk and dv, B·NH·T for the
 * row reductions (chunked as in rows.ts when S is long).
 *
 * Error bounds (per element, from the backend's ErrorModel; derived in full
 * beside `attentionBound` and `attentionBackwardBound`, values and gradients apart):
 *   scores  |Δs_j| ≤ E_j = (γ(hs+1) + 2u_store)·|scale|·Σ_c|q_c k_jc| + (u + u_store)|s_j| + flush terms;
 *   weights ΔP_j from exp(g_j ± δ_j) with δ_j = E_j + max E + u|g_j| (g_j = s_j − m), the row sum's
 *           γ(sumDepth(S)), exp, division and store errors;
 *   out     Σ_j ΔP_j|v_jd| + γ(n)·Σ_j P_j|v_jd| + u_store|out|, and never more than the cap
 *           (max_j v_jd − min_j v_jd) + ε·max_j|v_jd| (+ rounding): out̂ is within (1 ± ε) of an
 *           average of the included values whatever the score errors. Where u·|s| ≳ 1
 *           (scores ~1e30) float32 cannot resolve the gaps and the cap is the bound;
 *   lse     max_j E_j + the row sum's relative error + log error + (u + u_store)|lse|;
 *   dq, dk  |scale|·(Σ ΔdS·|k or q| + γ(n)·Σ|dS|·|k or q|) + (u + 2u_store)|dq|, with ΔdS from
 *           ΔP, the γ(hs) dot products dP and D, and the dS rounding;
 *   dv      Σ_t ΔP_tj|dout_td| + γ(n)·Σ_t P_tj|dout_td| + u_store|dv|.
 */
import type { Device } from '../device.js';
import { registerKernel, runKernel } from '../dispatch.js';
import { ArgumentError, checkBoolean, checkFiniteNumber, checkOptions, fmtShape } from '../errors.js';
import { Tensor } from '../tensor.js';
import { type Bound, type ErrorModel, F32_MIN_NORMAL, gamma, sumDepth, SECOND_ORDER } from './bounds.js';
import { idiv } from './gpujs/index-math.js';
import { rowDot, rowMax, rowSumExp } from './gpujs/rows.js';
import { checkFloat, checkRank, checkShape, checkTensor, emptyLike, f64, out64 } from './shapes.js';

// ---------------------------------------------------------------------------
// Shapes, masks and options shared by the reference, the bounds and the kernels
// ---------------------------------------------------------------------------

export interface AttentionDims {
  B: number;
  NH: number;
  T: number;
  S: number;
  hs: number;
}

/** A mask in float64, with the strides that broadcast it over (B, NH, T, S). */
export interface AttentionMask64 {
  data: Float64Array;
  kind: 'boolean' | 'additive';
  /** Element strides of the b, h, t and j indices (0 on broadcast dimensions). */
  strides: readonly number[];
}

export interface AttentionRefOptions {
  causal: boolean;
  scale: number;
  mask?: AttentionMask64;
  /**
   * Round each score's range to float32: a score beyond float32 max becomes
   * ±Inf, as it does on the float32 backends. Off for the float64 device.
   */
  float32Scores?: boolean;
  /**
   * Multiply as a device that flushes subnormals does (headlessgl): an infinite
   * factor times a subnormal one (q_c, k_c or scale·q_c below FLT_MIN) is NaN,
   * not ±Inf. Finite products keep their exact values (the bound's `tiny` terms
   * cover what flushing does to them).
   */
  flushSubnormals?: boolean;
}

/** Options of `attention` and `attentionBackward`. */
export interface AttentionOptions {
  /** Query t attends keys j ≤ t (top-left aligned, as PyTorch). Default false. */
  causal?: boolean;
  /** int32 0/1 (1 = takes part) or float additive (−Inf excludes), broadcastable to (B, NH, T, S). */
  mask?: Tensor;
  /** Multiplies q·k. Default 1/√hs. */
  scale?: number;
}

/**
 * Strides that broadcast a mask of `shape` (rank ≤ 4, right-aligned) over
 * (B, NH, T, S), or the dimension that does not broadcast.
 */
export function broadcastStrides(shape: readonly number[], dims: AttentionDims): { strides: number[] } | { bad: number } {
  const target = [dims.B, dims.NH, dims.T, dims.S];
  const strides = [0, 0, 0, 0];
  let stride = 1;
  for (let i = 0; i < shape.length; i++) {
    const m = shape[shape.length - 1 - i];
    const axis = 3 - i;
    if (m !== 1 && m !== target[axis]) return { bad: axis };
    strides[axis] = m === 1 ? 0 : stride;
    stride *= m;
  }
  return { strides };
}

const MASK_KIND = { none: 0, boolean: 1, additive: 2 } as const;

/** Kernel attributes: the sizes, the causal flag, the resolved scale and the mask kind (0 none, 1 boolean, 2 additive) and strides. */
export interface AttentionAttrs extends AttentionDims {
  causal: boolean;
  scale: number;
  maskKind: 0 | 1 | 2;
  maskStrides: readonly number[];
}

function refOptions(a: AttentionAttrs, mask: Tensor | undefined, float32Scores: boolean): AttentionRefOptions {
  return {
    causal: a.causal,
    scale: a.scale,
    float32Scores,
    mask: mask && a.maskKind !== 0 ? { data: f64(mask), kind: a.maskKind === 1 ? 'boolean' : 'additive', strides: a.maskStrides } : undefined,
  };
}

// ---------------------------------------------------------------------------
// FP64 reference
// ---------------------------------------------------------------------------

/**
 * Scores (B·NH·T·S) in float64: s = Σ_c (scale·q_c)·k_c + a, and −Inf for
 * every excluded (causal, boolean 0, additive −Inf) entry.
 */
export function attentionScoresRef(q: Float64Array, k: Float64Array, dims: AttentionDims, o: AttentionRefOptions): Float64Array {
  const { B, NH, T, S, hs } = dims;
  const s = new Float64Array(B * NH * T * S);
  const ms = o.mask?.strides;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++) {
      const bh = b * NH + h;
      for (let t = 0; t < T; t++)
        for (let j = 0; j < S; j++) {
          const i = (bh * T + t) * S + j;
          if (o.causal && j > t) {
            s[i] = -Infinity;
            continue;
          }
          let a = 0;
          if (o.mask) {
            const mv = o.mask.data[b * ms![0] + h * ms![1] + t * ms![2] + j * ms![3]];
            if (o.mask.kind === 'boolean' ? mv === 0 : mv === -Infinity) {
              s[i] = -Infinity;
              continue;
            }
            if (o.mask.kind === 'additive') a = mv;
          }
          let acc = 0;
          for (let c = 0; c < hs; c++) {
            const qc = q[(bh * T + t) * hs + c];
            const kc = k[(bh * S + j) * hs + c];
            let sq = o.scale * qc;
            let kk = kc;
            if (o.flushSubnormals && (!Number.isFinite(sq) || !Number.isFinite(kc))) {
              if (Math.abs(qc) < F32_MIN_NORMAL || Math.abs(sq) < F32_MIN_NORMAL) sq = 0;
              if (Math.abs(kc) < F32_MIN_NORMAL) kk = 0;
            }
            acc += sq * kk;
          }
          let v = acc + a;
          // float32 range: beyond float32 max the stored score is ±Inf
          if (o.float32Scores && !Number.isFinite(Math.fround(v))) v = Math.fround(v);
          s[i] = v;
        }
    }
  return s;
}

/** Row max over the included scores: NaN if one is NaN, −Inf if none is above −Inf. */
function rowMax64(s: Float64Array, off: number, S: number): number {
  let m = -Infinity;
  for (let j = 0; j < S; j++) {
    const v = s[off + j];
    if (v !== v) return NaN;
    if (v > m) m = v;
  }
  return m;
}

/** out (B, NH, T, hs) and lse (B, NH, T) in float64. */
export function attentionRef(q: Float64Array, k: Float64Array, v: Float64Array, dims: AttentionDims, o: AttentionRefOptions): { out: Float64Array; lse: Float64Array } {
  const { B, NH, T, S, hs } = dims;
  const s = attentionScoresRef(q, k, dims, o);
  const out = new Float64Array(B * NH * T * hs);
  const lse = new Float64Array(B * NH * T);
  const p = new Float64Array(S);
  for (let bh = 0; bh < B * NH; bh++)
    for (let t = 0; t < T; t++) {
      const row = bh * T + t;
      const m = rowMax64(s, row * S, S);
      if (m === -Infinity) {
        lse[row] = -Infinity; // fully masked: out stays 0
        continue;
      }
      if (m !== m || m === Infinity) {
        lse[row] = m;
        out.fill(NaN, row * hs, (row + 1) * hs);
        continue;
      }
      let l = 0;
      for (let j = 0; j < S; j++) l += Math.exp(s[row * S + j] - m);
      lse[row] = m + Math.log(l);
      for (let j = 0; j < S; j++) p[j] = Math.exp(s[row * S + j] - m) / l;
      for (let d = 0; d < hs; d++) {
        let acc = 0;
        for (let j = 0; j < S; j++) {
          if (s[row * S + j] === -Infinity) continue;
          const vv = v[(bh * S + j) * hs + d];
          // P_j > 0 exactly for an included key: P·(±Inf) is ±Inf even where P underflows
          acc += Number.isFinite(vv) || vv !== vv ? p[j] * vv : vv;
        }
        out[row * hs + d] = acc;
      }
    }
  return { out, lse };
}

/** dq, dk, dv in float64 from dout, the forward inputs and the cached out and lse. */
export function attentionBackwardRef(
  dout: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  out: Float64Array,
  lse: Float64Array,
  dims: AttentionDims,
  o: AttentionRefOptions,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { B, NH, T, S, hs } = dims;
  const s = attentionScoresRef(q, k, dims, o);
  const dq = new Float64Array(B * NH * T * hs);
  const dk = new Float64Array(B * NH * S * hs);
  const dv = new Float64Array(B * NH * S * hs);
  const dS = new Float64Array(B * NH * T * S);
  const P = new Float64Array(B * NH * T * S);
  for (let bh = 0; bh < B * NH; bh++)
    for (let t = 0; t < T; t++) {
      const row = bh * T + t;
      let D = 0;
      for (let d = 0; d < hs; d++) D += dout[row * hs + d] * out[row * hs + d];
      for (let j = 0; j < S; j++) {
        const i = row * S + j;
        if (s[i] === -Infinity) continue;
        P[i] = Math.exp(s[i] - lse[row]);
        let dP = 0;
        for (let d = 0; d < hs; d++) dP += dout[row * hs + d] * v[(bh * S + j) * hs + d];
        dS[i] = P[i] * (dP - D);
      }
    }
  for (let bh = 0; bh < B * NH; bh++) {
    for (let t = 0; t < T; t++)
      for (let d = 0; d < hs; d++) {
        let acc = 0;
        for (let j = 0; j < S; j++) {
          const i = (bh * T + t) * S + j;
          if (s[i] !== -Infinity) acc += dS[i] * k[(bh * S + j) * hs + d];
        }
        dq[(bh * T + t) * hs + d] = o.scale * acc;
      }
    for (let j = 0; j < S; j++)
      for (let d = 0; d < hs; d++) {
        let ak = 0;
        let av = 0;
        for (let t = 0; t < T; t++) {
          const i = (bh * T + t) * S + j;
          if (s[i] === -Infinity) continue;
          ak += dS[i] * q[(bh * T + t) * hs + d];
          av += P[i] * dout[(bh * T + t) * hs + d];
        }
        dk[(bh * S + j) * hs + d] = o.scale * ak;
        dv[(bh * S + j) * hs + d] = av;
      }
  }
  return { dq, dk, dv };
}

// ---------------------------------------------------------------------------
// Error bounds (per element, in float64, for a backend's error model)
// ---------------------------------------------------------------------------


/** a·b for non-negative bounds, with 0·Inf = 0 (a zero weight cannot carry an infinite error). */
function mulB(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : a * b;
}

/**
 * Bound on |exp(x̂)·(1 + e) − exp(x)| for |x̂ − x| ≤ δ and |e| ≤ rel: the larger
 * of the upward and downward deviations (Infinity where it overflows).
 */
function expDeviation(x: number, delta: number, rel: number): number {
  const ex = Math.exp(x);
  const up = Math.exp(x + delta) * (1 + rel) - ex;
  const down = ex - Math.exp(x - delta) * Math.max(0, 1 - rel);
  const r = Math.max(up, down);
  return r === r ? r : Infinity;
}

/** sup over x ≤ 0 of expRel(x)·e^x: the absolute error of one exp term of a row sum. */
function expTermSup(M: ErrorModel): number {
  let sup = 0;
  for (let x = 0; x >= -120; x -= 0.25) sup = Math.max(sup, M.expRel(x) * Math.exp(x));
  return sup;
}

/**
 * Absolute error of each score, |ŝ_j − s_j|, for the kernel that computes
 * acc = Σ_c fl(fl(scale_f·q_c)·k_c) left to right, then ŝ = fl(acc + a), stored:
 *   - scale_f = fl32(scale) (arguments are float32 on the GPU): uStore·|scale|·A_j;
 *   - each term has two roundings and the chain hs − 1 additions, so with
 *     A_j = Σ_c|q_c·k_jc| the sum is within γ(hs + 1)·|scale|·A_j (Higham §3.1);
 *   - the mask addition and the float32 store: (u + uStore)·|s_j|;
 *   - flushed subnormals (headlessgl): an input below `tiny` may read as 0 and a
 *     product or sum below it may become 0: tiny·((1 + |scale|)·Σ|k_c| + |scale|·Σ|q_c| + 2hs + 2).
 * Excluded and non-finite scores get 0 (they must match exactly).
 */
function scoreErrors(M: ErrorModel, q: Float64Array, k: Float64Array, dims: AttentionDims, o: AttentionRefOptions, s: Float64Array): Float64Array {
  const { B, NH, T, S, hs } = dims;
  const E = new Float64Array(s.length);
  const sc = Math.abs(o.scale);
  const g = gamma(hs + 1, M.u);
  for (let bh = 0; bh < B * NH; bh++)
    for (let t = 0; t < T; t++)
      for (let j = 0; j < S; j++) {
        const i = (bh * T + t) * S + j;
        if (!Number.isFinite(s[i])) continue;
        let A = 0;
        let Sq = 0;
        let Sk = 0;
        for (let c = 0; c < hs; c++) {
          const qc = Math.abs(q[(bh * T + t) * hs + c]);
          const kc = Math.abs(k[(bh * S + j) * hs + c]);
          A += qc * kc;
          Sq += qc;
          Sk += kc;
        }
        E[i] = SECOND_ORDER * ((g + 2 * M.uStore) * sc * A + (M.u + M.uStore) * Math.abs(s[i]) + M.tiny * ((1 + sc) * Sk + sc * Sq + 2 * hs + 2));
      }
  return E;
}

function logError(M: ErrorModel, l: number): number {
  // log(l·(1+δ)) = log l + δ to first order; the function's own error is
  // absolute near 1 (GPU spec) and relative elsewhere, as in softmax.ts
  return l >= 0.5 && l <= 2 ? M.logAbsNear1 : M.logRel * Math.abs(Math.log(l));
}

/**
 * Forward bound, per row (b, h, t) with included keys J (n = |J|), exact scores s_j,
 * m = max s_j, gaps g_j = s_j − m, l = Σ exp(g_j), P_j = exp(g_j)/l:
 *
 *   scores: |ŝ_j − s_j| ≤ E_j (scoreErrors); m̂ = max ŝ_j, so |m̂ − m| ≤ E = max_J E_j.
 *   gaps:   ĝ_j = fl(ŝ_j − m̂): |ĝ_j − g_j| ≤ δ_j = (E_j + E)(1 + u) + u|g_j|.
 *   sum:    l̂ = Σ exp(ĝ_j)(1 + expRel) in chunks (rows.ts):
 *           |l̂ − l| ≤ Σ_j dev(g_j, δ_j, expRel) + (γ(sumDepth(S)) + 2uStore)·l̂ + S·tiny,
 *           a relative error λ of l (l ≥ 1: the max term is exp(0)).
 *   weights: P̂_j = fl(exp(ĝ_j)/l̂) stored: within exp(g_j ± δ_j)·(1 ± expRel)(1 ± divRel)(1 ± uStore)/(l(1 ∓ λ)),
 *           plus 2·tiny for values that flush (ΔP_j).
 *   out_d:  Σ_J P̂_j·v_jd left to right: |Δ| ≤ Σ_J ΔP_j|v_jd| + γ(n)·Σ_J (P_j + ΔP_j)|v_jd|
 *           + uStore|out_d| + (n + 2)·tiny.
 *   cap:    P̂ ≥ 0 and Σ P̂ = 1 + η with |η| ≤ ε (the two exp evaluations of one
 *           argument differ by ≤ 2·sup(expRel·e^x) each; sum, division and store
 *           roundings), so out̂_d is within (1 + ε) of an average of the v_jd:
 *           |Δ| ≤ (max_J v − min_J v) + ε·V + γ(n)(1 + ε)V + uStore·V + (n + 2)·tiny, V = max_J|v_jd|.
 *           This holds whatever the score errors, so where u|s| is large (scores
 *           ~1e30 cannot resolve their gaps in float32) the bound is the cap.
 *   lse:    l̂se = fl(m̂ + fl(log l̂)) is within rounding of LSE(ŝ), and LSE is
 *           1-Lipschitz in the max norm: |Δ| ≤ E + λ' + log_err(l) + (u + uStore)|lse|,
 *           with λ' the sum's relative error from the rounded gaps alone
 *           (Σ_j exp(g_j + δ_j)·(e^{u|g_j|}(1 + expRel) − 1)/l + γ + 2uStore + S·tiny).
 * Rows whose reference is not finite (NaN, ±Inf, fully masked) get 0: they must match exactly.
 */
export function attentionBound(
  M: ErrorModel,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  dims: AttentionDims,
  o: AttentionRefOptions,
  ref: { out: Float64Array; lse: Float64Array },
): { out: Bound; lse: Bound } {
  const { B, NH, T, S, hs } = dims;
  const s = attentionScoresRef(q, k, dims, o);
  const E = scoreErrors(M, q, k, dims, o, s);
  const allowedOut = new Float64Array(B * NH * T * hs);
  const allowedLse = new Float64Array(B * NH * T);
  const gSum = gamma(sumDepth(S), M.u) + 2 * M.uStore;
  const sup = expTermSup(M);
  const dP = new Float64Array(S);
  const P = new Float64Array(S);
  for (let bh = 0; bh < B * NH; bh++)
    for (let t = 0; t < T; t++) {
      const row = bh * T + t;
      const off = row * S;
      const m = rowMax64(s, off, S);
      if (!Number.isFinite(m) || !Number.isFinite(ref.lse[row])) continue;
      let Emax = 0;
      let n = 0;
      let l = 0;
      for (let j = 0; j < S; j++) {
        if (s[off + j] === -Infinity) continue;
        Emax = Math.max(Emax, E[off + j]);
        n++;
        l += Math.exp(s[off + j] - m);
      }
      // relative error of l̂, from score errors (δ_j) and from rounding alone (for lse)
      let devAll = 0;
      let devRound = 0;
      for (let j = 0; j < S; j++) {
        if (s[off + j] === -Infinity) continue;
        const gj = s[off + j] - m;
        const dj = (E[off + j] + Emax) * (1 + M.u) + M.u * Math.abs(gj);
        devAll += expDeviation(gj, dj, M.expRel(gj));
        const ex = Math.exp(gj + dj);
        devRound += mulB(ex, Math.exp(M.u * Math.abs(gj)) * (1 + M.expRel(gj)) - 1);
      }
      const lam = devAll / l + gSum * (1 + devAll / l) + S * M.tiny;
      // LSE(ŝ) sums exp(ŝ_j − m̂) ≥ exp(g_j − 2E) and its max term is 1: divide by that floor
      const lLow = Math.max(1, l * Math.exp(-2 * Emax));
      const lamRound = devRound / lLow + gSum * (1 + devRound / lLow) + (S * M.tiny) / lLow;
      allowedLse[row] = SECOND_ORDER * (Emax + lamRound / Math.max(1e-300, 1 - lamRound) + logError(M, l) + (M.u + M.uStore) * Math.abs(ref.lse[row]));
      if (!(allowedLse[row] >= 0)) allowedLse[row] = Infinity;
      // per-key weight errors
      for (let j = 0; j < S; j++) {
        if (s[off + j] === -Infinity) continue;
        const gj = s[off + j] - m;
        const dj = (E[off + j] + Emax) * (1 + M.u) + M.u * Math.abs(gj);
        P[j] = Math.exp(gj) / l;
        if (lam >= 1) {
          dP[j] = Infinity;
          continue;
        }
        const K = (1 + M.expRel(gj)) * (1 + M.divRel) * (1 + M.uStore);
        const up = Math.exp(gj + dj) * K / (l * (1 - lam)) - P[j];
        const down = P[j] - (Math.exp(gj - dj) * Math.max(0, 2 - K)) / (l * (1 + lam));
        const d = Math.max(up, down);
        dP[j] = (d === d ? d : Infinity) + 2 * M.tiny;
      }
      const eps = ((1 + 2 * n * sup) * (1 + M.divRel) * (1 + M.uStore)) / Math.max(1e-300, 1 - gSum - S * M.tiny) - 1;
      const gn = gamma(n, M.u);
      for (let d = 0; d < hs; d++) {
        let fine = 0;
        let weighted = 0;
        let vmin = Infinity;
        let vmax = -Infinity;
        let V = 0;
        for (let j = 0; j < S; j++) {
          if (s[off + j] === -Infinity) continue;
          const vv = v[(bh * S + j) * hs + d];
          const av = Math.abs(vv);
          fine += mulB(dP[j], av);
          weighted += mulB(P[j] + dP[j], av);
          vmin = Math.min(vmin, vv);
          vmax = Math.max(vmax, vv);
          V = Math.max(V, av);
        }
        const r = Math.abs(ref.out[row * hs + d]);
        const tinyTerm = (n + 2) * M.tiny;
        const fineBound = SECOND_ORDER * (fine + mulB(gn, weighted) + M.uStore * r) + tinyTerm;
        const cap = SECOND_ORDER * (vmax - vmin + eps * V + gn * (1 + eps) * V + M.uStore * V) + tinyTerm;
        allowedOut[row * hs + d] = fineBound <= cap ? fineBound : cap;
      }
    }
  return {
    out: { allowed: allowedOut, note: `attention out: Σ ΔP_j|v_j| + γ(n)Σ P_j|v_j| + u_store|out|, ΔP from score errors γ(hs+1)|scale|Σ|q k| and the softmax roundings; capped by the spread of v; ${M.name}` },
    lse: { allowed: allowedLse, note: `attention lse: max score error + row-sum error + log_err + 2u|lse|, ${M.name}` },
  };
}

/**
 * Backward bound. Inputs are what the kernel reads (dout, q, k, v, out, lse as
 * given); exact quantities are the reference's. Per included pair (t, j):
 *   ŝ: E_j (scoreErrors).  P̂ = fl(exp(fl(ŝ − lse))) stored: |x̂ − x| ≤ E_j + u(|x| + E_j)
 *      for x = s − lse, so ΔP = dev(x, that, expRel(x) + uStore) + 2·tiny.
 *   dP̂ = Σ_c dout_c·v_jc (hs products, hs − 1 sums): γ(hs)·Σ|dout·v| + flush terms.
 *   D̂ = rowDot(dout, out) in chunks: (γ(sumDepth(hs) + 1) + 2uStore)·Σ|dout·out| + flush terms.
 *   t̂ = fl(dP̂ − D̂): Δt = ΔdP + ΔD + u(|t| + ΔdP + ΔD).
 *   dŜ = fl(P̂·t̂) stored: ΔdS = ΔP(|t| + Δt) + P·Δt + (u + uStore)(|dS| + that) + 2·tiny.
 * Then the three sums, each left to right over its n included terms:
 *   dv_jd = Σ_t P̂·dout: Σ ΔP|dout| + γ(n)Σ(P + ΔP)|dout| + uStore|dv| + tiny·(Σ(P + ΔP) + n + 2);
 *   dq_td = scale·Σ_j dŜ·k: |scale|(Σ ΔdS|k| + γ(n)Σ(|dS| + ΔdS)|k| + tiny·(Σ(|dS| + ΔdS) + n + 2))
 *     + (u + 2uStore)|dq| (the last product, the float32 scale argument and the store); dk likewise with q.
 *   The tiny terms are flushing: an input read as 0 (k, q or dout below FLT_MIN) loses at most
 *   its weight times tiny, and each product or partial sum below tiny at most tiny.
 */
export function attentionBackwardBound(
  M: ErrorModel,
  dout: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  out: Float64Array,
  lse: Float64Array,
  dims: AttentionDims,
  o: AttentionRefOptions,
  ref: { dq: Float64Array; dk: Float64Array; dv: Float64Array },
): { dq: Bound; dk: Bound; dv: Bound } {
  const { B, NH, T, S, hs } = dims;
  const s = attentionScoresRef(q, k, dims, o);
  const E = scoreErrors(M, q, k, dims, o, s);
  const n = B * NH * T * S;
  const P = new Float64Array(n);
  const dPe = new Float64Array(n);
  const dS = new Float64Array(n);
  const dSe = new Float64Array(n);
  const gHs = gamma(hs, M.u);
  const gD = gamma(sumDepth(hs) + 1, M.u) + 2 * M.uStore;
  for (let bh = 0; bh < B * NH; bh++)
    for (let t = 0; t < T; t++) {
      const row = bh * T + t;
      let D = 0;
      let Dabs = 0;
      let sDout = 0;
      let sOut = 0;
      for (let d = 0; d < hs; d++) {
        D += dout[row * hs + d] * out[row * hs + d];
        Dabs += Math.abs(dout[row * hs + d] * out[row * hs + d]);
        sDout += Math.abs(dout[row * hs + d]);
        sOut += Math.abs(out[row * hs + d]);
      }
      const eD = gD * Dabs + M.tiny * (sDout + sOut + hs + 2);
      for (let j = 0; j < S; j++) {
        const i = row * S + j;
        if (s[i] === -Infinity) continue;
        const x = s[i] - lse[row];
        P[i] = Math.exp(x);
        const dx = E[i] + M.u * (Math.abs(x) + E[i]);
        dPe[i] = (Number.isFinite(x) ? expDeviation(x, dx, M.expRel(x) + M.uStore) : 0) + 2 * M.tiny;
        let dP = 0;
        let Babs = 0;
        let sV = 0;
        for (let d = 0; d < hs; d++) {
          const vv = v[(bh * S + j) * hs + d];
          dP += dout[row * hs + d] * vv;
          Babs += Math.abs(dout[row * hs + d] * vv);
          sV += Math.abs(vv);
        }
        const edP = gHs * Babs + M.tiny * (sDout + sV + hs + 2);
        const tv = dP - D;
        const et = edP + eD + M.u * (Math.abs(tv) + edP + eD);
        dS[i] = P[i] * tv;
        const pre = mulB(dPe[i], Math.abs(tv) + et) + mulB(P[i], et);
        dSe[i] = SECOND_ORDER * (pre + (M.u + M.uStore) * (Math.abs(dS[i]) + pre)) + 2 * M.tiny;
      }
    }
  const adq = new Float64Array(B * NH * T * hs);
  const adk = new Float64Array(B * NH * S * hs);
  const adv = new Float64Array(B * NH * S * hs);
  const sc = Math.abs(o.scale);
  for (let bh = 0; bh < B * NH; bh++) {
    for (let t = 0; t < T; t++) {
      let cnt = 0;
      for (let j = 0; j < S; j++) if (s[(bh * T + t) * S + j] !== -Infinity) cnt++;
      const g = gamma(cnt, M.u);
      for (let d = 0; d < hs; d++) {
        let a = 0;
        let w = 0;
        let dsAbs = 0;
        for (let j = 0; j < S; j++) {
          const i = (bh * T + t) * S + j;
          if (s[i] === -Infinity) continue;
          const kv = Math.abs(k[(bh * S + j) * hs + d]);
          a += mulB(dSe[i], kv);
          w += mulB(Math.abs(dS[i]) + dSe[i], kv);
          dsAbs += Math.abs(dS[i]) + dSe[i];
        }
        const idx = (bh * T + t) * hs + d;
        // flushing: a k read as 0 loses |dS|·tiny, each product or sum below tiny loses tiny
        const flush = M.tiny * (dsAbs + cnt + 2);
        adq[idx] = SECOND_ORDER * (sc * (a + mulB(g, w) + flush) + (M.u + 2 * M.uStore) * Math.abs(ref.dq[idx])) + M.tiny;
      }
    }
    for (let j = 0; j < S; j++) {
      let cnt = 0;
      for (let t = 0; t < T; t++) if (s[(bh * T + t) * S + j] !== -Infinity) cnt++;
      const g = gamma(cnt, M.u);
      for (let d = 0; d < hs; d++) {
        let ak = 0;
        let wk = 0;
        let av = 0;
        let wv = 0;
        let dsAbs = 0;
        let pAbs = 0;
        for (let t = 0; t < T; t++) {
          const i = (bh * T + t) * S + j;
          if (s[i] === -Infinity) continue;
          const qv = Math.abs(q[(bh * T + t) * hs + d]);
          const dv = Math.abs(dout[(bh * T + t) * hs + d]);
          ak += mulB(dSe[i], qv);
          wk += mulB(Math.abs(dS[i]) + dSe[i], qv);
          av += mulB(dPe[i], dv);
          wv += mulB(P[i] + dPe[i], dv);
          dsAbs += Math.abs(dS[i]) + dSe[i];
          pAbs += P[i] + dPe[i];
        }
        const idx = (bh * S + j) * hs + d;
        adk[idx] = SECOND_ORDER * (sc * (ak + mulB(g, wk) + M.tiny * (dsAbs + cnt + 2)) + (M.u + 2 * M.uStore) * Math.abs(ref.dk[idx])) + M.tiny;
        adv[idx] = SECOND_ORDER * (av + mulB(g, wv) + M.uStore * Math.abs(ref.dv[idx]) + M.tiny * (pAbs + cnt + 2));
      }
    }
  }
  const clean = (a: Float64Array) => a.map((x) => (x >= 0 ? x : Infinity));
  const note = `from score errors γ(hs+1)|scale|Σ|q k|, P = exp(s − lse), dP and D dot products, dS = P(dP − D), and the n-term sums; ${M.name}`;
  return {
    dq: { allowed: clean(adq), note: `attention dq: |scale|(Σ ΔdS|k| + γ(n)Σ|dS||k|) + 3u|dq|, ${note}` },
    dk: { allowed: clean(adk), note: `attention dk: |scale|(Σ ΔdS|q| + γ(n)Σ|dS||q|) + 3u|dk|, ${note}` },
    dv: { allowed: clean(adv), note: `attention dv: Σ ΔP|dout| + γ(n)Σ P|dout| + u|dv|, ${note}` },
  };
}

// ---------------------------------------------------------------------------
// gpu.js kernels (float32; one thread per output element)
// ---------------------------------------------------------------------------

interface ScoreThis {
  thread: { x: number };
  constants: { NH: number; T: number; S: number; HS: number; CAUSAL: number; MODE: number; MB: number; MH: number; MT: number; MS: number };
}

/**
 * Score of (row = bh·T + t, key j); thread = row·S + j. Excluded entries are
 * −Inf (passed in as `ninf`: the literal compiles to −FLT_MAX on GL/WGSL).
 */
export function attnScoresKernel(this: ScoreThis, q: number[], k: number[], mask: number[], scale: number, ninf: number): number {
  const row = idiv(this.thread.x, this.constants.S);
  const j = this.thread.x - row * this.constants.S;
  const bh = idiv(row, this.constants.T);
  const t = row - bh * this.constants.T;
  if (this.constants.CAUSAL > 0 && j > t) {
    return ninf;
  }
  let a = 0;
  if (this.constants.MODE > 0) {
    const b = idiv(bh, this.constants.NH);
    const h = bh - b * this.constants.NH;
    const mv = mask[b * this.constants.MB + h * this.constants.MH + t * this.constants.MT + j * this.constants.MS];
    if (this.constants.MODE < 1.5) {
      if (mv < 0.5) {
        return ninf;
      }
    } else {
      if (mv < -3.4028234663852886e38) {
        return ninf;
      }
      a = mv;
    }
  }
  let acc = 0;
  for (let c = 0; c < this.constants.HS; c++) {
    acc += scale * q[row * this.constants.HS + c] * k[(bh * this.constants.S + j) * this.constants.HS + c];
  }
  return acc + a;
}

interface RowElemThis {
  thread: { x: number };
  constants: { S: number };
}

/** lse = m + log l; a non-finite m (NaN, ±Inf) is the answer itself. */
function attnLseKernel(this: { thread: { x: number } }, m: number[], l: number[]): number {
  const mr = m[this.thread.x];
  if (mr != mr || mr > 3.4028234663852886e38 || mr < -3.4028234663852886e38) {
    return mr;
  }
  return mr + Math.log(l[this.thread.x]);
}

/**
 * P = exp(s − m)/l, or `skip` (−1) for a key that takes no part (−Inf score or
 * fully masked row), or NaN for a row whose max is NaN or +Inf.
 */
function attnProbsKernel(this: RowElemThis, s: number[], m: number[], l: number[], nan: number, skip: number): number {
  const r = idiv(this.thread.x, this.constants.S);
  const mr = m[r];
  if (mr != mr || mr > 3.4028234663852886e38) {
    return nan;
  }
  if (mr < -3.4028234663852886e38) {
    return skip;
  }
  const sv = s[this.thread.x];
  if (sv < -3.4028234663852886e38) {
    return skip;
  }
  return Math.exp(sv - mr) / l[r];
}

/** Backward weights P = exp(s − lse), or `skip` (−1) for a −Inf score. */
function attnProbsFromLseKernel(this: RowElemThis, s: number[], lse: number[], skip: number): number {
  const sv = s[this.thread.x];
  if (sv < -3.4028234663852886e38) {
    return skip;
  }
  return Math.exp(sv - lse[idiv(this.thread.x, this.constants.S)]);
}

interface PvThis {
  thread: { x: number };
  constants: { T: number; S: number; HS: number };
}

/**
 * out[row, d] = Σ_j P[row, j]·v[j, d] over the included keys; thread = row·HS + d.
 * An infinite v is added as itself (the exact P is > 0 even where P̂ underflows).
 */
function attnOutKernel(this: PvThis, p: number[], v: number[]): number {
  const row = idiv(this.thread.x, this.constants.HS);
  const d = this.thread.x - row * this.constants.HS;
  const bh = idiv(row, this.constants.T);
  let acc = 0;
  for (let j = 0; j < this.constants.S; j++) {
    const pj = p[row * this.constants.S + j];
    if (pj != pj) {
      acc = acc + pj;
    } else if (pj > -0.5) {
      const vv = v[(bh * this.constants.S + j) * this.constants.HS + d];
      if (vv > 3.4028234663852886e38 || vv < -3.4028234663852886e38) {
        acc = acc + vv;
      } else {
        acc = acc + pj * vv;
      }
    }
  }
  return acc;
}

/** dS[row, j] = P·(Σ_c dout[row, c]·v[j, c] − D[row]); 0 for a skipped pair (never read). */
function attnDScoresKernel(this: PvThis, dout: number[], v: number[], p: number[], D: number[]): number {
  const row = idiv(this.thread.x, this.constants.S);
  const j = this.thread.x - row * this.constants.S;
  const bh = idiv(row, this.constants.T);
  const pj = p[this.thread.x];
  if (pj != pj) {
    return pj;
  }
  if (pj < -0.5) {
    return 0;
  }
  let acc = 0;
  for (let c = 0; c < this.constants.HS; c++) {
    acc += dout[row * this.constants.HS + c] * v[(bh * this.constants.S + j) * this.constants.HS + c];
  }
  return pj * (acc - D[row]);
}

/** dq[row, d] = scale·Σ_j dS[row, j]·k[j, d] over included pairs; thread = row·HS + d. */
function attnDqKernel(this: PvThis, ds: number[], p: number[], k: number[], scale: number): number {
  const row = idiv(this.thread.x, this.constants.HS);
  const d = this.thread.x - row * this.constants.HS;
  const bh = idiv(row, this.constants.T);
  let acc = 0;
  for (let j = 0; j < this.constants.S; j++) {
    const pj = p[row * this.constants.S + j];
    if (pj != pj || pj > -0.5) {
      acc = acc + ds[row * this.constants.S + j] * k[(bh * this.constants.S + j) * this.constants.HS + d];
    }
  }
  return scale * acc;
}

/** dk[key, d] = scale·Σ_t dS[t, j]·q[t, d] over included pairs; thread = (bh·S + j)·HS + d. */
function attnDkKernel(this: PvThis, ds: number[], p: number[], q: number[], scale: number): number {
  const key = idiv(this.thread.x, this.constants.HS);
  const d = this.thread.x - key * this.constants.HS;
  const bh = idiv(key, this.constants.S);
  const j = key - bh * this.constants.S;
  let acc = 0;
  for (let t = 0; t < this.constants.T; t++) {
    const i = (bh * this.constants.T + t) * this.constants.S + j;
    const pj = p[i];
    if (pj != pj || pj > -0.5) {
      acc = acc + ds[i] * q[(bh * this.constants.T + t) * this.constants.HS + d];
    }
  }
  return scale * acc;
}

/** dv[key, d] = Σ_t P[t, j]·dout[t, d] over included pairs. */
function attnDvKernel(this: PvThis, p: number[], dout: number[]): number {
  const key = idiv(this.thread.x, this.constants.HS);
  const d = this.thread.x - key * this.constants.HS;
  const bh = idiv(key, this.constants.S);
  const j = key - bh * this.constants.S;
  let acc = 0;
  for (let t = 0; t < this.constants.T; t++) {
    const i = (bh * this.constants.T + t) * this.constants.S + j;
    const pj = p[i];
    if (pj != pj || pj > -0.5) {
      acc = acc + pj * dout[(bh * this.constants.T + t) * this.constants.HS + d];
    }
  }
  return acc;
}

/** P marks a skipped pair with this value (a weight is never negative). */
const SKIP = -1;

/** The mask as a gpu.js argument: int32 0/1 become float 0/1; no mask is a dummy element. */
function maskArg(mask: Tensor | undefined): Tensor {
  if (!mask) return Tensor.fromHost(new Float32Array(1), [1]);
  if (mask.dtype === 'int32') return Tensor.fromHost(Float32Array.from(mask.data), mask.shape);
  return mask;
}

/**
 * Scores (B·NH·T, S) on a gpu.js device. `scoresFn` is the score kernel
 * (the mutation tests pass a deliberately broken one).
 */
async function gpuScores(d: Device, q: Tensor, k: Tensor, mask: Tensor | undefined, a: AttentionAttrs, scoresFn: typeof attnScoresKernel): Promise<Tensor> {
  const { B, NH, T, S, hs } = a;
  const [MB, MH, MT, MS] = a.maskStrides;
  const constants = { NH, T, S, HS: hs, CAUSAL: a.causal ? 1 : 0, MODE: a.maskKind, MB, MH, MT, MS };
  const m = maskArg(mask);
  // compiled kernels are cached by name: a substitute score kernel must not reuse the real one's
  const name = scoresFn === attnScoresKernel ? 'attention.scores' : `attention.scores.${scoresFn.name || 'custom'}`;
  const s = await d.gpujs!.run({ name, fn: scoresFn, outputs: B * NH * T * S, constants }, [q, k, m, a.scale, -Infinity], [B * NH * T, S]);
  if (m !== mask) m.dispose();
  return s;
}

/**
 * The gpu.js forward: scores → row max → row Σexp → lse and P → P·V.
 * Exported for the mutation tests, which swap in a broken score kernel or scale.
 */
export async function attentionForwardGpuJs(
  d: Device,
  inputs: { q: Tensor; k: Tensor; v: Tensor; mask?: Tensor },
  a: AttentionAttrs,
  scoresFn: typeof attnScoresKernel = attnScoresKernel,
): Promise<{ out: Tensor; lse: Tensor }> {
  const rt = d.gpujs!;
  const { B, NH, T, S, hs } = a;
  const N = B * NH * T;
  const s = await gpuScores(d, inputs.q, inputs.k, inputs.mask, a, scoresFn);
  const m = await rowMax(rt, s, N, S);
  const l = await rowSumExp(rt, s, m, N, S);
  const lse = await rt.run({ name: 'attention.lse', fn: attnLseKernel, outputs: N }, [m, l], [B, NH, T]);
  const p = await rt.run({ name: 'attention.probs', fn: attnProbsKernel, outputs: N * S, constants: { S } }, [s, m, l, NaN, SKIP], [N, S]);
  s.dispose();
  m.dispose();
  l.dispose();
  const out = await rt.run({ name: 'attention.out', fn: attnOutKernel, outputs: N * hs, constants: { T, S, HS: hs } }, [p, inputs.v], [B, NH, T, hs]);
  p.dispose();
  return { out, lse };
}

async function attentionBackwardGpuJs(
  d: Device,
  inputs: { dout: Tensor; q: Tensor; k: Tensor; v: Tensor; out: Tensor; lse: Tensor; mask?: Tensor },
  a: AttentionAttrs,
): Promise<{ dq: Tensor; dk: Tensor; dv: Tensor }> {
  const rt = d.gpujs!;
  const { B, NH, T, S, hs } = a;
  const N = B * NH * T;
  const c = { T, S, HS: hs };
  const s = await gpuScores(d, inputs.q, inputs.k, inputs.mask, a, attnScoresKernel);
  const p = await rt.run({ name: 'attention.probsLse', fn: attnProbsFromLseKernel, outputs: N * S, constants: { S } }, [s, inputs.lse, SKIP], [N, S]);
  s.dispose();
  const D = await rowDot(rt, inputs.dout, inputs.out, N, hs);
  const ds = await rt.run({ name: 'attention.dscores', fn: attnDScoresKernel, outputs: N * S, constants: c }, [inputs.dout, inputs.v, p, D], [N, S]);
  D.dispose();
  const dq = await rt.run({ name: 'attention.dq', fn: attnDqKernel, outputs: N * hs, constants: c }, [ds, p, inputs.k, a.scale], [B, NH, T, hs]);
  const dk = await rt.run({ name: 'attention.dk', fn: attnDkKernel, outputs: B * NH * S * hs, constants: c }, [ds, p, inputs.q, a.scale], [B, NH, S, hs]);
  const dv = await rt.run({ name: 'attention.dv', fn: attnDvKernel, outputs: B * NH * S * hs, constants: c }, [p, inputs.dout], [B, NH, S, hs]);
  ds.dispose();
  p.dispose();
  return { dq, dk, dv };
}

// ---------------------------------------------------------------------------
// Registration: reference and gpu.js implementations under one name each
// ---------------------------------------------------------------------------

registerKernel<AttentionAttrs>({
  kernel: 'attention',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { q, k, v, mask }, a) => {
    const r = attentionRef(f64(q), f64(k), f64(v), a, refOptions(a, mask, false));
    return { out: out64(r.out, [a.B, a.NH, a.T, a.hs]), lse: out64(r.lse, [a.B, a.NH, a.T]) };
  },
});
registerKernel<AttentionAttrs>({
  kernel: 'attention',
  phase: 'forward',
  backend: 'gpujs',
  impl: (d, inputs, a) => attentionForwardGpuJs(d, inputs as { q: Tensor; k: Tensor; v: Tensor; mask?: Tensor }, a),
});
registerKernel<AttentionAttrs>({
  kernel: 'attention',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dout, q, k, v, out, lse, mask }, a) => {
    const r = attentionBackwardRef(f64(dout), f64(q), f64(k), f64(v), f64(out), f64(lse), a, refOptions(a, mask, false));
    return { dq: out64(r.dq, q.shape), dk: out64(r.dk, k.shape), dv: out64(r.dv, v.shape) };
  },
});
registerKernel<AttentionAttrs>({
  kernel: 'attention',
  phase: 'backward',
  backend: 'gpujs',
  impl: (d, inputs, a) => attentionBackwardGpuJs(d, inputs as Parameters<typeof attentionBackwardGpuJs>[1], a),
});

// ---------------------------------------------------------------------------
// Public functions: validate, handle empty shapes, dispatch
// ---------------------------------------------------------------------------

const OPTION_KEYS = ['causal', 'mask', 'scale'] as const;

/** Validates q, k, v and the options; returns the kernel attributes. */
function prepare(fn: string, q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions | undefined): AttentionAttrs {
  checkOptions(fn, options, OPTION_KEYS);
  const letters = ['B', 'NH', 'T', 'hs'];
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    checkRank(fn, name, t, 4, name === 'q' ? letters : ['B', 'NH', 'S', 'hs']);
    checkFloat(fn, name, t);
  }
  const [B, NH, T, hs] = q.shape;
  const S = k.shape[2];
  if (k.shape[0] !== B || k.shape[1] !== NH || k.shape[3] !== hs) {
    throw new ArgumentError(`${fn}: 'k' must have shape [B, NH, S, hs] with B, NH, hs of 'q' ${fmtShape(q.shape, letters)}, got ${fmtShape(k.shape)}`);
  }
  checkShape(fn, 'v', v, k.shape, ['B', 'NH', 'S', 'hs']);
  const dims = { B, NH, T, S, hs };
  const causal = options?.causal === undefined ? false : checkBoolean(fn, 'causal', options.causal);
  const scale = options?.scale === undefined ? (hs > 0 ? 1 / Math.sqrt(hs) : 1) : checkFiniteNumber(fn, 'scale', options.scale);
  let maskKind: 0 | 1 | 2 = 0;
  let maskStrides: number[] = [0, 0, 0, 0];
  const mask = options?.mask;
  if (mask !== undefined) {
    checkTensor(fn, 'mask', mask);
    if (mask.shape.length > 4) {
      throw new ArgumentError(`${fn}: 'mask' must have at most 4 dimensions to broadcast to [B, NH, T, S] = [${B}, ${NH}, ${T}, ${S}], got ${fmtShape(mask.shape)}`);
    }
    const r = broadcastStrides(mask.shape, dims);
    if ('bad' in r) {
      const axis = ['B', 'NH', 'T', 'S'][r.bad];
      throw new ArgumentError(
        `${fn}: 'mask' of shape ${fmtShape(mask.shape)} cannot be broadcast to [B, NH, T, S] = [${B}, ${NH}, ${T}, ${S}]: its ${axis} dimension must be 1 or ${[B, NH, T, S][r.bad]}`,
      );
    }
    maskStrides = r.strides;
    if (mask.dtype === 'int32') {
      const data = mask.data;
      for (let i = 0; i < data.length; i++) {
        if (data[i] !== 0 && data[i] !== 1) {
          throw new ArgumentError(`${fn}: a boolean (int32) 'mask' must hold 0 or 1, got ${data[i]} at flat index ${i} of shape ${fmtShape(mask.shape)}`);
        }
      }
      maskKind = MASK_KIND.boolean;
    } else {
      maskKind = MASK_KIND.additive;
    }
  }
  return { ...dims, causal, scale, maskKind, maskStrides };
}

function inputsOf(base: Record<string, Tensor>, mask: Tensor | undefined): Record<string, Tensor> {
  return mask ? { ...base, mask } : base;
}

/**
 * Scaled dot-product attention: softmax(scale·q·kᵀ + mask)·v over the keys each
 * query includes, with the row max subtracted.
 *
 * @param q (B, NH, T, hs) queries
 * @param k (B, NH, S, hs) keys
 * @param v (B, NH, S, hs) values
 * @param options causal (default false; query t sees keys j ≤ t, top-left aligned),
 *   mask (int32 0/1 with 1 = takes part, or float additive with −Inf = excluded;
 *   broadcastable to (B, NH, T, S)), scale (default 1/√hs)
 * @returns out (B, NH, T, hs) and lse (B, NH, T), the row log-sum-exp of the
 *   scaled, masked scores. A fully masked row gives out = 0 and lse = −Inf.
 * @example
 * const { out, lse } = await attention(dev, q, k, v, { causal: true });
 * // KV cache: one new query over S cached keys (q (B, NH, 1, hs)), no causal flag needed
 * const step = await attention(dev, qNew, kCache, vCache);
 */
export async function attention(device: Device, q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Promise<{ out: Tensor; lse: Tensor }> {
  const a = prepare('attention', q, k, v, options);
  const { B, NH, T, S, hs } = a;
  const prec = device.info.precision;
  if (B * NH * T === 0) return { out: emptyLike(prec, [B, NH, T, hs]), lse: emptyLike(prec, [B, NH, T]) };
  if (S === 0 || hs === 0) {
    // no keys: every row fully masked. No head dimension: scores are empty sums (0) plus the mask
    const lse = emptyLike(prec, [B, NH, T]);
    const data = lse.data as Float32Array | Float64Array;
    if (S === 0) data.fill(-Infinity);
    else {
      const mask = options?.mask?.isResident ? Tensor.fromHost(await options.mask.read(), options.mask.shape) : options?.mask;
      const r = attentionRef(new Float64Array(0), new Float64Array(0), new Float64Array(0), a, refOptions(a, mask, prec === 'float32'));
      data.set(r.lse);
    }
    return { out: emptyLike(prec, [B, NH, T, hs]), lse };
  }
  const mask = a.maskKind !== 0 ? options!.mask : undefined;
  return (await runKernel(device, 'attention', 'forward', inputsOf({ q, k, v }, mask), a)) as { out: Tensor; lse: Tensor };
}

/**
 * Gradients of attention with respect to q, k and v, from the forward's
 * cached out and lse: P = exp(s − lse), dv = Pᵀ·dout, dS = P ⊙ (dout·vᵀ −
 * rowsum(dout ⊙ out)), dq = scale·dS·k, dk = scale·dSᵀ·q. Pairs excluded by the
 * mask or the causal rule take no part; fully masked rows give dq = 0.
 *
 * @param dout (B, NH, T, hs) gradient of the loss with respect to out
 * @param q (B, NH, T, hs), k (B, NH, S, hs), v (B, NH, S, hs) the forward inputs
 * @param out (B, NH, T, hs) and lse (B, NH, T) the forward outputs
 * @param options the forward's options
 * @returns dq (B, NH, T, hs), dk and dv (B, NH, S, hs)
 * @example
 * const { out, lse } = await attention(dev, q, k, v, { causal: true });
 * const { dq, dk, dv } = await attentionBackward(dev, dout, q, k, v, out, lse, { causal: true });
 */
export async function attentionBackward(
  device: Device,
  dout: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  options?: AttentionOptions,
): Promise<{ dq: Tensor; dk: Tensor; dv: Tensor }> {
  const fn = 'attentionBackward';
  const a = prepare(fn, q, k, v, options);
  const { B, NH, T, S, hs } = a;
  checkShape(fn, 'dout', dout, q.shape, ['B', 'NH', 'T', 'hs']);
  checkFloat(fn, 'dout', dout);
  checkShape(fn, 'out', out, q.shape, ['B', 'NH', 'T', 'hs']);
  checkFloat(fn, 'out', out);
  checkShape(fn, 'lse', lse, [B, NH, T], ['B', 'NH', 'T']);
  checkFloat(fn, 'lse', lse);
  const prec = device.info.precision;
  if (B * NH * T * S * hs === 0) {
    return { dq: emptyLike(prec, q.shape), dk: emptyLike(prec, k.shape), dv: emptyLike(prec, v.shape) };
  }
  const mask = a.maskKind !== 0 ? options!.mask : undefined;
  return (await runKernel(device, 'attention', 'backward', inputsOf({ dout, q, k, v, out, lse }, mask), a)) as { dq: Tensor; dk: Tensor; dv: Tensor };
}
