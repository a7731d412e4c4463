/**
 * Element-wise kernels: residual add, GELU (erf and tanh forms, forward and
 * backward) and the AdamW step. Each works on the element range [i0, i1) so
 * threads can share a call; i0 is a multiple of 4 (the runtime splits on
 * vector boundaries) and the last n mod 4 elements run through the same
 * vector code with the unused lanes fed zeros and never stored, so every
 * element sees the same arithmetic wherever it sits.
 *
 * The formulas, their order of operations and their constants are those of
 * the gpu.js kernels in src/kernels/{residual,gelu,adamw}.ts, so the shared
 * bounds there (derived for that order) hold as written; the differences
 * are listed beside each function. Products like a·b·c are evaluated left to
 * right, ((a·b)·c), as the JavaScript source of the gpu.js kernels parses.
 */
import { exp4 } from './vmath';
import { loadPartial, storePartial } from './maps';

// ---------------------------------------------------------------------------
// residual
// ---------------------------------------------------------------------------

/** out[i] = a[i] + b[i] for i in [i0, i1): one correctly rounded addition. */
export function add_f32(a: usize, b: usize, out: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  if (i < i1) {
    const o = <usize>i << 2;
    const k = i1 - i;
    storePartial(out + o, f32x4.add(loadPartial(a + o, k, 0), loadPartial(b + o, k, 0)), k);
  }
}

// ---------------------------------------------------------------------------
// GELU
// ---------------------------------------------------------------------------

/** √(2/π) and PyTorch's cubic coefficient, and 3·K1 (the backward's y'); float32 as in the gpu.js kernels. */
const K0: f32 = 0.7978845608028654;
const K1: f32 = 0.044715;
const K3: f32 = 0.134145;
/** 1/√(2π). */
const INV_SQRT_2PI: f32 = 0.3989422804014327;
/** Beyond |x| = 15 gelu is x or −0 exactly (GELU_TAIL of gelu.ts). */
const GELU_TAIL: f32 = 15.0;
// N(z)/D(z) ≈ e^{z²/2}·Φ(−z) on [0, 15]: MILLS_N and MILLS_D of src/kernels/gelu.ts (float32 values written exactly)
const N1: f32 = 0.5723077058792114;
const N2: f32 = 0.3217983841896057;
const N3: f32 = 0.10890601575374603;
const N4: f32 = 0.023159250617027283;
const N5: f32 = 0.002940921811386943;
const N6: f32 = 0.00017728665261529386;
const D1: f32 = 1.9424999952316284;
const D2: f32 = 1.693487524986267;
const D3: f32 = 0.8637310862541199;
const D4: f32 = 0.28036263585090637;
const D5: f32 = 0.05849584937095642;
const D6: f32 = 0.007371802348643541;
const D7: f32 = 0.00044439168414101005;

// @ts-ignore: decorator
@inline function splat(x: f32): v128 {
  return f32x4.splat(x);
}

/** N(z)/D(z), Horner as gelu.ts's geluMills writes it (every coefficient positive: no cancellation). */
// @ts-ignore: decorator
@inline function mills4(z: v128): v128 {
  let n = f32x4.add(splat(N5), f32x4.mul(z, splat(N6)));
  n = f32x4.add(splat(N4), f32x4.mul(z, n));
  n = f32x4.add(splat(N3), f32x4.mul(z, n));
  n = f32x4.add(splat(N2), f32x4.mul(z, n));
  n = f32x4.add(splat(N1), f32x4.mul(z, n));
  n = f32x4.add(splat(0.5), f32x4.mul(z, n));
  let d = f32x4.add(splat(D6), f32x4.mul(z, splat(D7)));
  d = f32x4.add(splat(D5), f32x4.mul(z, d));
  d = f32x4.add(splat(D4), f32x4.mul(z, d));
  d = f32x4.add(splat(D3), f32x4.mul(z, d));
  d = f32x4.add(splat(D2), f32x4.mul(z, d));
  d = f32x4.add(splat(D1), f32x4.mul(z, d));
  d = f32x4.add(splat(1.0), f32x4.mul(z, d));
  return f32x4.div(n, d);
}

/**
 * exp(−z²/2) as e1·e2 for 0 ≤ z < 16 without rounding z²: zh = z cut to 8
 * fractional bits (zh² is exact: ≤ 24 significant bits), e1 = exp(−zh²/2)
 * and e2 = exp(−(z − zh)(z + zh)/2) ∈ (0.94, 1]. gelu.ts reduces e1's
 * argument by hand because GPU exp is only promised within 3 + 2|a| ULP;
 * exp4 is within 1 ULP over its whole range (docs/wasm-math-ulp.md), which is
 * inside the bound's allowance for e1 (expRel(0.35) + 0.35u), so it takes a
 * directly. e1 is the factor that goes subnormal in the tail: callers
 * multiply by it last, so a subnormal result is rounded once.
 */
// @ts-ignore: decorator
@inline function expSplitHi(zh: v128): v128 {
  return exp4(f32x4.mul(f32x4.mul(splat(-0.5), zh), zh));
}

// @ts-ignore: decorator
@inline function expSplitLo(z: v128, zh: v128): v128 {
  return exp4(f32x4.mul(f32x4.mul(splat(-0.5), f32x4.sub(z, zh)), f32x4.add(z, zh)));
}

// @ts-ignore: decorator
@inline function cutTo8Bits(z: v128): v128 {
  return f32x4.mul(f32x4.floor(f32x4.mul(z, splat(256.0))), splat(0.00390625));
}

/**
 * gelu(x) = x·Φ(x), gelu.ts's geluErfKernel per lane:
 *   NaN → x; |x| > 15 → x (x > 0) or −0; x < 0 → ((x·M)·e2)·e1; else x·(1 − (M·e2)·e1).
 * Lanes beyond 15 compute from z = 15 (harmless) and are replaced.
 */
// @ts-ignore: decorator
@inline function geluErf4(v: v128): v128 {
  const a = f32x4.abs(v);
  const z = f32x4.pmin(a, splat(GELU_TAIL));
  const m = mills4(z);
  const zh = cutTo8Bits(z);
  const e2 = expSplitLo(z, zh);
  const e1 = expSplitHi(zh);
  const neg = f32x4.mul(f32x4.mul(f32x4.mul(v, m), e2), e1);
  const pos = f32x4.mul(v, f32x4.sub(splat(1.0), f32x4.mul(f32x4.mul(m, e2), e1)));
  let r = v128.bitselect(neg, pos, f32x4.lt(v, splat(0)));
  const tail = v128.bitselect(v, splat(-0.0), f32x4.gt(v, splat(0)));
  r = v128.bitselect(tail, r, f32x4.gt(a, splat(GELU_TAIL)));
  return v128.bitselect(v, r, f32x4.ne(v, v));
}

/**
 * tanh form, gelu.ts's geluTanhKernel: y = K0·(x + ((K1·x)·x)·x), e = exp(−2|y|) ≤ 1,
 *   x ≥ 0: x/(1 + e);  x < 0: (x·e)/(1 + e), or −0 where e = 0 (so −Inf gives −0, not NaN);  NaN → x.
 */
// @ts-ignore: decorator
@inline function geluTanh4(v: v128): v128 {
  const y = f32x4.mul(splat(K0), f32x4.add(v, f32x4.mul(f32x4.mul(f32x4.mul(splat(K1), v), v), v)));
  const e = exp4(f32x4.mul(splat(-2.0), f32x4.abs(y)));
  // one division for both signs: the numerator is x (x ≥ 0) or x·e (x < 0)
  const pos = f32x4.ge(v, splat(0));
  const num = v128.bitselect(v, f32x4.mul(v, e), pos);
  let r = f32x4.div(num, f32x4.add(splat(1.0), e));
  r = v128.bitselect(splat(-0.0), r, v128.andnot(f32x4.eq(e, splat(0)), pos));
  return v128.bitselect(v, r, f32x4.ne(v, v));
}

/**
 * dx = dy·gelu'(x), erf form (gelu.ts's geluErfBackwardKernel):
 *   x < 0:  ((dy·(M − z·c))·e2)·e1;   x ≥ 0:  dy·((1 − (M·e2)·e1) + ((x·c)·e2)·e1);
 *   |x| > 15: dy (x > 0) or dy·0 (keeps NaN·0 = NaN); NaN x → x.
 * `zero` is a runtime zero so no optimiser can fold dy·0 to 0.
 */
// @ts-ignore: decorator
@inline function geluErfBwd4(g: v128, v: v128, zero: v128): v128 {
  const a = f32x4.abs(v);
  const z = f32x4.pmin(a, splat(GELU_TAIL));
  const m = mills4(z);
  const zh = cutTo8Bits(z);
  const e2 = expSplitLo(z, zh);
  const e1 = expSplitHi(zh);
  const neg = f32x4.mul(f32x4.mul(f32x4.mul(g, f32x4.sub(m, f32x4.mul(z, splat(INV_SQRT_2PI)))), e2), e1);
  const q = f32x4.mul(f32x4.mul(m, e2), e1);
  const xphi = f32x4.mul(f32x4.mul(f32x4.mul(v, splat(INV_SQRT_2PI)), e2), e1);
  const pos = f32x4.mul(g, f32x4.add(f32x4.sub(splat(1.0), q), xphi));
  let r = v128.bitselect(neg, pos, f32x4.lt(v, splat(0)));
  const tail = v128.bitselect(g, f32x4.mul(g, zero), f32x4.gt(v, splat(0)));
  r = v128.bitselect(tail, r, f32x4.gt(a, splat(GELU_TAIL)));
  return v128.bitselect(v, r, f32x4.ne(v, v));
}

/**
 * dx = dy·gelu'(x), tanh form (gelu.ts's geluTanhBackwardKernel):
 *   e = 0: dy (x > 0) or dy·0;  else r = 1/(1 + e), s = r (x ≥ 0) or e·r (x < 0),
 *   y' = K0·(1 + (K3·x)·x),  dx = dy·(s + ((((2·x)·y')·e)·r)·r);  NaN x → x.
 */
// @ts-ignore: decorator
@inline function geluTanhBwd4(g: v128, v: v128, zero: v128): v128 {
  const y = f32x4.mul(splat(K0), f32x4.add(v, f32x4.mul(f32x4.mul(f32x4.mul(splat(K1), v), v), v)));
  const e = exp4(f32x4.mul(splat(-2.0), f32x4.abs(y)));
  const r = f32x4.div(splat(1.0), f32x4.add(splat(1.0), e));
  const s = v128.bitselect(f32x4.mul(e, r), r, f32x4.lt(v, splat(0)));
  const yp = f32x4.mul(splat(K0), f32x4.add(splat(1.0), f32x4.mul(f32x4.mul(splat(K3), v), v)));
  const t2 = f32x4.mul(f32x4.mul(f32x4.mul(f32x4.mul(f32x4.mul(splat(2.0), v), yp), e), r), r);
  let res = f32x4.mul(g, f32x4.add(s, t2));
  const edge = v128.bitselect(g, f32x4.mul(g, zero), f32x4.gt(v, splat(0)));
  res = v128.bitselect(edge, res, f32x4.eq(e, splat(0)));
  return v128.bitselect(v, res, f32x4.ne(v, v));
}

/** y = gelu(x) on [i0, i1); `tanhForm` 0 for the erf form, 1 for PyTorch's tanh approximation. */
export function gelu_fwd(tanhForm: i32, x: usize, y: usize, i0: i32, i1: i32): void {
  if (tanhForm != 0) {
    let i = i0;
    for (; i + 4 <= i1; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, geluTanh4(v128.load(x + o)));
    }
    if (i < i1) storePartial(y + (<usize>i << 2), geluTanh4(loadPartial(x + (<usize>i << 2), i1 - i, 0)), i1 - i);
  } else {
    let i = i0;
    for (; i + 4 <= i1; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, geluErf4(v128.load(x + o)));
    }
    if (i < i1) storePartial(y + (<usize>i << 2), geluErf4(loadPartial(x + (<usize>i << 2), i1 - i, 0)), i1 - i);
  }
}

/**
 * dx = dy·gelu'(x) on [i0, i1). `zeroAt` points at a float32 0 in memory: read
 * at run time, it is the `zero` the backward formulas multiply by.
 */
export function gelu_bwd(tanhForm: i32, dy: usize, x: usize, dx: usize, zeroAt: usize, i0: i32, i1: i32): void {
  const zero = v128.load32_splat(zeroAt);
  if (tanhForm != 0) {
    let i = i0;
    for (; i + 4 <= i1; i += 4) {
      const o = <usize>i << 2;
      v128.store(dx + o, geluTanhBwd4(v128.load(dy + o), v128.load(x + o), zero));
    }
    if (i < i1) {
      const o = <usize>i << 2;
      const k = i1 - i;
      storePartial(dx + o, geluTanhBwd4(loadPartial(dy + o, k, 0), loadPartial(x + o, k, 0), zero), k);
    }
  } else {
    let i = i0;
    for (; i + 4 <= i1; i += 4) {
      const o = <usize>i << 2;
      v128.store(dx + o, geluErfBwd4(v128.load(dy + o), v128.load(x + o), zero));
    }
    if (i < i1) {
      const o = <usize>i << 2;
      const k = i1 - i;
      storePartial(dx + o, geluErfBwd4(loadPartial(dy + o, k, 0), loadPartial(x + o, k, 0), zero), k);
    }
  }
}

// ---------------------------------------------------------------------------
// AdamW
// ---------------------------------------------------------------------------

/**
 * One AdamW step on [i0, i1), the gpu.js arrangement of adamw.ts:
 *   m' = β₁·m + c₁·g,   v' = β₂·v + (c₂·g)·g,   θ' = dec·θ − ss·(m'/(√v'·r2 + ε))
 * with the float32 scalars (computed in float64 on the host: dec = 1 − γλ,
 * ss = γ/(1 − β₁^t), r2 = 1/√(1 − β₂^t), c = 1 − β) read from `s` as
 * [β₁, c₁, β₂, c₂, dec, ss, r2, ε]. One pass: θ' uses the float32 m', v' it
 * stores, exactly as the gpu.js kernel that reads them back.
 */
export function adamw_step(p: usize, g: usize, m: usize, v: usize, pOut: usize, mOut: usize, vOut: usize, s: usize, i0: i32, i1: i32): void {
  const b1 = v128.load32_splat(s, 0);
  const c1 = v128.load32_splat(s, 4);
  const b2 = v128.load32_splat(s, 8);
  const c2 = v128.load32_splat(s, 12);
  const dec = v128.load32_splat(s, 16);
  const ss = v128.load32_splat(s, 20);
  const r2 = v128.load32_splat(s, 24);
  const eps = v128.load32_splat(s, 28);
  let i = i0;
  for (; i < i1; i += 4) {
    const o = <usize>i << 2;
    const k = min(4, i1 - i);
    const full = k == 4;
    const gi = full ? v128.load(g + o) : loadPartial(g + o, k, 0);
    const mi = full ? v128.load(m + o) : loadPartial(m + o, k, 0);
    const vi = full ? v128.load(v + o) : loadPartial(v + o, k, 0);
    const pi = full ? v128.load(p + o) : loadPartial(p + o, k, 0);
    const mn = f32x4.add(f32x4.mul(b1, mi), f32x4.mul(c1, gi));
    const vn = f32x4.add(f32x4.mul(b2, vi), f32x4.mul(f32x4.mul(c2, gi), gi));
    const den = f32x4.add(f32x4.mul(f32x4.sqrt(vn), r2), eps);
    const pn = f32x4.sub(f32x4.mul(dec, pi), f32x4.mul(ss, f32x4.div(mn, den)));
    if (full) {
      v128.store(mOut + o, mn);
      v128.store(vOut + o, vn);
      v128.store(pOut + o, pn);
    } else {
      storePartial(mOut + o, mn, k);
      storePartial(vOut + o, vn, k);
      storePartial(pOut + o, pn, k);
    }
  }
}
