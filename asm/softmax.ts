/**
 * logSumExp, softmax and logSoftmax over the rows of x (N, V), forward and
 * backward, with the contract and the semantics of src/kernels/softmax.ts
 * (its header lists the special cases; `rowStats` below implements them).
 *
 * Each function works on rows [r0, r1) so threads can share a call.
 *
 * Passes over a row (x is read from memory once; the later sweeps find the
 * row in L1 or L2, which holds rows up to ~250,000 floats on this machine kind):
 *   1. max and NaN flag (read x);
 *   2. s = Σ exp(x − m) (read x; softmax also stores exp(x − m) into y);
 *   3. the output (softmax: y *= 1/s; logSoftmax: y = (x − m) − log s).
 * A single "online" read pass that rescales the running sum whenever the max
 * grows (s·exp(m_old − m_new)) would save sweep 1's read only for rows larger
 * than L2, and its rescalings add an error per rescale that the shared bound
 * (softmaxBound in src/kernels/softmax.ts: one exp per term) does not allow;
 * see bench/wasm/NOTES.md.
 *
 * Summation order (it decides the error bound): a row is summed in chunks of
 * ROW_CHUNK = 256 (the shared constant of src/kernels/bounds.ts). Within a
 * chunk 4 accumulators of 4 lanes each take 16 terms per lane, then 2 + 2
 * levels combine accumulators and lanes: ≤ 19 roundings; the chunk partials
 * are added in order: chunks − 1 more. That never exceeds sumDepth(V) =
 * min(V, 256) − 1 + chunks − 1 (for V < 6 the zero lanes add exactly), so the
 * shared bounds apply with γ(sumDepth(V)).
 *
 * Divisions by s are a reciprocal then a product: two roundings, which the
 * backend's ErrorModel declares as divRel = 2u.
 */
import { exp4ftz, exp4ftzNonPos, log4 } from './vmath';
import { loadPartial, storePartial } from './maps';

const ROW_CHUNK: i32 = 256;

/** Horizontal sum ((l0 + l1) + (l2 + l3)). */
// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// @ts-ignore: decorator
@inline function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/** Scalar log through the vector code, so per-row logs have the same accuracy as log4. */
// @ts-ignore: decorator
@inline export function log1(x: f32): f32 {
  return f32x4.extract_lane(log4(f32x4.splat(x)), 0);
}

/** Max of a row of V ≥ 1 floats; NaN if any entry is NaN. */
export function rowMax(p: usize, V: i32): f32 {
  let m0 = f32x4.splat(-Infinity);
  let m1 = f32x4.splat(-Infinity);
  let nan = i32x4.splat(0);
  const V8 = V & ~7;
  let i = 0;
  for (; i < V8; i += 8) {
    const a = v128.load(p + (<usize>i << 2));
    const b = v128.load(p + (<usize>i << 2), 16);
    m0 = f32x4.pmax(m0, a);
    m1 = f32x4.pmax(m1, b);
    nan = v128.or(nan, v128.or(f32x4.ne(a, a), f32x4.ne(b, b)));
  }
  for (; i + 4 <= V; i += 4) {
    const a = v128.load(p + (<usize>i << 2));
    m0 = f32x4.pmax(m0, a);
    nan = v128.or(nan, f32x4.ne(a, a));
  }
  if (i < V) {
    const a = loadPartial(p + (<usize>i << 2), V - i, -Infinity);
    m0 = f32x4.pmax(m0, a);
    nan = v128.or(nan, f32x4.ne(a, a));
  }
  if (v128.any_true(nan)) return NaN;
  return hmax(f32x4.pmax(m0, m1));
}

/**
 * Σ_j exp(x_j − m) over a row with finite m, in the chunk order described
 * above. With `y` ≠ 0 it also stores each exp(x_j − m) at y.
 */
// @ts-ignore: decorator
@inline export function sumExp(x: usize, y: usize, V: i32, m: f32, store: bool): f32 {
  const mv = f32x4.splat(m);
  let s: f32 = 0;
  for (let c = 0; c < V; c += ROW_CHUNK) {
    const ce = min(V, c + ROW_CHUNK);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let i = c;
    for (; i + 16 <= ce; i += 16) {
      const o = <usize>i << 2;
      const e0 = exp4ftzNonPos(f32x4.sub(v128.load(x + o, 0), mv));
      const e1 = exp4ftzNonPos(f32x4.sub(v128.load(x + o, 16), mv));
      const e2 = exp4ftzNonPos(f32x4.sub(v128.load(x + o, 32), mv));
      const e3 = exp4ftzNonPos(f32x4.sub(v128.load(x + o, 48), mv));
      if (store) {
        v128.store(y + o, e0, 0);
        v128.store(y + o, e1, 16);
        v128.store(y + o, e2, 32);
        v128.store(y + o, e3, 48);
      }
      a0 = f32x4.add(a0, e0);
      a1 = f32x4.add(a1, e1);
      a2 = f32x4.add(a2, e2);
      a3 = f32x4.add(a3, e3);
    }
    for (; i + 4 <= ce; i += 4) {
      const o = <usize>i << 2;
      const e = exp4ftzNonPos(f32x4.sub(v128.load(x + o), mv));
      if (store) v128.store(y + o, e);
      a0 = f32x4.add(a0, e);
    }
    if (i < ce) {
      const o = <usize>i << 2;
      // padding lanes hold −Inf: exp(−Inf − m) = 0 adds nothing
      const e = exp4ftzNonPos(f32x4.sub(loadPartial(x + o, ce - i, -Infinity), mv));
      if (store) storePartial(y + o, e, ce - i);
      a1 = f32x4.add(a1, e);
    }
    s += hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  }
  return s;
}

/** Σ_j a_j·b_j (b ≠ 0) or Σ_j a_j (b = 0) over a row, in the same chunk order as sumExp. */
// @ts-ignore: decorator
@inline function rowDot(a: usize, b: usize, V: i32, dot: bool): f32 {
  let s: f32 = 0;
  for (let c = 0; c < V; c += ROW_CHUNK) {
    const ce = min(V, c + ROW_CHUNK);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let i = c;
    for (; i + 16 <= ce; i += 16) {
      const o = <usize>i << 2;
      if (dot) {
        a0 = f32x4.add(a0, f32x4.mul(v128.load(a + o, 0), v128.load(b + o, 0)));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(a + o, 32), v128.load(b + o, 32)));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(a + o, 48), v128.load(b + o, 48)));
      } else {
        a0 = f32x4.add(a0, v128.load(a + o, 0));
        a1 = f32x4.add(a1, v128.load(a + o, 16));
        a2 = f32x4.add(a2, v128.load(a + o, 32));
        a3 = f32x4.add(a3, v128.load(a + o, 48));
      }
    }
    for (; i + 4 <= ce; i += 4) {
      const o = <usize>i << 2;
      a0 = f32x4.add(a0, dot ? f32x4.mul(v128.load(a + o), v128.load(b + o)) : v128.load(a + o));
    }
    if (i < ce) {
      const o = <usize>i << 2;
      const va = loadPartial(a + o, ce - i, 0);
      a1 = f32x4.add(a1, dot ? f32x4.mul(va, loadPartial(b + o, ce - i, 0)) : va);
    }
    s += hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  }
  return s;
}

/** Fills a row with NaN (the contract's answer for NaN, +Inf and all −Inf rows). */
function fillNaN(y: usize, V: i32): void {
  const v = f32x4.splat(NaN);
  let i = 0;
  for (; i + 4 <= V; i += 4) v128.store(y + (<usize>i << 2), v);
  for (; i < V; i++) store<f32>(y + (<usize>i << 2), NaN);
}

/** True when m is NaN or ±Inf: the row has no finite normaliser. */
// @ts-ignore: decorator
@inline export function special(m: f32): bool {
  return !(abs(m) < Infinity);
}

/**
 * lse[r] = m + log Σ exp(x − m) for rows [r0, r1) of x (N, V), V ≥ 1.
 * NaN row → NaN; +Inf present → +Inf; all −Inf → −Inf (m itself).
 */
export function logsumexp_rows(x: usize, lse: usize, V: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const xr = x + ((<usize>r * <usize>V) << 2);
    const m = rowMax(xr, V);
    let l = m;
    if (!special(m)) l = m + log1(sumExp(xr, 0, V, m, false));
    store<f32>(lse + (<usize>r << 2), l);
  }
}

/** y = softmax(x) for rows [r0, r1) of x, y (N, V); y may not alias x. */
export function softmax_rows(x: usize, y: usize, V: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const off = (<usize>r * <usize>V) << 2;
    const xr = x + off;
    const yr = y + off;
    const m = rowMax(xr, V);
    if (special(m)) {
      fillNaN(yr, V);
      continue;
    }
    const s = sumExp(xr, yr, V, m, true);
    const rs = f32x4.splat(<f32>1.0 / s);
    let i = 0;
    for (; i + 4 <= V; i += 4) {
      const o = yr + (<usize>i << 2);
      v128.store(o, f32x4.mul(v128.load(o), rs));
    }
    for (; i < V; i++) {
      const o = yr + (<usize>i << 2);
      store<f32>(o, load<f32>(o) * f32x4.extract_lane(rs, 0));
    }
  }
}

/** y = logSoftmax(x) = (x − m) − log s for rows [r0, r1); y may alias x. */
export function logsoftmax_rows(x: usize, y: usize, V: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const off = (<usize>r * <usize>V) << 2;
    const xr = x + off;
    const yr = y + off;
    const m = rowMax(xr, V);
    if (special(m)) {
      fillNaN(yr, V);
      continue;
    }
    const ls = log1(sumExp(xr, 0, V, m, false));
    const mv = f32x4.splat(m);
    const lv = f32x4.splat(ls);
    let i = 0;
    for (; i + 4 <= V; i += 4) {
      const o = <usize>i << 2;
      v128.store(yr + o, f32x4.sub(f32x4.sub(v128.load(xr + o), mv), lv));
    }
    for (; i < V; i++) {
      const o = <usize>i << 2;
      store<f32>(yr + o, (load<f32>(xr + o) - m) - ls);
    }
  }
}

/** dx = y·(dy − Σ y·dy) for rows [r0, r1) (softmax backward). */
export function softmax_bwd_rows(dy: usize, y: usize, dx: usize, V: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const off = (<usize>r * <usize>V) << 2;
    const c = rowDot(y + off, dy + off, V, true);
    const cv = f32x4.splat(c);
    let i = 0;
    for (; i + 4 <= V; i += 4) {
      const o = off + (<usize>i << 2);
      v128.store(dx + o, f32x4.mul(v128.load(y + o), f32x4.sub(v128.load(dy + o), cv)));
    }
    for (; i < V; i++) {
      const o = off + (<usize>i << 2);
      store<f32>(dx + o, load<f32>(y + o) * (load<f32>(dy + o) - c));
    }
  }
}

/** dx = dy − exp(y)·Σ dy for rows [r0, r1) (logSoftmax backward). */
export function logsoftmax_bwd_rows(dy: usize, y: usize, dx: usize, V: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const off = (<usize>r * <usize>V) << 2;
    const S = rowDot(dy + off, 0, V, false);
    const sv = f32x4.splat(S);
    let i = 0;
    for (; i + 4 <= V; i += 4) {
      const o = off + (<usize>i << 2);
      v128.store(dx + o, f32x4.sub(v128.load(dy + o), f32x4.mul(exp4ftz(v128.load(y + o)), sv)));
    }
    if (i < V) {
      const o = off + (<usize>i << 2);
      const k = V - i;
      storePartial(dx + o, f32x4.sub(loadPartial(dy + o, k, 0), f32x4.mul(exp4ftz(loadPartial(y + o, k, 0)), sv)), k);
    }
  }
}

/** dx = dlse[r]·exp(x − lse[r]) for rows [r0, r1) (logSumExp backward). */
export function logsumexp_bwd_rows(dlse: usize, x: usize, lse: usize, dx: usize, V: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const off = (<usize>r * <usize>V) << 2;
    const g = f32x4.splat(load<f32>(dlse + (<usize>r << 2)));
    const l = f32x4.splat(load<f32>(lse + (<usize>r << 2)));
    let i = 0;
    for (; i + 4 <= V; i += 4) {
      const o = off + (<usize>i << 2);
      v128.store(dx + o, f32x4.mul(g, exp4ftz(f32x4.sub(v128.load(x + o), l))));
    }
    if (i < V) {
      const o = off + (<usize>i << 2);
      const k = V - i;
      storePartial(dx + o, f32x4.mul(g, exp4ftz(f32x4.sub(loadPartial(x + o, k, 0), l))), k);
    }
  }
}
