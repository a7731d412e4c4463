/**
 * Storage rounding float32 → a narrower format (float16, bfloat16, float8 and
 * any format whose values and subnormal grid fit in float32 with at most 22
 * fraction bits), bit-identical to `roundArray` of src/precision/round.ts
 * (its `roundF32Words`, of which the float16 and bfloat16 loops there are
 * specialisations), four words at a time. The host computes the format's
 * constants (src/backends/wasm/runtime.ts, `castConstants`) and passes them
 * in `k` as nine i32 words:
 *   [drop, halfM1, keepMask, minNormalBits, overflowBits, maxFiniteBits, ovf,
 *    halfMinSubBits, subC]
 * drop = 23 − M dropped fraction bits; halfM1 = 2^(drop−1) − 1; keepMask
 * clears the dropped bits; minNormalBits, overflowBits, maxFiniteBits and
 * halfMinSubBits are float32 bit patterns of the format's min normal, 2^(emax+1),
 * max finite and minSubnormal/2; ovf the pattern an overflow becomes (Inf,
 * maxFinite when saturating, or a quiet NaN for a format without Inf);
 * subC the float32 bits of minSubnormal·2^23.
 *
 * Per word u, with a = |u|:
 *   a ≥ overflowBits: NaN (a > Inf) stays NaN, sign and payload kept, made
 *     quiet (u | 0x400000); otherwise ±ovf;
 *   a ≥ minNormalBits: integer round-to-nearest-even of the dropped bits,
 *     r = (a + halfM1 + lsb) & keepMask (a carry moves to the next binade);
 *     r > maxFiniteBits overflows;
 *   a ≤ halfMinSubBits: ±0 (the tie at half the smallest subnormal goes to 0);
 *   otherwise (the format's subnormal range, a quantum q = minSubnormal):
 *     r = (|x| + C) − C with C = q·2^23 in float32. For |x| < q·2^22 ≤ C the
 *     sum lies in [C, 2C), where float32's spacing is exactly q, so the addition
 *     is |x| rounded to a multiple of q, ties to even (C/q = 2^23 is even),
 *     and the subtraction is exact: the same value round.ts computes in
 *     float64 with C·2^29.
 */

/** Rounds n float32 words from src into dst (dst may be src). */
export function cast_f32(src: usize, dst: usize, k: usize, i0: i32, i1: i32): void {
  const drop = load<i32>(k, 0);
  const halfM1 = i32x4.splat(load<i32>(k, 4));
  const keepMask = i32x4.splat(load<i32>(k, 8));
  const minNormal = i32x4.splat(load<i32>(k, 12));
  const overflow = i32x4.splat(load<i32>(k, 16));
  const maxFinite = i32x4.splat(load<i32>(k, 20));
  const ovf = i32x4.splat(load<i32>(k, 24));
  const halfMinSub = i32x4.splat(load<i32>(k, 28));
  const subC = v128.load32_splat(k, 32);
  const absMask = i32x4.splat(0x7fffffff);
  const signMask = i32x4.splat(0x80000000);
  const inf = i32x4.splat(0x7f800000);
  const quiet = i32x4.splat(0x00400000);
  const one = i32x4.splat(1);
  for (let i = i0; i < i1; i += 4) {
    const o = <usize>i << 2;
    const n = i1 - i;
    let u: v128;
    if (n >= 4) u = v128.load(src + o);
    else {
      u = i32x4.splat(0);
      u = i32x4.replace_lane(u, 0, load<i32>(src + o));
      if (n > 1) u = i32x4.replace_lane(u, 1, load<i32>(src + o, 4));
      if (n > 2) u = i32x4.replace_lane(u, 2, load<i32>(src + o, 8));
    }
    const a = v128.and(u, absMask);
    const sign = v128.and(u, signMask);
    // normal range: integer rounding of the dropped bits
    const lsb = v128.and(i32x4.shr_u(a, drop), one);
    const r = v128.and(i32x4.add(i32x4.add(a, halfM1), lsb), keepMask);
    const rn = v128.bitselect(ovf, r, i32x4.gt_s(r, maxFinite));
    // subnormal range of the format: float32 add-and-subtract at quantum q
    const rs = f32x4.sub(f32x4.add(a, subC), subC);
    // the overflow / NaN range
    const big = v128.bitselect(v128.or(u, quiet), v128.or(sign, ovf), i32x4.gt_s(a, inf));
    let res = v128.or(sign, v128.bitselect(rn, rs, i32x4.ge_s(a, minNormal)));
    res = v128.bitselect(sign, res, i32x4.le_s(a, halfMinSub));
    res = v128.bitselect(big, res, i32x4.ge_s(a, overflow));
    if (n >= 4) v128.store(dst + o, res);
    else {
      store<i32>(dst + o, i32x4.extract_lane(res, 0));
      if (n > 1) store<i32>(dst + o, i32x4.extract_lane(res, 1), 4);
      if (n > 2) store<i32>(dst + o, i32x4.extract_lane(res, 2), 8);
    }
  }
}
