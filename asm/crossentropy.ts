/**
 * Cross-entropy of src/kernels/cross-entropy.ts (fused log-softmax + NLL with
 * ignoreIndex, label smoothing and the three reductions), forward and
 * backward, over rows [r0, r1) of logits (N, V). Targets arrive as float32
 * class indices, −1 for an ignored row (the public function codes them).
 *
 * Forward, per row, the gpu.js kernels' evaluation (crossEntropyBound is
 * derived for it):
 *   m = max x (NaN if any NaN),  s = Σ exp(x − m)  (asm/softmax.ts's rowMax and
 *   sumExp: the shared chunk order),  lse = m + log s (lse = m when m is not finite);
 *   h = ½·log s;  h += (1−ε)·(m·½ − x_t·½) if 1−ε > 0;  h += ε·b if ε > 0,
 *   b = Σ_j (m·½ − x_j·½)·(1/V) in the chunk order;  row = h·scale
 * with scale = 2 ('none', 'sum') or 2/count ('mean'). Halving every gap keeps
 * it, and every partial sum, below float32 max. An ignored row is 0; a row
 * with a NaN, a +Inf or only −Inf logits is NaN.
 * Passes over a row: the max, then Σexp fused with Σ half-gaps (the row is in
 * L1 by then). A one-pass online max-and-sum would rescale the running sum,
 * an error the shared bound (one exp per term) does not allow.
 *
 * Backward: dx_j = g·(exp(x_j − lse) − y_j) with g = dloss_r·gscale,
 * y = yT at the target and yO elsewhere; ignored rows exactly 0.
 */
import { exp4ftz, exp4ftzNonPos, log4 } from './vmath';
import { loadPartial, storePartial } from './maps';
import { SUM_CHUNK, hsum4, laneMask, sumChunked } from './lanes';
import { rowMax, special, sumExp } from './softmax';

// @ts-ignore: decorator
@inline function log1(x: f32): f32 {
  return f32x4.extract_lane(log4(f32x4.splat(x)), 0);
}

/**
 * Σ exp(x − m) and Σ (m·½ − x·½)·invV over a row (finite m), both in the chunk
 * order, returned in lanes 0 and 1.
 */
function sumExpAndHalfGaps(x: usize, V: i32, m: f32, invV: f32): v128 {
  const mv = f32x4.splat(m);
  const mh = f32x4.splat(m * <f32>0.5);
  const half = f32x4.splat(0.5);
  const iv = f32x4.splat(invV);
  let s: f32 = 0;
  let b: f32 = 0;
  for (let c = 0; c < V; c += SUM_CHUNK) {
    const ce = min(V, c + SUM_CHUNK);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let g0 = f32x4.splat(0), g1 = f32x4.splat(0);
    let i = c;
    for (; i + 8 <= ce; i += 8) {
      const o = x + (<usize>i << 2);
      const x0 = v128.load(o, 0);
      const x1 = v128.load(o, 16);
      a0 = f32x4.add(a0, exp4ftzNonPos(f32x4.sub(x0, mv)));
      a1 = f32x4.add(a1, exp4ftzNonPos(f32x4.sub(x1, mv)));
      g0 = f32x4.add(g0, f32x4.mul(f32x4.sub(mh, f32x4.mul(x0, half)), iv));
      g1 = f32x4.add(g1, f32x4.mul(f32x4.sub(mh, f32x4.mul(x1, half)), iv));
    }
    for (; i < ce; i += 4) {
      const k = min(4, ce - i);
      const o = x + (<usize>i << 2);
      // pad lanes: x = −Inf adds exp(−Inf) = 0; the gap term is masked
      const xv = k == 4 ? v128.load(o) : loadPartial(o, k, -Infinity);
      a0 = f32x4.add(a0, exp4ftzNonPos(f32x4.sub(xv, mv)));
      g0 = f32x4.add(g0, v128.and(f32x4.mul(f32x4.sub(mh, f32x4.mul(xv, half)), iv), laneMask(k)));
    }
    s += hsum4(f32x4.add(a0, a1));
    b += hsum4(f32x4.add(g0, g1));
  }
  return f32x4(s, b, 0, 0);
}

/**
 * lse (N) and the row values (N): the loss of each row ('none') or its term
 * of the reduction. `k` holds the float32 scalars [1 − ε, ε, 1/V, scale] and
 * one word of scratch for b.
 */
export function ce_fwd_rows(x: usize, tgt: usize, lse: usize, rows: usize, V: i32, k: usize, r0: i32, r1: i32): void {
  const om = load<f32>(k, 0);
  const ep = load<f32>(k, 4);
  const invV = load<f32>(k, 8);
  const scale = load<f32>(k, 12);
  for (let r = r0; r < r1; r++) {
    const xr = x + ((<usize>r * <usize>V) << 2);
    const t = <i32>load<f32>(tgt + (<usize>r << 2));
    const m = rowMax(xr, V);
    if (special(m)) {
      store<f32>(lse + (<usize>r << 2), m);
      store<f32>(rows + (<usize>r << 2), t < 0 ? 0 : NaN);
      continue;
    }
    let s: f32;
    let b: f32 = 0;
    if (ep > 0) {
      const sb = sumExpAndHalfGaps(xr, V, m, invV);
      s = f32x4.extract_lane(sb, 0);
      b = f32x4.extract_lane(sb, 1);
    } else {
      s = sumExp(xr, 0, V, m, false);
    }
    const ls = log1(s);
    store<f32>(lse + (<usize>r << 2), m + ls);
    if (t < 0) {
      store<f32>(rows + (<usize>r << 2), 0);
      continue;
    }
    let h: f32 = <f32>0.5 * ls;
    if (om > 0) h += om * (m * <f32>0.5 - load<f32>(xr + (<usize>t << 2)) * <f32>0.5);
    if (ep > 0) h += ep * b;
    store<f32>(rows + (<usize>r << 2), h * scale);
  }
}

/**
 * dx (N, V) for rows [r0, r1): g·(exp(x − lse) − y). `perRow` 1 reads dloss[r]
 * ('none'), 0 reads dloss[0]. `k` holds [gscale, yT, yO].
 */
export function ce_bwd_rows(dloss: usize, x: usize, tgt: usize, lse: usize, dx: usize, V: i32, perRow: i32, k: usize, r0: i32, r1: i32): void {
  const gscale = load<f32>(k, 0);
  const yT = load<f32>(k, 4);
  const yO = f32x4.splat(load<f32>(k, 8));
  for (let r = r0; r < r1; r++) {
    const off = (<usize>r * <usize>V) << 2;
    const t = <i32>load<f32>(tgt + (<usize>r << 2));
    if (t < 0) {
      memory.fill(dx + off, 0, <usize>V << 2);
      continue;
    }
    const g = load<f32>(dloss + (<usize>(r * perRow) << 2)) * gscale;
    const gv = f32x4.splat(g);
    const l = f32x4.splat(load<f32>(lse + (<usize>r << 2)));
    let i = 0;
    for (; i + 4 <= V; i += 4) {
      const o = off + (<usize>i << 2);
      v128.store(dx + o, f32x4.mul(gv, f32x4.sub(exp4ftz(f32x4.sub(v128.load(x + o), l)), yO)));
    }
    if (i < V) {
      const o = off + (<usize>i << 2);
      const n = V - i;
      storePartial(dx + o, f32x4.mul(gv, f32x4.sub(exp4ftz(f32x4.sub(loadPartial(x + o, n, 0), l)), yO)), n);
    }
    // the target element again, with y = yT (exp4 is lane-independent: the same p)
    const o = off + (<usize>t << 2);
    const p = f32x4.extract_lane(exp4ftz(f32x4.splat(load<f32>(x + o) - f32x4.extract_lane(l, 0))), 0);
    store<f32>(dx + o, g * (p - yT));
  }
}

/** Σ_{i<n} x[i] in the shared chunk order (the 'sum' and 'mean' reductions). */
export function sum_chunked(x: usize, n: i32): f32 {
  return sumChunked(x, n);
}
