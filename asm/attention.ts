/**
 * Fused scaled dot-product attention, forward and backward, with the
 * contract of src/kernels/attention.ts (its header lists every special case;
 * the FP64 reference there defines them) and in the summation structure its
 * bounds (attentionBound, attentionBackwardBound) are derived for.
 *
 * Shapes (per (b, h) head, row-major): q (T, hs), k and v (S, hs), out (T, hs),
 * lse (T); the mask broadcasts through element strides (MB, MH, MT, MS).
 *
 * Forward, per query row t (rows [row0, row1) of the B·NH·T rows):
 *   1. scores of the keys the row may include (j < S, and j ≤ t when causal):
 *      s_j = Σ_c fl(scale·q_tc)·k_jc summed in c order (two roundings per
 *      term and hs − 1 additions: the γ(hs + 1) of scoreErrors), then
 *      s_j = s_j + a_tj for an additive mask (one rounding); a key excluded
 *      by the mask (boolean 0, additive −Inf) becomes −Inf without being
 *      computed, so NaN or Inf in an excluded key or value never reaches the row.
 *   2. m = max_j s_j with a NaN flag (asm/softmax.ts's rowMax): NaN → the row
 *      is NaN and lse NaN; +Inf → NaN row, lse +Inf; −Inf (nothing included,
 *      or every score −Inf) → out = 0, lse = −Inf.
 *   3. l = Σ_j exp(s_j − m) in the shared chunk order (asm/softmax.ts's
 *      sumExp: depth ≤ sumDepth(n)), lse = m + log l.
 *   4. P_j = exp(s_j − m)·(1/l) (reciprocal then product: the model's
 *      divRel = 2u), −1 marking a −Inf score (a key that takes no part).
 *   5. out_t = Σ_j P_j·v_j over the included keys in j order (γ(n) per
 *      element); where an included P_j is exactly 0 (underflow) a ±Inf v_jd is
 *      added as itself, as the contract asks (the exact P_j is > 0).
 * This is the two-sweep softmax of the bound (max, then Σexp), on one row of
 * n ≤ S scores kept in a per-thread scratch row: nothing of size T×S exists.
 * An "online" softmax that rescales a running sum and output by
 * exp(m_old − m_new) whenever the max grows would add one exp error and one
 * rounding per rescale to every earlier term (and u|g_j| more to each
 * argument), which attentionBound does not allow (it grants one exp per term
 * and γ(sumDepth(S)) for the sum); keeping a row of scores costs 4·S bytes per
 * query row and lets the kernel meet the shared bound as derived.
 *
 * Scores for 4 query rows × 8 keys at a time: a 4 × 8 register tile over hs
 * (the shape of asm/gemm.ts's micro-kernel: 8 accumulators, no spills), with
 * the head's keys packed transposed (kᵀ, hs × S rounded up to 8, zero padded)
 * and the 4 rows' scaled queries packed transposed (hs × 4). Each score is the
 * same chain of operations whichever tile computes it, so the result does not
 * depend on how rows are grouped or split across threads.
 *
 * Backward, per head (threads split heads; dk and dv of a head are summed by
 * the one thread that owns it), FlashAttention-2's recomputation:
 *   ŝ as in the forward (the same operations: the same values);
 *   P = exp(ŝ − lse) (one subtraction, one exp), dP_j = Σ_c dout_tc·v_jc (c order),
 *   D_t = Σ_c dout_tc·out_tc, dS = P·(dP − D);
 *   dq_t = scale·(Σ_j dS_j·k_j)           (j order, then the product),
 *   dk_j = scale·(Σ_t dS_tj·q_t),  dv_j = Σ_t P_tj·dout_t   (t order: rows are
 *   visited in increasing t and added into zeroed dk, dv; scale applied at the end),
 * over included pairs only (a −Inf score is skipped, not multiplied by 0), so
 * a fully masked row gives dq = 0 and adds nothing to dk, dv.
 */
import { exp4 } from './vmath';
import { hsum4, laneMask, loadK, storeK } from './lanes';
import { rowMax, special, log1 } from './softmax';

const SKIP: f32 = -1.0;

/** Keys rounded up to the 8-wide tile. */
// @ts-ignore: decorator
@inline function padKeys(S: i32): i32 {
  return (S + 7) & ~7;
}

/**
 * Bytes of scratch one thread needs for a head of S keys and head size hs:
 * kᵀ and vᵀ (hs × Sp each), score and dP (or exp) rows (4 × Sp each), the
 * group's qᵀ and doutᵀ (hs × 4 each), a dq accumulator and a zero row (hs
 * each), plus alignment.
 */
export function attn_work_bytes(S: i32, hs: i32): i32 {
  const Sp = padKeys(S);
  return (2 * hs * Sp + 8 * Sp + 10 * hs) * 4 + 64;
}

/**
 * Transposes the 4 × 4 block whose rows are r0..r3: lane k of result c is
 * row k's lane c (two rounds of interleaving shuffles; exact, values only move).
 */
// @ts-ignore: decorator
@inline function transposeStore(r0: v128, r1: v128, r2: v128, r3: v128, d: usize, step: usize): void {
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(d, i32x4.shuffle(t0, t1, 0, 1, 4, 5));
  v128.store(d + step, i32x4.shuffle(t0, t1, 2, 3, 6, 7));
  v128.store(d + 2 * step, i32x4.shuffle(t2, t3, 0, 1, 4, 5));
  v128.store(d + 3 * step, i32x4.shuffle(t2, t3, 2, 3, 6, 7));
}

/** dst[c·Sp + j] = src[j·hs + c] for j < S, 0 for S ≤ j < Sp (the transposed head). */
function packT(src: usize, dst: usize, S: i32, Sp: i32, hs: i32): void {
  const hsBytes = <usize>hs << 2;
  const spBytes = <usize>Sp << 2;
  let j0 = 0;
  if ((hs & 3) == 0) {
    // 4 keys × 4 channels at a time
    for (; j0 + 4 <= S; j0 += 4) {
      const s0 = src + <usize>j0 * hsBytes;
      for (let c = 0; c < hs; c += 4) {
        const co = <usize>c << 2;
        transposeStore(v128.load(s0 + co), v128.load(s0 + hsBytes + co), v128.load(s0 + 2 * hsBytes + co), v128.load(s0 + 3 * hsBytes + co), dst + <usize>c * spBytes + (<usize>j0 << 2), spBytes);
      }
    }
  }
  for (let c = 0; c < hs; c++) {
    const d = dst + <usize>c * spBytes;
    for (let j = j0; j < S; j++) store<f32>(d + (<usize>j << 2), load<f32>(src + <usize>j * hsBytes + (<usize>c << 2)));
    for (let j = S; j < Sp; j++) store<f32>(d + (<usize>j << 2), 0);
  }
}

/**
 * Packs up to 4 rows of a (T, hs) matrix starting at row t0 into aT (hs × 4),
 * each value times `scale` (1 for no scaling: the product is then exact);
 * missing rows are 0.
 */
function packRows4(src: usize, t0: i32, rows: i32, hs: i32, scale: f32, aT: usize): void {
  if (rows == 4 && (hs & 3) == 0) {
    const hsBytes = <usize>hs << 2;
    const s0 = src + <usize>t0 * hsBytes;
    const sv = f32x4.splat(scale);
    for (let c = 0; c < hs; c += 4) {
      const co = <usize>c << 2;
      const r0 = f32x4.mul(sv, v128.load(s0 + co));
      const r1 = f32x4.mul(sv, v128.load(s0 + hsBytes + co));
      const r2 = f32x4.mul(sv, v128.load(s0 + 2 * hsBytes + co));
      const r3 = f32x4.mul(sv, v128.load(s0 + 3 * hsBytes + co));
      transposeStore(r0, r1, r2, r3, aT + (<usize>c << 4), 16);
    }
    return;
  }
  for (let c = 0; c < hs; c++) {
    for (let r = 0; r < 4; r++) {
      const v: f32 = r < rows ? scale * load<f32>(src + ((<usize>(t0 + r) * <usize>hs + <usize>c) << 2)) : 0;
      store<f32>(aT + (<usize>(c * 4 + r) << 2), v);
    }
  }
}

/**
 * out[r·Sp + j .. +8] = Σ_c aT[c, r]·bT[c, j .. +8] for r < 4: one 4 × 8 tile,
 * each element a chain over c = 0, 1, … from 0 (the first addition is exact).
 */
// @ts-ignore: decorator
@inline function tile4x8(aT: usize, bT: usize, Sp: i32, j: i32, hs: i32, out: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let ap = aT;
  let bp = bT + (<usize>j << 2);
  const step = <usize>Sp << 2;
  for (let c = 0; c < hs; c++) {
    const b0 = v128.load(bp, 0);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap, 0);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    ap += 16;
    bp += step;
  }
  let o = out + (<usize>j << 2);
  v128.store(o, c00, 0);
  v128.store(o, c01, 16);
  o += step;
  v128.store(o, c10, 0);
  v128.store(o, c11, 16);
  o += step;
  v128.store(o, c20, 0);
  v128.store(o, c21, 16);
  o += step;
  v128.store(o, c30, 0);
  v128.store(o, c31, 16);
}

/** Rows 0..3 of `out` (4 × Sp) for keys [0, n): n rounded up to the tile. */
function tiles(aT: usize, bT: usize, Sp: i32, n: i32, hs: i32, out: usize): void {
  for (let j = 0; j < n; j += 8) tile4x8(aT, bT, Sp, j, hs, out);
}

/**
 * Applies the mask and the causal limit to a row of raw scores: keys j ≥ n
 * (and up to the next multiple of 4) become −Inf; below n a boolean 0 or an
 * additive −Inf makes −Inf, an additive a is added (s + a, one rounding).
 * `mrow` points at the mask element of (b, h, t, 0); MS is its key stride.
 */
function maskRow(row: usize, n: i32, kind: i32, mrow: usize, MS: i32): void {
  if (kind == 1) {
    for (let j = 0; j < n; j++) {
      if (load<f32>(mrow + (<usize>(j * MS) << 2)) == 0) store<f32>(row + (<usize>j << 2), -Infinity);
    }
  } else if (kind == 2) {
    for (let j = 0; j < n; j++) {
      const a = load<f32>(mrow + (<usize>(j * MS) << 2));
      const p = row + (<usize>j << 2);
      store<f32>(p, a == -Infinity ? -Infinity : load<f32>(p) + a);
    }
  }
  const n4 = (n + 3) & ~3;
  for (let j = n; j < n4; j++) store<f32>(row + (<usize>j << 2), -Infinity);
}

/**
 * out (hs) = Σ_{j<n, P_j ≠ −1} P_j·v_j, j in order. A P_j of exactly 0 adds
 * v_jd itself where v_jd = ±Inf (0·v otherwise: 0, or NaN for a NaN v).
 */
function weightedValues(P: usize, n: i32, v: usize, hs: i32, out: usize): void {
  const rowStep = <usize>hs << 2;
  for (let d0 = 0; d0 < hs; d0 += 16) {
    const w = min(16, hs - d0);
    const dOff = <usize>d0 << 2;
    if (w == 16) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let vp = v + dOff;
      for (let j = 0; j < n; j++) {
        const p = load<f32>(P + (<usize>j << 2));
        if (p > 0) {
          const pv = f32x4.splat(p);
          a0 = f32x4.add(a0, f32x4.mul(pv, v128.load(vp, 0)));
          a1 = f32x4.add(a1, f32x4.mul(pv, v128.load(vp, 16)));
          a2 = f32x4.add(a2, f32x4.mul(pv, v128.load(vp, 32)));
          a3 = f32x4.add(a3, f32x4.mul(pv, v128.load(vp, 48)));
        } else if (p == 0) {
          a0 = f32x4.add(a0, zeroTimes(v128.load(vp, 0)));
          a1 = f32x4.add(a1, zeroTimes(v128.load(vp, 16)));
          a2 = f32x4.add(a2, zeroTimes(v128.load(vp, 32)));
          a3 = f32x4.add(a3, zeroTimes(v128.load(vp, 48)));
        }
        vp += rowStep;
      }
      const o = out + dOff;
      v128.store(o, a0, 0);
      v128.store(o, a1, 16);
      v128.store(o, a2, 32);
      v128.store(o, a3, 48);
    } else {
      for (let d = 0; d < w; d += 4) {
        const k = min(4, w - d);
        const off = dOff + (<usize>d << 2);
        let a = f32x4.splat(0);
        let vp = v + off;
        for (let j = 0; j < n; j++) {
          const p = load<f32>(P + (<usize>j << 2));
          if (p > 0) a = f32x4.add(a, f32x4.mul(f32x4.splat(p), loadK(vp, k)));
          else if (p == 0) a = f32x4.add(a, zeroTimes(loadK(vp, k)));
          vp += rowStep;
        }
        storeK(out + off, a, k);
      }
    }
  }
}

/** 0·v, except ±Inf for v = ±Inf (an included weight that underflowed: the exact weight is > 0). */
// @ts-ignore: decorator
@inline function zeroTimes(v: v128): v128 {
  const isInf = f32x4.eq(f32x4.abs(v), f32x4.splat(Infinity));
  return v128.bitselect(v, f32x4.mul(v, f32x4.splat(0)), isInf);
}


/** True when all n floats at p are finite (no NaN, no ±Inf). */
function allFinite(p: usize, n: i32): bool {
  let bad = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) bad = v128.or(bad, v128.not(f32x4.lt(f32x4.abs(v128.load(p + (<usize>i << 2))), f32x4.splat(Infinity))));
  for (; i < n; i++) if (!(abs(load<f32>(p + (<usize>i << 2))) < Infinity)) return false;
  return !v128.any_true(bad);
}

/**
 * Turns the −1 markers of a weight row into 0 and zero-fills [from, to): the
 * 4-row loops below then multiply every key of the group, excluded ones by 0.
 * That is exact when the operand they weight is finite (0·x = ±0, and adding
 * ±0 to an accumulator that started at +0 never changes it: a float sum is −0
 * only if every term is −0, and the accumulator's own +0 is one of them), so
 * the sums equal those over the included keys alone, bit for bit; the callers
 * check finiteness first and otherwise keep the per-key skipping path.
 */
function zeroSkips(row: usize, n4: i32, from: i32, to: i32): void {
  for (let j = 0; j < n4; j += 4) {
    const p = row + (<usize>j << 2);
    const w = v128.load(p);
    v128.store(p, v128.andnot(w, f32x4.eq(w, f32x4.splat(SKIP))));
  }
  for (let j = max(from, n4); j < to; j++) store<f32>(row + (<usize>j << 2), 0);
}

/**
 * out_r (hs) = Σ_{j<n} P_r[j]·v_j for the 4 rows r of a group at once (j in
 * order; rows ≥ `rows` are computed from whatever their weight rows hold and
 * not stored). hs a multiple of 4. Per key and 4 lanes: one load of v, four
 * broadcast weights, four products and sums.
 */
function weightedValues4(P: usize, rowBytes: usize, n: i32, v: usize, hs: i32, out: usize, rows: i32, skipRow: i32): void {
  const hsBytes = <usize>hs << 2;
  const P1 = P + rowBytes;
  const P2 = P1 + rowBytes;
  const P3 = P2 + rowBytes;
  for (let co: usize = 0; co < hsBytes; co += 16) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let vp = v + co;
    for (let j = 0; j < n; j++) {
      const o = <usize>j << 2;
      const vj = v128.load(vp);
      a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(P + o), vj));
      a1 = f32x4.add(a1, f32x4.mul(v128.load32_splat(P1 + o), vj));
      a2 = f32x4.add(a2, f32x4.mul(v128.load32_splat(P2 + o), vj));
      a3 = f32x4.add(a3, f32x4.mul(v128.load32_splat(P3 + o), vj));
      vp += hsBytes;
    }
    if ((skipRow & 1) == 0) v128.store(out + co, a0);
    if (rows > 1 && (skipRow & 2) == 0) v128.store(out + hsBytes + co, a1);
    if (rows > 2 && (skipRow & 4) == 0) v128.store(out + 2 * hsBytes + co, a2);
    if (rows > 3 && (skipRow & 8) == 0) v128.store(out + 3 * hsBytes + co, a3);
  }
}

/**
 * e_j = exp(s_j − m) for j < n into e, 0 for the pad lanes n ≤ j < n4, and
 * Σ_{j<n} e_j in the shared chunk order (two accumulators of 4 lanes per
 * 256-chunk, then the lanes, then the chunks in order: depth ≤ sumDepth(n)).
 * The pad lanes of the last vector are computed from 0 and masked off rather
 * than from −Inf: a −Inf lane would send the whole vector through exp4's
 * general path (the causal rows' last vector, every row), measured at 40 % of
 * the forward's time before this change.
 */
function expRow(sRow: usize, e: usize, n: i32, m: f32): f32 {
  const mv = f32x4.splat(m);
  let total: f32 = 0;
  for (let c = 0; c < n; c += 256) {
    const ce = min(n, c + 256);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let i = c;
    for (; i + 8 <= ce; i += 8) {
      const o = <usize>i << 2;
      const e0 = exp4(f32x4.sub(v128.load(sRow + o), mv));
      const e1 = exp4(f32x4.sub(v128.load(sRow + o, 16), mv));
      v128.store(e + o, e0);
      v128.store(e + o, e1, 16);
      a0 = f32x4.add(a0, e0);
      a1 = f32x4.add(a1, e1);
    }
    for (; i + 4 <= ce; i += 4) {
      const o = <usize>i << 2;
      const e0 = exp4(f32x4.sub(v128.load(sRow + o), mv));
      v128.store(e + o, e0);
      a0 = f32x4.add(a0, e0);
    }
    if (i < ce) {
      // the row buffer holds n4 ≥ ce floats: the full load stays inside it
      const o = <usize>i << 2;
      const lm = laneMask(ce - i);
      const e0 = v128.and(exp4(v128.and(f32x4.sub(v128.load(sRow + o), mv), lm)), lm);
      v128.store(e + o, e0);
      a1 = f32x4.add(a1, e0);
    }
    total += hsum4(f32x4.add(a0, a1));
  }
  return total;
}

/**
 * The gradient sums of one group of 4 query rows (rows ≥ `rows` have zero
 * weights and read `zeroRow`), with weights P (rows of `P`) and dS (rows of
 * `dS`) that are 0 for excluded pairs, keys j < n in order:
 *   dq_r = scale·Σ_j dS_rj·k_j,   dk_j += dS_0j·q_0 + … + dS_3j·q_3,   dv_j += P_0j·dout_0 + … + P_3j·dout_3,
 * the dk and dv additions made one row at a time in increasing t, so every
 * element is the chain of the reference's order. Per key and 4 lanes the rows'
 * q (or dout) stay in registers: one load of k, dk (or dv), four broadcast weights.
 */
function groupGradients(P: usize, dS: usize, rowBytes: usize, n: i32, rows: i32, q0p: usize, g0p: usize, zeroRow: usize, k: usize, dk: usize, dv: usize, dq0p: usize, hs: i32, scv: v128): void {
  const hsBytes = <usize>hs << 2;
  const q1p = rows > 1 ? q0p + hsBytes : zeroRow;
  const q2p = rows > 2 ? q0p + 2 * hsBytes : zeroRow;
  const q3p = rows > 3 ? q0p + 3 * hsBytes : zeroRow;
  const g1p = rows > 1 ? g0p + hsBytes : zeroRow;
  const g2p = rows > 2 ? g0p + 2 * hsBytes : zeroRow;
  const g3p = rows > 3 ? g0p + 3 * hsBytes : zeroRow;
  const dS1 = dS + rowBytes;
  const dS2 = dS1 + rowBytes;
  const dS3 = dS2 + rowBytes;
  const P1 = P + rowBytes;
  const P2 = P1 + rowBytes;
  const P3 = P2 + rowBytes;
  for (let co: usize = 0; co < hsBytes; co += 16) {
    const q0 = v128.load(q0p + co);
    const q1 = v128.load(q1p + co);
    const q2 = v128.load(q2p + co);
    const q3 = v128.load(q3p + co);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let kp = k + co;
    let dkp = dk + co;
    for (let j = 0; j < n; j++) {
      const o = <usize>j << 2;
      const d0 = v128.load32_splat(dS + o);
      const d1 = v128.load32_splat(dS1 + o);
      const d2 = v128.load32_splat(dS2 + o);
      const d3 = v128.load32_splat(dS3 + o);
      const kv = v128.load(kp);
      a0 = f32x4.add(a0, f32x4.mul(d0, kv));
      a1 = f32x4.add(a1, f32x4.mul(d1, kv));
      a2 = f32x4.add(a2, f32x4.mul(d2, kv));
      a3 = f32x4.add(a3, f32x4.mul(d3, kv));
      let x = v128.load(dkp);
      x = f32x4.add(x, f32x4.mul(d0, q0));
      x = f32x4.add(x, f32x4.mul(d1, q1));
      x = f32x4.add(x, f32x4.mul(d2, q2));
      x = f32x4.add(x, f32x4.mul(d3, q3));
      v128.store(dkp, x);
      kp += hsBytes;
      dkp += hsBytes;
    }
    v128.store(dq0p + co, f32x4.mul(scv, a0));
    if (rows > 1) v128.store(dq0p + hsBytes + co, f32x4.mul(scv, a1));
    if (rows > 2) v128.store(dq0p + 2 * hsBytes + co, f32x4.mul(scv, a2));
    if (rows > 3) v128.store(dq0p + 3 * hsBytes + co, f32x4.mul(scv, a3));
    const g0 = v128.load(g0p + co);
    const g1 = v128.load(g1p + co);
    const g2 = v128.load(g2p + co);
    const g3 = v128.load(g3p + co);
    let dvp = dv + co;
    for (let j = 0; j < n; j++) {
      const o = <usize>j << 2;
      let x = v128.load(dvp);
      x = f32x4.add(x, f32x4.mul(v128.load32_splat(P + o), g0));
      x = f32x4.add(x, f32x4.mul(v128.load32_splat(P1 + o), g1));
      x = f32x4.add(x, f32x4.mul(v128.load32_splat(P2 + o), g2));
      x = f32x4.add(x, f32x4.mul(v128.load32_splat(P3 + o), g3));
      v128.store(dvp, x);
      dvp += hsBytes;
    }
  }
}

/** Fills n floats at p with x. */
function fill(p: usize, n: i32, x: f32): void {
  for (let i = 0; i < n; i++) store<f32>(p + (<usize>i << 2), x);
}

/**
 * Forward for the rows [row0, row1) of the B·NH·T query rows. The mask
 * (maskKind 0 none, 1 boolean as float 0/1, 2 additive) is read at
 * b·MB + h·MH + t·MT + j·MS. `work` is attn_work_bytes(S, hs) bytes.
 */
export function attn_fwd(
  q: usize, k: usize, v: usize, out: usize, lse: usize,
  mask: usize, maskKind: i32, MB: i32, MH: i32, MT: i32, MS: i32,
  NH: i32, T: i32, S: i32, hs: i32, causal: i32, scaleBits: i32,
  row0: i32, row1: i32, work: usize,
): void {
  const scale = reinterpret<f32>(scaleBits);
  const Sp = padKeys(S);
  const w0 = (work + 15) & ~(<usize>15);
  const kT = w0;
  const sc = kT + ((<usize>(2 * hs * Sp)) << 2);
  const qT = sc + ((<usize>(8 * Sp)) << 2);
  const rowBytes = <usize>Sp << 2;
  let bh = row0 / T;
  let r = row0;
  while (r < row1) {
    const headEnd = min(row1, (bh + 1) * T);
    const kh = k + ((<usize>bh * <usize>S * <usize>hs) << 2);
    const vh = v + ((<usize>bh * <usize>S * <usize>hs) << 2);
    const qh = q + ((<usize>bh * <usize>T * <usize>hs) << 2);
    packT(kh, kT, S, Sp, hs);
    const b = bh / NH;
    const h = bh - b * NH;
    const mBase = mask + ((<usize>(b * MB + h * MH)) << 2);
    // the 4-row weighted sum of values needs finite values (see zeroSkips) and hs a multiple of 4
    const fast = (hs & 3) == 0 && allFinite(vh, S * hs);
    for (let t0 = r - bh * T; t0 < headEnd - bh * T; t0 += 4) {
      const rows = min(4, headEnd - bh * T - t0);
      packRows4(qh, t0, rows, hs, scale, qT);
      const nMax = causal != 0 ? min(S, t0 + rows) : S;
      tiles(qT, kT, Sp, nMax, hs, sc);
      // rows whose output is settled by a special max (NaN, ±Inf), as bits 0..3
      let special4 = 0;
      for (let i = 0; i < rows; i++) {
        const t = t0 + i;
        const orow = out + (((<usize>bh * <usize>T + <usize>t) * <usize>hs) << 2);
        const lrow = lse + ((<usize>bh * <usize>T + <usize>t) << 2);
        const row = sc + <usize>i * rowBytes;
        const n = causal != 0 ? min(S, t + 1) : S;
        maskRow(row, n, maskKind, mBase + ((<usize>(t * MT)) << 2), MS);
        const n4 = (n + 3) & ~3;
        const m = n > 0 ? rowMax(row, n4) : -Infinity;
        if (special(m)) {
          // NaN → NaN row and lse; +Inf → NaN row, lse +Inf; −Inf → 0 row, lse −Inf
          fill(orow, hs, m == -Infinity ? 0 : NaN);
          store<f32>(lrow, m);
          special4 |= 1 << i;
          continue;
        }
        // exp(s − m) into the row's twin in the second block, summed in the chunk order
        const erow = row + 4 * rowBytes;
        const l = expRow(row, erow, n, m);
        store<f32>(lrow, m + log1(l));
        const rl = f32x4.splat(<f32>1.0 / l);
        for (let j = 0; j < n4; j += 4) {
          const o = <usize>j << 2;
          const sv = v128.load(row + o);
          const w = f32x4.mul(v128.load(erow + o), rl);
          v128.store(row + o, v128.bitselect(f32x4.splat(SKIP), w, f32x4.eq(sv, f32x4.splat(-Infinity))));
        }
        if (fast) zeroSkips(row, n4, n4, nMax);
        else weightedValues(row, n, vh, hs, orow);
      }
      if (fast) {
        const orow0 = out + (((<usize>bh * <usize>T + <usize>t0) * <usize>hs) << 2);
        weightedValues4(sc, rowBytes, nMax, vh, hs, orow0, rows, special4);
      }
    }
    r = headEnd;
    bh++;
  }
}

/** Σ_c a_c·b_c over hs floats (4 lanes, then the lanes: depth ≤ hs − 1 + 2 ≤ hs for hs ≥ 2). */
function dot(a: usize, b: usize, hs: i32): f32 {
  let acc = f32x4.splat(0);
  for (let c = 0; c < hs; c += 4) {
    const k = min(4, hs - c);
    const o = <usize>c << 2;
    acc = f32x4.add(acc, f32x4.mul(loadK(a + o, k), loadK(b + o, k)));
  }
  return hsum4(acc);
}

/**
 * Backward for the heads [bh0, bh1): dq (B, NH, T, hs), dk, dv (B, NH, S, hs),
 * from dout, q, k, v, out and lse. Same mask arguments as attn_fwd.
 */
export function attn_bwd(
  dout: usize, q: usize, k: usize, v: usize, out: usize, lse: usize,
  dq: usize, dk: usize, dv: usize,
  mask: usize, maskKind: i32, MB: i32, MH: i32, MT: i32, MS: i32,
  NH: i32, T: i32, S: i32, hs: i32, causal: i32, scaleBits: i32,
  bh0: i32, bh1: i32, work: usize,
): void {
  const scale = reinterpret<f32>(scaleBits);
  const Sp = padKeys(S);
  const w0 = (work + 15) & ~(<usize>15);
  const kT = w0;
  const vT = kT + ((<usize>(hs * Sp)) << 2);
  const sc = vT + ((<usize>(hs * Sp)) << 2);
  const dp = sc + ((<usize>(4 * Sp)) << 2);
  const qT = dp + ((<usize>(4 * Sp)) << 2);
  const dT = qT + ((<usize>(4 * hs)) << 2);
  const accRow = dT + ((<usize>(4 * hs)) << 2);
  const zeroRow = accRow + ((<usize>hs) << 2);
  const rowBytes = <usize>Sp << 2;
  const hsBytes = <usize>hs << 2;
  const scv = f32x4.splat(scale);
  memory.fill(zeroRow, 0, hsBytes);
  for (let bh = bh0; bh < bh1; bh++) {
    const qh = q + ((<usize>bh * <usize>T * <usize>hs) << 2);
    const oh = out + ((<usize>bh * <usize>T * <usize>hs) << 2);
    const gh = dout + ((<usize>bh * <usize>T * <usize>hs) << 2);
    const dqh = dq + ((<usize>bh * <usize>T * <usize>hs) << 2);
    const kh = k + ((<usize>bh * <usize>S * <usize>hs) << 2);
    const vh = v + ((<usize>bh * <usize>S * <usize>hs) << 2);
    const dkh = dk + ((<usize>bh * <usize>S * <usize>hs) << 2);
    const dvh = dv + ((<usize>bh * <usize>S * <usize>hs) << 2);
    memory.fill(dkh, 0, <usize>S * hsBytes);
    memory.fill(dvh, 0, <usize>S * hsBytes);
    packT(kh, kT, S, Sp, hs);
    packT(vh, vT, S, Sp, hs);
    const b = bh / NH;
    const h = bh - b * NH;
    const mBase = mask + ((<usize>(b * MB + h * MH)) << 2);
    // the 4-row sums below weight every key of a group, excluded pairs by 0: exact when
    // the weighted operands (q, k, dout) are finite (see zeroSkips); else the per-row path
    const fast = (hs & 3) == 0 && allFinite(qh, T * hs) && allFinite(kh, S * hs) && allFinite(gh, T * hs);
    for (let t0 = 0; t0 < T; t0 += 4) {
      const rows = min(4, T - t0);
      packRows4(qh, t0, rows, hs, scale, qT);
      packRows4(gh, t0, rows, hs, 1, dT);
      const nMax = causal != 0 ? min(S, t0 + rows) : S;
      tiles(qT, kT, Sp, nMax, hs, sc);
      tiles(dT, vT, Sp, nMax, hs, dp);
      for (let i = 0; i < rows; i++) {
        const t = t0 + i;
        const srow = sc + <usize>i * rowBytes;
        const drow = dp + <usize>i * rowBytes;
        const n = causal != 0 ? min(S, t + 1) : S;
        maskRow(srow, n, maskKind, mBase + ((<usize>(t * MT)) << 2), MS);
        const n4 = (n + 3) & ~3;
        const gt = gh + <usize>t * hsBytes;
        const qt = qh + <usize>t * hsBytes;
        const D = f32x4.splat(dot(gt, oh + <usize>t * hsBytes, hs));
        const L = f32x4.splat(load<f32>(lse + ((<usize>bh * <usize>T + <usize>t) << 2)));
        // P = exp(ŝ − lse) (−1 where ŝ = −Inf) into srow, dS = P·(dP − D) into drow
        for (let j = 0; j < n4; j += 4) {
          const o = <usize>j << 2;
          const s = v128.load(srow + o);
          // pad lanes (j ≥ n, −Inf) from 0 instead, so the vector stays on exp4's fast path; they are marked −1 below
          const P = exp4(v128.and(f32x4.sub(s, L), laneMask(n - j)));
          const dS = f32x4.mul(P, f32x4.sub(v128.load(drow + o), D));
          v128.store(srow + o, v128.bitselect(f32x4.splat(SKIP), P, f32x4.eq(s, f32x4.splat(-Infinity))));
          v128.store(drow + o, dS);
        }
        if (fast) {
          // weights 0 for the excluded pairs and the keys past n (up to the group's nMax)
          for (let j = 0; j < n4; j += 4) {
            const o = <usize>j << 2;
            const skip = f32x4.eq(v128.load(srow + o), f32x4.splat(SKIP));
            v128.store(srow + o, v128.andnot(v128.load(srow + o), skip));
            v128.store(drow + o, v128.andnot(v128.load(drow + o), skip));
          }
          for (let j = n4; j < nMax; j++) {
            store<f32>(srow + (<usize>j << 2), 0);
            store<f32>(drow + (<usize>j << 2), 0);
          }
          continue;
        }
        // dq_t = scale·Σ_j dS_j·k_j;  dk_j += dS_j·q_t,  dv_j += P_j·dout_t  (j in order)
        const dqt = dqh + <usize>t * hsBytes;
        if ((hs & 3) == 0) {
          memory.fill(accRow, 0, hsBytes);
          for (let j = 0; j < n; j++) {
            const P = load<f32>(srow + (<usize>j << 2));
            if (P == SKIP) continue;
            const dS = f32x4.splat(load<f32>(drow + (<usize>j << 2)));
            const Pv = f32x4.splat(P);
            const ko = <usize>j * hsBytes;
            const kj = kh + ko;
            const dkj = dkh + ko;
            const dvj = dvh + ko;
            for (let co: usize = 0; co < hsBytes; co += 16) {
              v128.store(accRow + co, f32x4.add(v128.load(accRow + co), f32x4.mul(dS, v128.load(kj + co))));
              v128.store(dkj + co, f32x4.add(v128.load(dkj + co), f32x4.mul(dS, v128.load(qt + co))));
              v128.store(dvj + co, f32x4.add(v128.load(dvj + co), f32x4.mul(Pv, v128.load(gt + co))));
            }
          }
          for (let co: usize = 0; co < hsBytes; co += 16) v128.store(dqt + co, f32x4.mul(scv, v128.load(accRow + co)));
          continue;
        }
        for (let c = 0; c < hs; c += 4) {
          const kk = min(4, hs - c);
          const co = <usize>c << 2;
          const qv = loadK(qt + co, kk);
          const gv = loadK(gt + co, kk);
          let acc = f32x4.splat(0);
          for (let j = 0; j < n; j++) {
            const P = load<f32>(srow + (<usize>j << 2));
            if (P == SKIP) continue;
            const dS = f32x4.splat(load<f32>(drow + (<usize>j << 2)));
            const ko = <usize>j * hsBytes + co;
            acc = f32x4.add(acc, f32x4.mul(dS, loadK(kh + ko, kk)));
            storeK(dkh + ko, f32x4.add(loadK(dkh + ko, kk), f32x4.mul(dS, qv)), kk);
            storeK(dvh + ko, f32x4.add(loadK(dvh + ko, kk), f32x4.mul(f32x4.splat(P), gv)), kk);
          }
          storeK(dqt + co, f32x4.mul(scv, acc), kk);
        }
      }
      if (fast) {
        // a short last group: its missing rows weigh nothing
        for (let i = rows; i < 4; i++) {
          memory.fill(sc + <usize>i * rowBytes, 0, <usize>nMax << 2);
          memory.fill(dp + <usize>i * rowBytes, 0, <usize>nMax << 2);
        }
        groupGradients(sc, dp, rowBytes, nMax, rows, qh + <usize>t0 * hsBytes, gh + <usize>t0 * hsBytes, zeroRow, kh, dkh, dvh, dqh + <usize>t0 * hsBytes, hs, scv);
      }
    }
    // dk = scale·(Σ_t dS·q)
    const total = S * hs;
    for (let i = 0; i < total; i += 4) {
      const kk = min(4, total - i);
      const o = dkh + (<usize>i << 2);
      storeK(o, f32x4.mul(scv, loadK(o, kk)), kk);
    }
  }
}
