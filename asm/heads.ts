/**
 * Head layout permutations of src/kernels/heads.ts, as copies of hs-word
 * runs (integer loads and stores, so every value, NaN payloads included,
 * arrives unchanged). Work is split over the (b, t) rows [r0, r1).
 *
 *   split:    qkv (B, T, 3C) → q, k, v (B, NH, T, hs)
 *   merge:    y (B, NH, T, hs) → (B, T, C)
 *   unsplit:  q, k, v (B, NH, T, hs) → (B, T, 3C)   (splitHeads backward)
 *   unmerge:  (B, T, C) → (B, NH, T, hs)           (mergeHeads backward)
 * with C = NH·hs.
 */
import { copyWords } from './lanes';

/**
 * Copies between a (B, T, P·C) row-major tensor `wide` and P head-major
 * tensors parts[p] (B, NH, T, hs), for rows bt ∈ [r0, r1). `toHeads` chooses
 * the direction. parts are given as up to three pointers (P = 1 or 3).
 */
function permute(toHeads: bool, wide: usize, p0: usize, p1: usize, p2: usize, P: i32, T: i32, NH: i32, hs: i32, r0: i32, r1: i32): void {
  const C = NH * hs;
  for (let bt = r0; bt < r1; bt++) {
    const b = bt / T;
    const t = bt - b * T;
    const rowW = wide + ((<usize>bt * <usize>(P * C)) << 2);
    for (let p = 0; p < P; p++) {
      const part = p == 0 ? p0 : p == 1 ? p1 : p2;
      for (let h = 0; h < NH; h++) {
        const w = rowW + (<usize>(p * C + h * hs) << 2);
        const hd = part + ((((<usize>(b * NH + h) * <usize>T) + <usize>t) * <usize>hs) << 2);
        if (toHeads) copyWords(w, hd, hs);
        else copyWords(hd, w, hs);
      }
    }
  }
}

export function split_heads(qkv: usize, q: usize, k: usize, v: usize, T: i32, NH: i32, hs: i32, r0: i32, r1: i32): void {
  permute(true, qkv, q, k, v, 3, T, NH, hs, r0, r1);
}

export function unsplit_heads(q: usize, k: usize, v: usize, dqkv: usize, T: i32, NH: i32, hs: i32, r0: i32, r1: i32): void {
  permute(false, dqkv, q, k, v, 3, T, NH, hs, r0, r1);
}

export function merge_heads(y: usize, out: usize, T: i32, NH: i32, hs: i32, r0: i32, r1: i32): void {
  permute(false, out, y, 0, 0, 1, T, NH, hs, r0, r1);
}

export function unmerge_heads(x: usize, dy: usize, T: i32, NH: i32, hs: i32, r0: i32, r1: i32): void {
  permute(true, x, dy, 0, 0, 1, T, NH, hs, r0, r1);
}
