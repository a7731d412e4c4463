/**
 * Small helpers shared by the phase-2 kernels: lane masks for the last
 * partial vector of a row, bit-preserving copies, and the chunked row sum
 * whose order the shared bounds assume.
 */

/** 1.0 in the lanes below k (0 ≤ k ≤ 4) and 0 elsewhere, as an all-ones/all-zeros i32 mask. */
// @ts-ignore: decorator
@inline export function laneMask(k: i32): v128 {
  return i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(k));
}

/** The first k (1 ≤ k ≤ 4) floats at p, zeros in the other lanes; never reads past p + 4k. */
// @ts-ignore: decorator
@inline export function loadK(p: usize, k: i32): v128 {
  if (k >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (k > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (k > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Stores lanes 0..k−1 of v at p (1 ≤ k ≤ 4). */
// @ts-ignore: decorator
@inline export function storeK(p: usize, v: v128, k: i32): void {
  if (k >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (k > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (k > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** Copies n 32-bit words from src to dst as integers (NaN payloads kept). */
// @ts-ignore: decorator
@inline export function copyWords(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < n; i++) store<i32>(dst + (<usize>i << 2), load<i32>(src + (<usize>i << 2)));
}

/** Horizontal sum ((l0 + l1) + (l2 + l3)). */
// @ts-ignore: decorator
@inline export function hsum4(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** The shared row chunk (ROW_CHUNK of src/kernels/bounds.ts). */
export const SUM_CHUNK: i32 = 256;

/**
 * Σ_{i<n} x[i] in the shared chunk order: chunks of SUM_CHUNK summed by 4
 * accumulators of 4 lanes (≤ 19 roundings per term inside a chunk, see
 * asm/softmax.ts), chunk partials added in order. Depth ≤ sumDepth(n).
 */
export function sumChunked(x: usize, n: i32): f32 {
  let s: f32 = 0;
  for (let c = 0; c < n; c += SUM_CHUNK) {
    const ce = min(n, c + SUM_CHUNK);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let i = c;
    for (; i + 16 <= ce; i += 16) {
      const o = x + (<usize>i << 2);
      a0 = f32x4.add(a0, v128.load(o, 0));
      a1 = f32x4.add(a1, v128.load(o, 16));
      a2 = f32x4.add(a2, v128.load(o, 32));
      a3 = f32x4.add(a3, v128.load(o, 48));
    }
    for (; i + 4 <= ce; i += 4) a0 = f32x4.add(a0, v128.load(x + (<usize>i << 2)));
    let t: f32 = hsum4(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
    // the last ≤ 3 terms one by one: 3 more roundings at most
    for (; i < ce; i++) t += load<f32>(x + (<usize>i << 2));
    s += t;
  }
  return s;
}
