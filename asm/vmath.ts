/**
 * Vectorised float32 math on f32x4 lanes: exp, log, tanh, erf.
 *
 * Every function is written from its definition; the polynomial coefficients
 * were derived for this file by scripts/wasm/remez.ts (Remez exchange in
 * float64, coefficients rounded to float32 one by one with the rest re-fitted;
 * run it to reproduce the numbers below). Measured worst errors over all 2^32
 * inputs are in docs/wasm-math-ulp.md (scripts/wasm/ulp-sweep.ts).
 *
 * Conventions: + − × are the wasm f32x4 opcodes (correctly rounded, no FMA, no
 * flush of subnormals). `pmin`/`pmax` are the wasm pseudo-min/max
 * (b < a ? b : a), which compile to one minps/maxps and pass a NaN in the
 * first operand through unchanged; that is how NaN survives the clamps below.
 */

// ---------------------------------------------------------------------------
// exp
// ---------------------------------------------------------------------------

/** log2(e) rounded to float32; only chooses n, so its rounding does not matter. */
const LOG2E: f32 = 1.44269502162933349609375;
/** ln 2 = LN2_HI + LN2_LO. LN2_HI has 15 significant bits, so n·LN2_HI is exact for |n| < 2^8. */
const LN2_HI: f32 = 0.693145751953125;
const LN2_LO: f32 = 1.428606765330187e-6;
/** Inputs are clamped to [EXP_LO, EXP_HI]: exp(89) overflows and exp(−104) rounds to 0 in float32. */
const EXP_HI: f32 = 89.0;
const EXP_LO: f32 = -104.0;
/** exp(x) rounds to +0 for x ≤ −103.97208404541016 (0xc2cff1b5): the first float below ln(2^-150). */
const EXP_ZERO: f32 = -103.97208404541016;
/** 1.5·2^23: for |y| < 2^22, fl(y + SHIFTER) − SHIFTER is y rounded to the nearest integer (ties to even). */
const SHIFTER: f32 = 12582912.0;
const SHIFTER_BITS: i32 = 0x4b400000;
// exp(r) = 1 + r + r²·(E0 + E1·r + E2·r² + E3·r³ + E4·r⁴) on |r| ≤ ln2/2, relative error 3.2e-9 (2^-28.2)
const E0: f32 = 0.499999940; // 0x3efffffe
const E1: f32 = 0.166665167; // 0x3e2aaa46
const E2: f32 = 0.0416681021; // 0x3d2aac2c
const E3: f32 = 0.00836919248; // 0x3c091ef0
const E4: f32 = 0.00138388947; // 0x3ab563a0

/**
 * exp(x) per lane.
 *
 * Range reduction: n = round(x·log2 e) (by the 1.5·2^23 shifter, which
 * leaves n in the low mantissa bits for the reconstruction), r = (x − n·LN2_HI) − n·LN2_LO. The
 * first subtraction is exact (Sterbenz: x and n·LN2_HI are within a factor 2
 * of each other for n ≠ 0), so r carries one rounding. |r| ≤ ln2/2 (+ 2^-16
 * from rounding x·log2 e).
 * Reconstruction: exp(x) = p·2^n. When 2^n is a normal float in every lane
 * (n ∈ [−126, 127], i.e. x ∈ ~[−87.7, 88.4]: nearly always, and always for
 * softmax's x − max ≥ −87.3) x needs no clamp and one product suffices.
 * Otherwise `expSlow` clamps x to [−104, 89] (n ∈ [−150, 129]) and scales by
 * (p·2^⌊n/2⌋)·2^(n−⌊n/2⌋): both factors are normal floats, the first product
 * is exact and the second rounds once, so subnormal results are rounded once
 * and overflow happens in the last product, exactly where float32 overflows.
 * The branch is per vector of 4 lanes; both paths give the same bits where
 * both apply, so the result of a lane never depends on its neighbours.
 *
 * Special cases: exp(±0) = 1; exp(+Inf) = +Inf; exp(−Inf) = +0; exp(NaN) = NaN;
 * exp(x) = +Inf for x ≥ 88.72283935546875 (0x42b17218), finite for
 * x ≤ 88.72283172607422 (0x42b17217); exp(x) = 2^-149 at x = −103.97207641601562
 * (0xc2cff1b4) and 0 from −103.97208404541016 (0xc2cff1b5) down.
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  // fast path, no clamp: when every lane has 2^n normal, x was in range
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(SHIFTER));
  // n + 127, the biased exponent of 2^n (garbage, and outside [1, 254], for NaN, ±Inf and |x| ≥ 2^21)
  const e = i32x4.sub(t, i32x4.splat(SHIFTER_BITS - 127));
  const outside = v128.or(i32x4.lt_s(e, i32x4.splat(1)), i32x4.gt_s(e, i32x4.splat(254)));
  if (!v128.any_true(outside)) return f32x4.mul(expPoly(x, f32x4.sub(t, f32x4.splat(SHIFTER))), i32x4.shl(e, 23));
  return expSlow(x);
}

/** ln(FLT_MIN) = −87.33654475…, rounded up to float32 (0xc2aeac50): below it exp(x) < FLT_MIN. */
const EXP_FTZ_LO: f32 = -87.33654022216797;

/**
 * exp(x) per lane with results below FLT_MIN flushed to +0, for the
 * softmax-family row kernels (softmax, logSoftmax, logSumExp, cross-entropy,
 * their backward passes). Their terms exp(x_j − m) ≤ 1 are summed and scaled,
 * and a term below FLT_MIN changes a row sum ≥ 1 by less than FLT_MIN: the
 * bounds' `tiny` terms (the wasm model's tiny is FLT_MIN) cover it, as they
 * cover GL's flushing. Why: a vector with one lane far below the row max
 * (masked entries, logits 90 below the max) would otherwise leave exp4's fast
 * path, and x86 takes a microcode assist for each product or sum with a
 * subnormal operand (measured on softmax (1024, 4096) with one logit of 90 per
 * row: 21.5 ms against 8.0 ms on smooth rows, one thread). XNNPACK's softmax
 * flushes at the same threshold.
 *
 * Lanes with x < EXP_FTZ_LO (−Inf included) are +0; every other lane is
 * exp4(x) bit for bit (≤ 1 ULP). No result is subnormal: at x = EXP_FTZ_LO the
 * exact exp exceeds FLT_MIN by a relative 4.5e-6, far more than 1 ULP, and the
 * fast path's p·2^-126 has p ≥ 1 there. NaN gives NaN, +Inf gives +Inf.
 */
// @ts-ignore: decorator
@inline export function exp4ftz(x: v128): v128 {
  // low lanes (−Inf included) go through exp4 as 0, which keeps the vector on its fast path, and are zeroed
  const low = f32x4.lt(x, f32x4.splat(EXP_FTZ_LO));
  return v128.andnot(exp4(v128.andnot(x, low)), low);
}

/**
 * exp4ftz for arguments known to be ≤ 0 or −Inf, never NaN or positive: the
 * softmax family's x − max over a row whose max is finite. There n ∈ [−126, 0]
 * for every lane at or above EXP_FTZ_LO, so no lane can leave the fast path
 * and the range test and its branch go; lanes below EXP_FTZ_LO compute
 * garbage (never a subnormal: the scale has a zero mantissa) and are zeroed.
 * Bit for bit exp4ftz on its domain (test/wasm/vmath.test.ts checks it on the
 * dense sweep's non-positive half). Measured on softmax (64, 50304), one
 * thread: see bench/NOTES.md.
 */
// @ts-ignore: decorator
@inline export function exp4ftzNonPos(x: v128): v128 {
  const low = f32x4.lt(x, f32x4.splat(EXP_FTZ_LO));
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(SHIFTER));
  const e = i32x4.sub(t, i32x4.splat(SHIFTER_BITS - 127));
  return v128.andnot(f32x4.mul(expPoly(x, f32x4.sub(t, f32x4.splat(SHIFTER))), i32x4.shl(e, 23)), low);
}

/** exp(r)·… part shared by both paths: p ≈ exp(x − n·ln 2) for the integer-valued float n. */
// @ts-ignore: decorator
@inline function expPoly(x: v128, n: v128): v128 {
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let q = f32x4.add(f32x4.mul(r, f32x4.splat(E4)), f32x4.splat(E3));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(E2));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(E1));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(E0));
  return f32x4.add(f32x4.splat(1.0), f32x4.add(r, f32x4.mul(f32x4.mul(r, r), q)));
}

/** 2^23 and its bit pattern: for 0 ≤ t < 2^23, fl(t + 2^23) − 2^23 is t rounded to an integer, ties to even. */
const TWO23_F: f32 = 8388608.0;
const TWO23_BITS: i32 = 0x4b000000;

/**
 * The general path: clamp to [EXP_LO, EXP_HI] (NaN passes), reduce, and
 * scale. Lanes with 2^n normal (n ≥ −126) scale by two normal factors
 * 2^⌊n/2⌋·2^(n−⌊n/2⌋), so overflow happens in the last product, where float32
 * overflows. Lanes with n ≤ −127, whose result p·2^n is subnormal, build it
 * without subnormal arithmetic: t = p·2^(n+149) is exact (a normal product,
 * t < 1.42·2^22), and its nearest integer k (ties to even, by the 2^23
 * shifter) is the subnormal's bit pattern (value k·2^-149; k = 2^23 is
 * FLT_MIN's pattern). That is the rounding a multiply into the subnormal range
 * performs, so the bits are the same as (p·2^⌊n/2⌋)·2^(n−⌊n/2⌋) gave before,
 * but x86 takes a microcode assist for every product with a subnormal result
 * (measured: softmax rows whose max is ~100 above most entries, where nearly
 * every exp is subnormal, ran ~10× slower than rows without).
 */
function expSlow(x: v128): v128 {
  // lanes whose exp rounds to +0 compute from x = 0 and are zeroed at the end
  const zero = f32x4.le(x, f32x4.splat(EXP_ZERO));
  const xc = v128.andnot(f32x4.pmax(f32x4.pmin(x, f32x4.splat(EXP_HI)), f32x4.splat(EXP_LO)), zero);
  const t = f32x4.add(f32x4.mul(xc, f32x4.splat(LOG2E)), f32x4.splat(SHIFTER));
  const p = expPoly(xc, f32x4.sub(t, f32x4.splat(SHIFTER)));
  // a NaN lane makes ni garbage here, but p is NaN and so is the result
  const ni = i32x4.sub(t, i32x4.splat(SHIFTER_BITS));
  // subnormal results (n ≤ −127, i.e. n + 149 ≤ 22): 2^(n+149) is normal for n ≥ −150
  // (a NaN lane keeps `normal`, which is NaN: its ni is garbage, so the test includes p = p)
  const sub = v128.and(i32x4.lt_s(ni, i32x4.splat(-126)), f32x4.eq(p, p));
  // each lane computes only its own kind of result: the other product takes n = 0 (normal) or
  // n + 149 = 0 (subnormal), so no lane ever multiplies into the subnormal range
  const nn = v128.andnot(ni, sub);
  const n1 = i32x4.shr_s(nn, 1);
  const n2 = i32x4.sub(nn, n1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23);
  const normal = f32x4.mul(f32x4.mul(p, s1), s2);
  const scale = i32x4.shl(i32x4.add(v128.bitselect(ni, i32x4.splat(-149), sub), i32x4.splat(149 + 127)), 23);
  const k = i32x4.sub(f32x4.add(f32x4.mul(p, scale), f32x4.splat(TWO23_F)), i32x4.splat(TWO23_BITS));
  return v128.andnot(v128.bitselect(k, normal, sub), zero);
}

// ---------------------------------------------------------------------------
// log
// ---------------------------------------------------------------------------

/** Reduction of the mantissa to [√½, √2): SQRT_HALF_BITS is the bit pattern of fround(√½). */
const SQRT_HALF_BITS: i32 = 0x3f3504f3;
const ONE_BITS: i32 = 0x3f800000;
/** 2^23, to scale subnormal inputs into the normal range. */
const TWO23: f32 = 8388608.0;
const MIN_NORMAL: f32 = 1.17549435e-38;
// log(1 + f) = f − (f²/2 − s·(f²/2 + R)), s = f/(2 + f), R = L1·z + L2·z² + L3·z³ with z = s²,
// |s| ≤ 0.1716; error of R relative to log(1 + f): 8.1e-10 (2^-30.2)
const L1: f32 = 0.666667759; // 0x3f2aaabd
const L2: f32 = 0.399775863; // 0x3eccaf6c
const L3: f32 = 0.298706949; // 0x3e98f01e

/**
 * log(x) per lane.
 *
 * Reduction: x = 2^e·m with m ∈ [√½, √2) (subnormal x is first scaled by 2^23),
 * f = m − 1 exactly. Then log(1 + f) = 2·atanh(s) with s = f/(2 + f), written as
 * f − (f²/2 − s·(f²/2 + R(s²))): the identity f − 2s = s·f makes the large part
 * f exact and leaves the rounding of s (two roundings) multiplied by the small
 * correction s·(f²/2 + R), below 0.04·f. Finally e·LN2_HI (exact: 15 × 8 bits)
 * is added last and e·LN2_LO inside the correction.
 *
 * Special cases: log(±0) = −Inf; log(x < 0) = NaN; log(−Inf) = NaN;
 * log(+Inf) = +Inf; log(1) = +0; log(NaN) = NaN; subnormal x gives its finite
 * logarithm (log(2^-149) = −103.27893).
 */
// @ts-ignore: decorator
@inline export function log4(x: v128): v128 {
  const sub = f32x4.lt(x, f32x4.splat(MIN_NORMAL));
  const xs = v128.bitselect(f32x4.mul(x, f32x4.splat(TWO23)), x, sub);
  const eAdj = v128.and(sub, i32x4.splat(23));
  // shifting the exponent boundary from 1 to √½: ix − (√½ bits) has the exponent of m/√½
  const ix = i32x4.sub(xs, i32x4.splat(SQRT_HALF_BITS));
  const e = i32x4.sub(i32x4.shr_s(ix, 23), eAdj);
  const mBits = i32x4.add(v128.and(ix, i32x4.splat(0x007fffff)), i32x4.splat(SQRT_HALF_BITS));
  const f = f32x4.sub(mBits, f32x4.splat(1.0));
  const s = f32x4.div(f, f32x4.add(f32x4.splat(2.0), f));
  const z = f32x4.mul(s, s);
  let R = f32x4.add(f32x4.mul(z, f32x4.splat(L3)), f32x4.splat(L2));
  R = f32x4.add(f32x4.mul(R, z), f32x4.splat(L1));
  R = f32x4.mul(R, z);
  const hfsq = f32x4.mul(f32x4.mul(f32x4.splat(0.5), f), f);
  const dk = f32x4.convert_i32x4_s(e);
  // f − (hfsq − (s·(hfsq + R) + dk·LN2_LO)) + dk·LN2_HI
  const corr = f32x4.add(f32x4.mul(s, f32x4.add(hfsq, R)), f32x4.mul(dk, f32x4.splat(LN2_LO)));
  let y = f32x4.add(f32x4.sub(f, f32x4.sub(hfsq, corr)), f32x4.mul(dk, f32x4.splat(LN2_HI)));
  // special values, in increasing priority
  y = v128.bitselect(f32x4.splat(Infinity), y, f32x4.eq(x, f32x4.splat(Infinity)));
  y = v128.bitselect(f32x4.splat(-Infinity), y, f32x4.eq(x, f32x4.splat(0.0)));
  const bad = v128.or(f32x4.lt(x, f32x4.splat(0.0)), f32x4.ne(x, x));
  return v128.bitselect(f32x4.splat(NaN), y, bad);
}

// ---------------------------------------------------------------------------
// tanh
// ---------------------------------------------------------------------------

const SIGN_MASK: i32 = 0x80000000;
/** Below this |x| the odd polynomial is used, above it 1 − 2/(exp(2|x|) + 1). */
const TANH_POLY_MAX: f32 = 0.625;
// tanh(x) = x + x³·(T0 + T1·x² + T2·x⁴ + T3·x⁶ + T4·x⁸) on |x| ≤ 0.625, relative error 4.5e-9 (2^-27.7)
const T0: f32 = -0.333332807; // 0xbeaaaa99
const T1: f32 = 0.133314058; // 0x3e08837b
const T2: f32 = -0.0537365153; // 0xbd5c1ad2
const T3: f32 = 0.0206281673; // 0x3ca8fc67
const T4: f32 = -0.00569229620; // 0xbbba8671

/**
 * tanh(x) per lane, computed on |x| and given the sign of x (so it is odd
 * exactly). |x| ≤ 0.625: the polynomial (its rounding errors are relative to
 * x³/3 ≤ 0.13·x). |x| > 0.625: 1 − 2/(exp(2|x|) + 1), where tanh ≥ 0.55 so
 * the error of exp (relative) reaches the result scaled by at most
 * 2e/(e + 1)²/tanh ≤ 0.64.
 *
 * Special cases: tanh(±0) = ±0; tanh(±Inf) = ±1; tanh(NaN) = NaN; tanh(x) = ±1
 * exactly for |x| ≥ 9.010913848876953 (0x41102cb4), where the correctly
 * rounded tanh becomes 1 too; tiny and subnormal x return x.
 */
// @ts-ignore: decorator
@inline export function tanh4(x: v128): v128 {
  const sign = v128.and(x, i32x4.splat(SIGN_MASK));
  const a = v128.andnot(x, i32x4.splat(SIGN_MASK));
  const a2 = f32x4.mul(a, a);
  let q = f32x4.add(f32x4.mul(a2, f32x4.splat(T4)), f32x4.splat(T3));
  q = f32x4.add(f32x4.mul(q, a2), f32x4.splat(T2));
  q = f32x4.add(f32x4.mul(q, a2), f32x4.splat(T1));
  q = f32x4.add(f32x4.mul(q, a2), f32x4.splat(T0));
  const small = f32x4.add(a, f32x4.mul(f32x4.mul(a, a2), q));
  const e = exp4(f32x4.add(a, a));
  const large = f32x4.sub(f32x4.splat(1.0), f32x4.div(f32x4.splat(2.0), f32x4.add(e, f32x4.splat(1.0))));
  const t = v128.bitselect(small, large, f32x4.le(a, f32x4.splat(TANH_POLY_MAX)));
  return v128.or(t, sign);
}

// ---------------------------------------------------------------------------
// erf
// ---------------------------------------------------------------------------

/** Below this |x| erf(x) = x + x·q(x²); above it 1 − exp(−x²)·h(x). */
const ERF_POLY_MAX: f32 = 1.0;
/** erf(x) rounds to 1 in float32 from x = 3.9192059 (erfc < 2^-25); h is fitted up to here. */
const ERF_ONE: f32 = 3.9375;
// erf(x) = x + x·(P0 + P1·x² + … + P6·x¹²) on |x| ≤ 1, relative error 1.4e-9 (2^-29.4)
const P0: f32 = 0.128379166; // 0x3e0375d4
const P1: f32 = -0.376126260; // 0xbec0939f
const P2: f32 = 0.112835787; // 0x3de71673
const P3: f32 = -0.0268533472; // 0xbcdbfb8d
const P4: f32 = 0.00518716220; // 0x3ba9f912
const P5: f32 = -0.000799785310; // 0xba51a8af
const P6: f32 = 0.0000780690389; // 0x38a3b8ff
// erfc(x)·exp(x²) = H0 + H1·x + … + H9·x⁹ on [1, 3.9375], error of erf 5.4e-10 (2^-30.8)
const H0: f32 = 0.995775402; // 0x3f7eeb23
const H1: f32 = -1.09979367; // 0xbf8cc60a
const H2: f32 = 0.912154675; // 0x3f6982f8
const H3: f32 = -0.589048445; // 0xbf16cbe1
const H4: f32 = 0.293462604; // 0x3e9640bb
const H5: f32 = -0.109622493; // 0xbde081c2
const H6: f32 = 0.0294301212; // 0x3cf11770
const H7: f32 = -0.00532442005; // 0xbbae7879
const H8: f32 = 0.000578154286; // 0x3a178f47
const H9: f32 = -0.0000283494337; // 0xb7edcff2

/**
 * erf(x) per lane, computed on |x| and given the sign of x (odd exactly).
 * |x| ≤ 1: x + x·q(x²). Writing 2/√π as 1 + q(0) keeps the leading
 * coefficient's float32 rounding 8× smaller than storing 1.128… itself.
 * |x| > 1: 1 − exp(−x²)·h(x) with h ≈ erfc(x)·e^{x²}; erfc ≤ 0.16 there,
 * so the errors of exp, h and of rounding x² are scaled by erfc/erf ≤ 0.19.
 *
 * Special cases: erf(±0) = ±0; erf(±Inf) = ±1; erf(NaN) = NaN; erf(x) = ±1
 * exactly for |x| ≥ 3.9174464 (0x407ab771; the correctly rounded erf is 1 from
 * 3.9192059, 0x407ad445: within the 1 ULP bound); tiny and subnormal x give
 * fl(x + 0.128·x).
 */
// @ts-ignore: decorator
@inline export function erf4(x: v128): v128 {
  const sign = v128.and(x, i32x4.splat(SIGN_MASK));
  const a = v128.andnot(x, i32x4.splat(SIGN_MASK));
  const a2 = f32x4.mul(a, a);
  let q = f32x4.add(f32x4.mul(a2, f32x4.splat(P6)), f32x4.splat(P5));
  q = f32x4.add(f32x4.mul(q, a2), f32x4.splat(P4));
  q = f32x4.add(f32x4.mul(q, a2), f32x4.splat(P3));
  q = f32x4.add(f32x4.mul(q, a2), f32x4.splat(P2));
  q = f32x4.add(f32x4.mul(q, a2), f32x4.splat(P1));
  q = f32x4.add(f32x4.mul(q, a2), f32x4.splat(P0));
  const small = f32x4.add(a, f32x4.mul(a, q));
  // large branch on min(|x|, ERF_ONE): beyond it the result is 1 anyway; NaN stays NaN
  const b = f32x4.pmin(a, f32x4.splat(ERF_ONE));
  let h = f32x4.add(f32x4.mul(b, f32x4.splat(H9)), f32x4.splat(H8));
  h = f32x4.add(f32x4.mul(h, b), f32x4.splat(H7));
  h = f32x4.add(f32x4.mul(h, b), f32x4.splat(H6));
  h = f32x4.add(f32x4.mul(h, b), f32x4.splat(H5));
  h = f32x4.add(f32x4.mul(h, b), f32x4.splat(H4));
  h = f32x4.add(f32x4.mul(h, b), f32x4.splat(H3));
  h = f32x4.add(f32x4.mul(h, b), f32x4.splat(H2));
  h = f32x4.add(f32x4.mul(h, b), f32x4.splat(H1));
  h = f32x4.add(f32x4.mul(h, b), f32x4.splat(H0));
  const ec = f32x4.mul(exp4(f32x4.neg(f32x4.mul(b, b))), h);
  const large = f32x4.sub(f32x4.splat(1.0), ec);
  const r = v128.bitselect(small, large, f32x4.le(a, f32x4.splat(ERF_POLY_MAX)));
  return v128.or(r, sign);
}
