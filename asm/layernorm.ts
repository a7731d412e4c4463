/**
 * LayerNorm over rows of C channels, forward and backward, with the algorithm
 * of src/kernels/layernorm.ts (whose header explains it and whose bounds,
 * layerNormBound and layerNormBackwardBound, are derived for it):
 *
 * Forward, per row (rows [r0, r1) of x (N, C)):
 *   m = max |x_j|; a NaN or ±Inf anywhere makes out, mean and rstd NaN;
 *   k = the largest power of two ≤ m/2 when m/2 ≥ 1, else 1 (rowScale of
 *       layernorm.ts: its ladder of powers of two is the binary exponent of
 *       m/2, read here from the bits), s = 1/k, both exact;
 *   d_j = x_j·s − x_0·s          (shifted and scaled; |d| < 4, recomputed per pass)
 *   μ = (Σ d_j)/C,  Q = Σ (d_j − μ)²    (sums in the shared chunk order: depth ≤ sumDepth(C))
 *   g = 1/√(Q/C + (eps·s)·s), 0 where that is +Inf (a constant huge row)
 *   out_j = ((d_j − μ)·g)·w_j + b_j
 *   mean = (x_0·s + μ)·k clamped to ±F32_MAX;  rstd = 1/√eps if Q = 0, else g·s.
 * The sums use 4 accumulators of 4 lanes per 256-chunk, chunk partials in
 * order (lanes.ts's sumChunked order, here fused with the per-element work).
 *
 * Backward (llm.c's formula in layernorm.ts's arrangement), per row:
 *   x̂_j = (½x_j − ½mean)·(2·rstd),  g_j = w_j·dout_j,
 *   A = Σ g_j,  B = Σ g_j·x̂_j  (chunk order),
 *   dx_j = rstd·((g_j − A/C) − x̂_j·(B/C));
 * and the column sums dweight = Σ_rows dout·x̂, dbias = Σ_rows dout in the
 * shared chunked order over rows: each 256-row chunk is summed in row order
 * from 0 into its own partial (layernorm_bwd_rows, one chunk per call range
 * boundary), then the chunk partials are added in chunk order
 * (layernorm_bwd_reduce): depth (256 − 1) + (chunks − 1) = sumDepth(N), what
 * the bound assumes, for any thread split (threads get whole chunks).
 */
import { SUM_CHUNK, hsum4, laneMask, loadK, storeK } from './lanes';

const F32_MAX: f32 = 3.4028234663852886e38;

/** Exponent of the row scale: k = 2^e with e = ⌊log2(t)⌋ for t = m/2 ≥ 1, else e = 0. */
// @ts-ignore: decorator
@inline function scaleExponent(m: f32): i32 {
  const t = m * 0.5;
  if (!(t >= 1.0)) return 0;
  return (reinterpret<i32>(t) >>> 23) - 127;
}

/** Σ_j (x_j·s − x0s) over a row, in the shared chunk order; pad lanes contribute 0. */
function shiftedSum(x: usize, C: i32, s: f32, x0s: f32): f32 {
  const sv = f32x4.splat(s);
  const x0v = f32x4.splat(x0s);
  let total: f32 = 0;
  for (let c = 0; c < C; c += SUM_CHUNK) {
    const ce = min(C, c + SUM_CHUNK);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let i = c;
    for (; i + 16 <= ce; i += 16) {
      const o = x + (<usize>i << 2);
      a0 = f32x4.add(a0, f32x4.sub(f32x4.mul(v128.load(o, 0), sv), x0v));
      a1 = f32x4.add(a1, f32x4.sub(f32x4.mul(v128.load(o, 16), sv), x0v));
      a2 = f32x4.add(a2, f32x4.sub(f32x4.mul(v128.load(o, 32), sv), x0v));
      a3 = f32x4.add(a3, f32x4.sub(f32x4.mul(v128.load(o, 48), sv), x0v));
    }
    for (; i < ce; i += 4) {
      const k = min(4, ce - i);
      const d = f32x4.sub(f32x4.mul(loadK(x + (<usize>i << 2), k), sv), x0v);
      a0 = f32x4.add(a0, v128.and(d, laneMask(k)));
    }
    total += hsum4(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  }
  return total;
}

/** Σ_j (x_j·s − x0s − μ)² over a row, in the shared chunk order. */
function sumSqDev(x: usize, C: i32, s: f32, x0s: f32, mu: f32): f32 {
  const sv = f32x4.splat(s);
  const x0v = f32x4.splat(x0s);
  const mv = f32x4.splat(mu);
  let total: f32 = 0;
  for (let c = 0; c < C; c += SUM_CHUNK) {
    const ce = min(C, c + SUM_CHUNK);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let i = c;
    for (; i + 16 <= ce; i += 16) {
      const o = x + (<usize>i << 2);
      const e0 = f32x4.sub(f32x4.sub(f32x4.mul(v128.load(o, 0), sv), x0v), mv);
      const e1 = f32x4.sub(f32x4.sub(f32x4.mul(v128.load(o, 16), sv), x0v), mv);
      const e2 = f32x4.sub(f32x4.sub(f32x4.mul(v128.load(o, 32), sv), x0v), mv);
      const e3 = f32x4.sub(f32x4.sub(f32x4.mul(v128.load(o, 48), sv), x0v), mv);
      a0 = f32x4.add(a0, f32x4.mul(e0, e0));
      a1 = f32x4.add(a1, f32x4.mul(e1, e1));
      a2 = f32x4.add(a2, f32x4.mul(e2, e2));
      a3 = f32x4.add(a3, f32x4.mul(e3, e3));
    }
    for (; i < ce; i += 4) {
      const k = min(4, ce - i);
      const e = v128.and(f32x4.sub(f32x4.sub(f32x4.mul(loadK(x + (<usize>i << 2), k), sv), x0v), mv), laneMask(k));
      a0 = f32x4.add(a0, f32x4.mul(e, e));
    }
    total += hsum4(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  }
  return total;
}

export function layernorm_fwd(x: usize, w: usize, b: usize, out: usize, mean: usize, rstd: usize, C: i32, epsBits: i32, r0: i32, r1: i32): void {
  const eps = reinterpret<f32>(epsBits);
  const fC = <f32>C;
  for (let r = r0; r < r1; r++) {
    const xr = x + ((<usize>r * <usize>C) << 2);
    const orow = out + ((<usize>r * <usize>C) << 2);
    // max |x| and a finiteness flag (|x| < Inf is false for ±Inf and NaN)
    let mv = f32x4.splat(0);
    let bad = i32x4.splat(0);
    for (let i = 0; i < C; i += 4) {
      const k = min(4, C - i);
      const a = f32x4.abs(loadK(xr + (<usize>i << 2), k));
      mv = f32x4.pmax(mv, a);
      bad = v128.or(bad, v128.not(f32x4.lt(a, f32x4.splat(Infinity))));
    }
    if (v128.any_true(bad)) {
      for (let i = 0; i < C; i++) store<f32>(orow + (<usize>i << 2), NaN);
      store<f32>(mean + (<usize>r << 2), NaN);
      store<f32>(rstd + (<usize>r << 2), NaN);
      continue;
    }
    const m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    const e = scaleExponent(m);
    const s = reinterpret<f32>((127 - e) << 23);
    const kk = reinterpret<f32>((127 + e) << 23);
    const x0 = load<f32>(xr);
    const x0s = x0 * s;
    const mu = shiftedSum(xr, C, s, x0s) / fC;
    const Q = sumSqDev(xr, C, s, x0s, mu);
    let g: f32 = <f32>1.0 / sqrt<f32>(Q / fC + eps * s * s);
    if (g == Infinity) g = 0;
    const sv = f32x4.splat(s);
    const x0v = f32x4.splat(x0s);
    const muv = f32x4.splat(mu);
    const gv = f32x4.splat(g);
    for (let i = 0; i < C; i += 4) {
      const k = min(4, C - i);
      const o = <usize>i << 2;
      const d = f32x4.sub(f32x4.mul(loadK(xr + o, k), sv), x0v);
      const y = f32x4.add(f32x4.mul(f32x4.mul(f32x4.sub(d, muv), gv), loadK(w + o, k)), loadK(b + o, k));
      storeK(orow + o, y, k);
    }
    let mn = (x0s + mu) * kk;
    if (mn > F32_MAX) mn = F32_MAX;
    if (mn < -F32_MAX) mn = -F32_MAX;
    store<f32>(mean + (<usize>r << 2), mn);
    store<f32>(rstd + (<usize>r << 2), Q == 0 ? <f32>1.0 / sqrt<f32>(eps) : g * s);
  }
}

/**
 * dx for rows [r0, r1) and the column partials of the 256-row chunks they
 * cover: partials (chunks, 2, C) receive, for chunk q, Σ_{rows of q} dout·x̂
 * then Σ dout, each summed in row order from 0. r0 must be a chunk start.
 */
export function layernorm_bwd_rows(dout: usize, x: usize, w: usize, mean: usize, rstd: usize, dx: usize, partials: usize, C: i32, r0: i32, r1: i32): void {
  const fC = <f32>C;
  const rowBytes = <usize>C << 2;
  for (let r = r0; r < r1; r++) {
    const off = <usize>r * rowBytes;
    const xr = x + off;
    const dr = dout + off;
    const dxr = dx + off;
    const mu = load<f32>(mean + (<usize>r << 2));
    const rs = load<f32>(rstd + (<usize>r << 2));
    const hmu = f32x4.splat(<f32>0.5 * mu);
    const rs2 = f32x4.splat(<f32>2.0 * rs);
    const half = f32x4.splat(0.5);
    // the row's first chunk row starts the partials at 0 (0 + v is exact)
    const q = (r / SUM_CHUNK) * 2 * C;
    const pw = partials + (<usize>q << 2);
    const pb = pw + rowBytes;
    if (r % SUM_CHUNK == 0) memory.fill(pw, 0, rowBytes * 2);
    // A = Σ g, B = Σ g·x̂ in the chunk order (one accumulator pair per 4 lanes, 4 pairs)
    let A: f32 = 0;
    let Bs: f32 = 0;
    for (let c = 0; c < C; c += SUM_CHUNK) {
      const ce = min(C, c + SUM_CHUNK);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
      let i = c;
      for (; i + 16 <= ce; i += 16) {
        const o = <usize>i << 2;
        const x0 = f32x4.mul(f32x4.sub(f32x4.mul(half, v128.load(xr + o, 0)), hmu), rs2);
        const x1 = f32x4.mul(f32x4.sub(f32x4.mul(half, v128.load(xr + o, 16)), hmu), rs2);
        const x2 = f32x4.mul(f32x4.sub(f32x4.mul(half, v128.load(xr + o, 32)), hmu), rs2);
        const x3 = f32x4.mul(f32x4.sub(f32x4.mul(half, v128.load(xr + o, 48)), hmu), rs2);
        const d0 = v128.load(dr + o, 0);
        const d1 = v128.load(dr + o, 16);
        const d2 = v128.load(dr + o, 32);
        const d3 = v128.load(dr + o, 48);
        const g0 = f32x4.mul(v128.load(w + o, 0), d0);
        const g1 = f32x4.mul(v128.load(w + o, 16), d1);
        const g2 = f32x4.mul(v128.load(w + o, 32), d2);
        const g3 = f32x4.mul(v128.load(w + o, 48), d3);
        a0 = f32x4.add(a0, g0);
        a1 = f32x4.add(a1, g1);
        a2 = f32x4.add(a2, g2);
        a3 = f32x4.add(a3, g3);
        b0 = f32x4.add(b0, f32x4.mul(g0, x0));
        b1 = f32x4.add(b1, f32x4.mul(g1, x1));
        b2 = f32x4.add(b2, f32x4.mul(g2, x2));
        b3 = f32x4.add(b3, f32x4.mul(g3, x3));
        // column partials of this row chunk: dweight += dout·x̂, dbias += dout
        v128.store(pw + o, f32x4.add(v128.load(pw + o, 0), f32x4.mul(d0, x0)), 0);
        v128.store(pw + o, f32x4.add(v128.load(pw + o, 16), f32x4.mul(d1, x1)), 16);
        v128.store(pw + o, f32x4.add(v128.load(pw + o, 32), f32x4.mul(d2, x2)), 32);
        v128.store(pw + o, f32x4.add(v128.load(pw + o, 48), f32x4.mul(d3, x3)), 48);
        v128.store(pb + o, f32x4.add(v128.load(pb + o, 0), d0), 0);
        v128.store(pb + o, f32x4.add(v128.load(pb + o, 16), d1), 16);
        v128.store(pb + o, f32x4.add(v128.load(pb + o, 32), d2), 32);
        v128.store(pb + o, f32x4.add(v128.load(pb + o, 48), d3), 48);
      }
      for (; i < ce; i += 4) {
        const k = min(4, ce - i);
        const o = <usize>i << 2;
        const lm = laneMask(k);
        const xh = v128.and(f32x4.mul(f32x4.sub(f32x4.mul(half, loadK(xr + o, k)), hmu), rs2), lm);
        const d = loadK(dr + o, k);
        const g = f32x4.mul(loadK(w + o, k), d);
        a0 = f32x4.add(a0, g);
        b0 = f32x4.add(b0, f32x4.mul(g, xh));
        storeK(pw + o, f32x4.add(loadK(pw + o, k), f32x4.mul(d, xh)), k);
        storeK(pb + o, f32x4.add(loadK(pb + o, k), d), k);
      }
      A += hsum4(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
      Bs += hsum4(f32x4.add(f32x4.add(b0, b1), f32x4.add(b2, b3)));
    }
    const av = f32x4.splat(A / fC);
    const bv = f32x4.splat(Bs / fC);
    const rv = f32x4.splat(rs);
    for (let i = 0; i < C; i += 4) {
      const k = min(4, C - i);
      const o = <usize>i << 2;
      const xh = f32x4.mul(f32x4.sub(f32x4.mul(half, loadK(xr + o, k)), hmu), rs2);
      const g = f32x4.mul(loadK(w + o, k), loadK(dr + o, k));
      storeK(dxr + o, f32x4.mul(rv, f32x4.sub(f32x4.sub(g, av), f32x4.mul(xh, bv))), k);
    }
  }
}

/** dweight[c] = Σ_q partials[q, 0, c], dbias[c] = Σ_q partials[q, 1, c] over the chunks in order, for c ∈ [c0, c1). */
export function layernorm_bwd_reduce(partials: usize, chunks: i32, dweight: usize, dbias: usize, C: i32, c0: i32, c1: i32): void {
  for (let c = c0; c < c1; c++) {
    let sw: f32 = 0;
    let sb: f32 = 0;
    for (let q = 0; q < chunks; q++) {
      const p = partials + ((<usize>q * <usize>(2 * C) + <usize>c) << 2);
      sw += load<f32>(p);
      sb += load<f32>(p + (<usize>C << 2));
    }
    store<f32>(dweight + (<usize>c << 2), sw);
    store<f32>(dbias + (<usize>c << 2), sb);
  }
}
