/**
 * GELU, exact (erf) form and PyTorch's tanh approximation, forward and
 * backward; and the error function it needs, written here from scratch.
 *
 * Shapes: x (...) element-wise; y (...) and dx (...) like x; dy (...) like x.
 *
 * What is computed (Φ is the standard normal CDF, φ its density):
 *   approximate 'none':  gelu(x) = x·Φ(x) = ½·x·(1 + erf(x/√2))
 *                        gelu'(x) = Φ(x) + x·φ(x)
 *   approximate 'tanh':  gelu(x) = ½·x·(1 + tanh(y)),  y = √(2/π)·(x + 0.044715·x³)
 *                        gelu'(x) = ½(1 + tanh y) + ½·x·(1 − tanh² y)·y'
 *   backward: dx = dy·gelu'(x).
 *
 * How, so that nothing overflows, cancels or turns into NaN:
 *   - Φ(x) for x < 0 is Q(|x|) = exp(−x²/2)·M(|x|), M(z) = e^{z²/2}·Φ(−z)
 *     (Mills' ratio over √(2π)), and Φ(x) = 1 − Q(x) for x ≥ 0. Q is small
 *     exactly where gelu is small, so gelu(x) = x·Q(|x|) keeps its relative
 *     accuracy as x → −∞ (gelu(x) ≈ x·φ(x)·(1/|x|) underflows like φ), and
 *     1 − Q has no cancellation (Q ≤ ½). `1 + erf(x/√2)` would lose every
 *     digit below x ≈ −6.
 *   - exp(−z²/2) is evaluated as exp(−zh²/2)·exp(−zl·(z + zh)/2) with zh = z
 *     cut to 8 fractional bits, so zh² is exact and the rounding of z² (which
 *     would cost |z²/2|·u relative, 100 ULP at z = 14) never happens; and
 *     exp(−zh²/2) is reduced to exp(r)·2^k, |r| ≤ 0.35, because GPU exp is
 *     only promised within 3 + 2|arg| ULP (measured on llvmpipe: the erf-form
 *     tail went from 89 ULP to 8 with the reduction).
 *   - 1 + tanh(y) = 2σ(2y) and 1 − tanh² y = 4σ(2y)σ(−2y); both come from
 *     e = exp(−2|y|) ≤ 1: y ≥ 0 gives σ(2y) = 1/(1 + e), y < 0 gives
 *     e/(1 + e). No exponential of a positive argument is taken, so nothing
 *     overflows (the textbook (e^{2y} − 1)/(e^{2y} + 1) is Inf/Inf = NaN for
 *     y > 44 in float32, and GLSL's tanh returns NaN there), and the negative
 *     tail keeps relative accuracy instead of computing 1 − 0.99999….
 *
 * Edge-case contract (the FP64 reference defines it; every backend matches):
 *   - NaN → NaN (forward and backward);
 *   - +Inf → +Inf, and gelu'(+Inf) = 1;
 *   - −Inf → −0 (the limit from below), and gelu'(−Inf) = 0. PyTorch 1.13
 *     (CPU, measured) returns NaN for both in both forms (it computes −Inf·0),
 *     and +0 for finite x ≤ −20 in the erf form (−0 in the tanh form); we
 *     return the limits, which is also what every finite x below −15 gives.
 *     GPU backends may return +0 for −0; the two zeros compare equal;
 *   - huge negative x (−1e30, −F32_MAX) → −0, no NaN; huge positive x → x
 *     exactly (Φ(x) rounds to 1 for x > 5.9 in float32);
 *   - subnormal x: gelu(x) ≈ x/2, flushed to 0 where the backend flushes;
 *   - empty tensors give empty results.
 *
 * The error function. `erfRef`, `erfcRef` and `normalCdfRef` are float64
 * implementations built for this library (JavaScript has no Math.erf). The
 * method is W. J. Cody's ("Rational Chebyshev approximations for the error
 * function", Math. Comp. 23 (1969) 631–637): erf(t) = t·R(t²) near 0,
 * erfc(t) = e^{−t²}·R(t) in the middle, erfc(t) = e^{−t²}/t·R(1/t²) in the
 * tail, with e^{−t²} computed from an exactly squared leading part of t.
 * Instead of Cody's rational minimax fits we use polynomials (more terms, but
 * linear to fit and all-but-trivial to verify):
 *   |t| < 0.5   erf(t)/t = Σ c_k (t²)^k, degree 9;
 *   [0.5, 4)    e^{t²}·erfc(t) = Σ c_k (t − m)^k on [0.5, 1.25), [1.25, 2),
 *               [2, 3), [3, 4), degrees 15, 14, 15, 14, centred at m;
 *   t ≥ 4       √π·t·e^{t²}·erfc(t) = Σ c_k (1/t²)^k, degree 14 (its value
 *               at 1/t² = 0 is exactly 1, the asymptotic series' first term).
 * Each polynomial is the Chebyshev least-squares fit of that function
 * (mpmath.chebyfit at 50 digits, then rounded to float64); the fits' own
 * errors are below 3·10^-18 relative, a thirtieth of an ULP. The evaluation
 * in float64 (two exps within 1 ULP each, a Horner sum whose terms decrease,
 * three products) keeps the result within a few ULPs: against erf, erfc and Φ
 * computed independently in BigInt fixed point (1200 to 3300 bits), on a few
 * hundred points of [−38, 27], we measured at most 0.56 ULP for erf, 2.3 for
 * erfc, 3.9 for Φ and 2.1 for M below; test/reference/gelu.test.ts asserts
 * 2, 4, 5 and 4.
 *
 * The float32 kernels use their own approximation of M on [0, 15]:
 *   M(z) ≈ N(z)/D(z), N of degree 6 and D of degree 7, every coefficient
 *   positive (so Horner never cancels), N(0)/D(0) = ½ exactly.
 * The coefficients are a relative-error minimax fit (linearised least squares
 * with Lawson reweighting, 40 digits), each rounded to the nearest float32 and
 * written here as that float32's exact value, so every backend (float64 on
 * cpu, float32 elsewhere) uses the same numbers. Its relative error,
 * max |N/D − M|/M, evaluated exactly over every float32 z in [0, 15], is
 * MILLS_APPROX_REL (measured: see the constant), and test/reference/gelu.test.ts
 * re-measures it over the same float32 sweep and fails if it is exceeded.
 *
 * Error bounds: `geluBound` and `geluBackwardBound`, derived beside the code
 * from this approximation error, the rounding of each operation (u), the
 * backend's exp and division errors and `tiny` for flushed subnormals.
 */
import type { Device } from '../device.js';
import { registerKernel, runKernel } from '../dispatch.js';
import type { Tensor } from '../tensor.js';
import { checkOneOf, checkOptions } from '../errors.js';
import { type Bound, type ErrorModel, F32_MIN_NORMAL, gamma, SECOND_ORDER } from './bounds.js';
import { checkFloat, checkSameShape, checkTensor, emptyLike, f64, out64 } from './shapes.js';

export type GeluApproximation = 'none' | 'tanh';

export interface GeluOptions {
  /** 'none' (default): the exact erf form; 'tanh': PyTorch's tanh approximation. */
  approximate?: GeluApproximation;
}

// ---------------------------------------------------------------------------
// FP64 error function (see the header for the method and its accuracy)
// ---------------------------------------------------------------------------

/** erf(t)/t as a polynomial in t² on [0, 0.25] (|t| < 0.5). c_0 = 2/√π. */
const ERF_SMALL = [
  1.1283791670955126, -0.3761263890318375, 0.1128379167095487, -0.02686617064499972, 0.0052239776220169365, -0.0008548326510724796,
  0.00012055286202005714, -1.4923003368152099e-5, 1.637123442577e-6, -1.462091340945175e-7,
];

/** e^{t²}·erfc(t) as polynomials in (t − centre) on four intervals covering [0.5, 4). */
const ERFCX_PIECES: { lo: number; hi: number; centre: number; c: number[] }[] = [
  {
    lo: 0.5,
    hi: 1.25,
    centre: 0.875,
    c: [
      0.464311583202669, -0.3158338964908418, 0.18795692377318343, -0.10091439212620511, 0.04982841533122216, -0.022925811484455237,
      0.009922776769590946, -0.004069537665061771, 0.0015904825816719737, -0.0005950810820218508, 0.00021396106885577818,
      -7.415897873670597e-5, 2.4813862578236507e-5, -8.055394169675349e-6, 2.6756701916034212e-6, -8.178793859368783e-7,
    ],
  },
  {
    lo: 1.25,
    hi: 2,
    centre: 1.625,
    c: [
      0.30226120936348594, -0.14603023666418338, 0.06496207478418799, -0.026977910093244503, 0.010561485441324875, -0.003926198501006686,
      0.0013938042928538297, -0.0004746475592878391, 0.00015562548936587145, -4.927947801148261e-5, 1.5109464375195563e-5,
      -4.492615767583387e-6, 1.2998298415437335e-6, -3.8105617874727317e-7, 1.0454957706441538e-7,
    ],
  },
  {
    lo: 2,
    hi: 3,
    centre: 2.5,
    c: [
      0.2108063640611436, -0.07434734678979467, 0.024937997086656956, -0.008001569382101618, 0.002467036815697219, -0.0007335909371382576,
      0.0002110198244195237, -5.886896472383184e-5, 1.5961851018812493e-5, -4.214295494064897e-6, 1.0852406768030674e-6,
      -2.729566325679601e-7, 6.705533370866154e-8, -1.61506305224933e-8, 4.023499351874463e-9, -9.299068690583155e-10,
    ],
  },
  {
    lo: 3,
    hi: 4,
    centre: 3.5,
    c: [
      0.1552936556088943, -0.041323577833252495, 0.010661133192510575, -0.0026730744396433895, 0.0006526863268788441, -0.00015546891823837533,
      3.618170436366868e-5, -8.237986344257561e-6, 1.8371878077863912e-6, -4.017419077698321e-7, 8.622012306201682e-8,
      -1.816549302673174e-8, 3.764843244262652e-9, -7.971848938959326e-10, 1.5981815899094853e-10,
    ],
  },
];

/** √π·t·e^{t²}·erfc(t) as a polynomial in z = 1/t² on [0, 1/16] (t ≥ 4). */
const ERFC_ASYMPTOTIC = [
  1.0, -0.49999999999998385, 0.7499999999805639, -1.874999990695462, 6.5624976492784475, -29.530889037058596, 162.38527287466977,
  -1053.1570566524629, 7786.174619718648, -62310.85062377134, 495943.15951242734, -3506928.947098753, 19353168.895223595,
  -70751730.08672003, 124956731.23593348,
];

const INV_SQRT_PI = 0.5641895835477563;
const INV_SQRT_2PI = 0.3989422804014327;
const SQRT1_2 = Math.SQRT1_2;
/** Veltkamp's splitter 2^27 + 1: hi(x) keeps 26 significant bits, so hi² is exact in float64. */
const SPLITTER = 134217729;
/** erfc(t) < 2^-1075 (rounds to 0 in float64) beyond this. */
const ERFC_ZERO = 27.3;

function horner(c: readonly number[], s: number): number {
  let r = c[c.length - 1];
  for (let k = c.length - 2; k >= 0; k--) r = r * s + c[k];
  return r;
}

/** exp(−a²·scale) for a ≥ 0 and scale ∈ {1, ½}, without rounding a²: a = hi + lo, a² = hi² + lo·(a + hi). */
function expNegSquare(a: number, scale: number): number {
  const c = SPLITTER * a;
  const hi = c - (c - a);
  const lo = a - hi;
  return Math.exp(-scale * hi * hi) * Math.exp(-scale * lo * (a + hi));
}

/** e^{t²}·erfc(t) for 0.5 ≤ t < 4, or √π·t·e^{t²}·erfc(t) for t ≥ 4 (the caller knows which). */
function erfcScaledPart(t: number): number {
  if (t >= 4) return horner(ERFC_ASYMPTOTIC, 1 / (t * t));
  for (const p of ERFCX_PIECES) if (t < p.hi) return horner(p.c, t - p.centre);
  throw new Error('unreachable');
}

/** erfc(t) for t ≥ 0.5, with exp(−t²) = exp(−(scale·a²)) supplied by the caller. */
function erfcTail(t: number, expNegT2: number): number {
  if (t >= 4) return (expNegT2 * erfcScaledPart(t) * INV_SQRT_PI) / t;
  return expNegT2 * erfcScaledPart(t);
}

/**
 * erf(x) in float64, within a few ULPs everywhere. erf(±0) = ±0,
 * erf(±Inf) = ±1, erf(NaN) = NaN.
 */
export function erfRef(x: number): number {
  if (x !== x) return NaN;
  const t = Math.abs(x);
  if (t < 0.5) return x * horner(ERF_SMALL, x * x);
  const r = t >= ERFC_ZERO ? 1 : 1 - erfcTail(t, expNegSquare(t, 1));
  return x < 0 ? -r : r;
}

/**
 * erfc(x) = 1 − erf(x) in float64, within a few ULPs everywhere, with
 * relative accuracy kept in the tail (erfc(26) ≈ 5.6e-296 is computed, not
 * 1 − 1). erfc(+Inf) = 0, erfc(−Inf) = 2, erfc(NaN) = NaN.
 */
export function erfcRef(x: number): number {
  if (x !== x) return NaN;
  const t = Math.abs(x);
  if (t < 0.5) return 1 - x * horner(ERF_SMALL, x * x);
  const tail = t >= ERFC_ZERO ? 0 : erfcTail(t, expNegSquare(t, 1));
  return x < 0 ? 2 - tail : tail;
}

/**
 * Φ(−z)·e^{z²/2} for z ≥ 0 (Mills' ratio divided by √(2π)): the function the
 * float32 kernels approximate by N/D. Same accuracy as erfcRef.
 */
export function normalTailScaledRef(z: number): number {
  const t = z * SQRT1_2;
  if (t < 0.5) return 0.5 * (1 - t * horner(ERF_SMALL, t * t)) * Math.exp(0.5 * z * z);
  const g = erfcScaledPart(t);
  return t >= 4 ? (0.5 * g * INV_SQRT_PI) / t : 0.5 * g;
}

/**
 * Φ(x), the standard normal CDF, in float64 with relative accuracy in both
 * tails: Φ(x) = ½·erfc(−x/√2), but exp(−x²/2) is taken from x itself, not
 * from the rounded x/√2 (which would cost x²·u relative).
 */
export function normalCdfRef(x: number): number {
  if (x !== x) return NaN;
  const z = Math.abs(x);
  const t = z * SQRT1_2;
  if (t < 0.5) return 0.5 + 0.5 * (x * SQRT1_2) * horner(ERF_SMALL, t * t);
  const q = t >= ERFC_ZERO ? 0 : 0.5 * erfcTail(t, expNegSquare(z, 0.5));
  return x < 0 ? q : 1 - q;
}

/** φ(x) = exp(−x²/2)/√(2π), without rounding x². */
function normalPdf64(x: number): number {
  const z = Math.abs(x);
  return z >= 40 ? 0 : expNegSquare(z, 0.5) * INV_SQRT_2PI;
}

// ---------------------------------------------------------------------------
// FP64 reference GELU
// ---------------------------------------------------------------------------

/** √(2/π) and the cubic coefficient of PyTorch's tanh approximation. */
const TANH_K0 = 0.7978845608028654;
const TANH_K1 = 0.044715;

/** σ(2y) and σ(−2y) from e = exp(−2|y|) ≤ 1: no overflow, no cancellation. */
function sigmoidPair64(y: number): { s: number; sc: number; e: number } {
  const e = Math.exp(-2 * Math.abs(y));
  const r = 1 / (1 + e);
  return y >= 0 ? { s: r, sc: e * r, e } : { s: e * r, sc: r, e };
}

/** gelu (n) of x (n) in float64. */
export function geluRef(x: Float64Array, approximate: GeluApproximation = 'none'): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v === -Infinity) {
      y[i] = -0;
    } else if (approximate === 'none') {
      y[i] = v * normalCdfRef(v);
    } else {
      y[i] = v * sigmoidPair64(TANH_K0 * (v + TANH_K1 * v * v * v)).s;
    }
  }
  return y;
}

/** gelu'(x) in float64 (the contract's limits at ±Inf). */
export function geluDerivativeRef(v: number, approximate: GeluApproximation): number {
  if (v !== v) return NaN;
  if (v === Infinity) return 1;
  if (v === -Infinity) return 0;
  if (approximate === 'none') return normalCdfRef(v) + v * normalPdf64(v);
  const { s, sc, e } = sigmoidPair64(TANH_K0 * (v + TANH_K1 * v * v * v));
  if (e === 0) return s;
  // ½(1 − tanh² y)·y' = 2σ(2y)σ(−2y)·y'
  return s + 2 * v * TANH_K0 * (1 + 3 * TANH_K1 * v * v) * s * sc;
}

/** dx (n) = dy·gelu'(x) in float64. */
export function geluBackwardRef(dy: Float64Array, x: Float64Array, approximate: GeluApproximation = 'none'): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) dx[i] = dy[i] * geluDerivativeRef(x[i], approximate);
  return dx;
}

// ---------------------------------------------------------------------------
// The float32 approximation of M(z) = e^{z²/2}·Φ(−z) on [0, 15]
// ---------------------------------------------------------------------------

/** N(z) coefficients, lowest degree first (float32 values, written exactly). */
export const MILLS_N = [0.5, 0.5723077058792114, 0.3217983841896057, 0.10890601575374603, 0.023159250617027283, 0.002940921811386943, 0.00017728665261529386];
/** D(z) coefficients, lowest degree first (float32 values, written exactly). */
export const MILLS_D = [
  1.0, 1.9424999952316284, 1.693487524986267, 0.8637310862541199, 0.28036263585090637, 0.05849584937095642, 0.007371802348643541,
  0.00044439168414101005,
];
/** Beyond this |x| the float32 kernels return x (x > 0) or −0 (x < 0): Φ(−15) = 3.7e-51. */
export const GELU_TAIL = 15;

/**
 * Largest relative error of N(z)/D(z) against M(z) over every float32 z in
 * [0, GELU_TAIL], the rational evaluated in float64 (whose rounding, like the
 * oracle normalTailScaledRef's few ULPs, is 10^6 times smaller): measured
 * 5.1063e-9 (0.086 float32 ULP), at z = 0.4908428, over all 1,097,859,073
 * float32 values of [0, 15], and rounded up here. test/reference/gelu.test.ts
 * re-measures it over every 64th of those values by default and over all of
 * them with SK_GELU_SWEEP_STRIDE=1 (about 70 s), failing if it is exceeded.
 */
export const MILLS_APPROX_REL = 5.2e-9;

/** N(z)/D(z) in float64, as the kernels evaluate it (exported for the sweep test). */
export function millsApprox64(z: number): number {
  return horner(MILLS_N, z) / horner(MILLS_D, z);
}

// ---------------------------------------------------------------------------
// Error bounds (per element)
// ---------------------------------------------------------------------------


/**
 * Relative error of the two factors e1·e2 = exp(−z²/2) as the kernels
 * compute them (the product itself is counted where it is formed):
 *   zh = floor(256z)/256 and zl = z − zh are exact, zh² is exact (≤ 12 + 12
 *   significant bits for z < 16), so a = −zh²/2 is exact. e1 = exp(r)·2^k
 *   with a − k·LN2_HI exact and r = that − k·LN2_LO: |Δr| ≤ u·(|r| + |k·LN2_LO|)
 *   + |k|·u·LN2_LO (the constant's own rounding) ≤ 0.35u for |r| ≤ 0.35 and
 *   |k| ≤ 163; exp(r) adds expRel(0.35); 2^k and the product by it are exact
 *   (or subnormal: counted in the tiny terms). b = −zl·(z + zh)/2 carries
 *   2u·|b| (one add, one product) and e2 = exp(b) adds expRel(b).
 */
function expSplitError(M: ErrorModel, z: number): number {
  const zh = Math.floor(z * 256) / 256;
  const b = -0.5 * (z - zh) * (z + zh);
  return M.expRel(EXP_REDUCED_MAX) + 0.35 * M.u + M.expRel(b) + 2 * M.u * Math.abs(b);
}

/** |r| after the Cody–Waite reduction: ln2/2 plus the slack of an off-by-one rounding of a/ln2. */
const EXP_REDUCED_MAX = 0.35;

/**
 * Relative error of M ≈ N(z)/D(z): the approximation (MILLS_APPROX_REL), Horner
 * on positive terms (γ(2·6) for N, γ(2·7) for D) and the division.
 */
function millsError(M: ErrorModel): number {
  return MILLS_APPROX_REL + gamma(12, M.u) + gamma(14, M.u) + M.divRel;
}

/** Relative error of σ-terms from e = exp(−2|y|): y = K0(x + K1x³) carries γ(7) (x³: 2, K1·: 1 + 1 for K1's own rounding, +: 1, K0·: 1 + 1). */
function tanhExpError(M: ErrorModel, y: number): number {
  return M.expRel(2 * Math.abs(y)) + 2 * Math.abs(y) * gamma(7, M.u);
}

/**
 * gelu forward bound, per element.
 *   'none', |x| ≤ 15, with δM = millsError and δe = expSplitError:
 *     x < 0: gelu = ((x·M)·e2)·e1, relative δM + δe + 3u (three products).
 *     x ≥ 0: Q = (M·e2)·e1 carries δQ = δM + δe + 2u; Φ = 1 − Q has
 *     |ΔΦ| ≤ δQ·Q + u·Φ; x·Φ adds u. The store adds uStore.
 *     Subnormals: e1 drops below FLT_MIN once z > 13.2; its absolute error
 *     (half a subnormal ULP, or FLT_MIN if flushed) is weighted by
 *     |x·M·e2| < |z·M(z)| < 1/√(2π); the last product may itself be subnormal
 *     (≤ tiny). For x ≥ 0, Q's absolute error is far below u·Φ. atol 2·tiny.
 *   'none', |x| > 15: x or −0, exact (the reference differs by < 2^-160).
 *   'tanh': e = exp(−2|y|) with relative error δe = tanhExpError. x ≥ 0:
 *     x/(1 + e) has (e·δe/(1 + e) + u) from 1 + e, divRel, uStore. x < 0:
 *     x·e/(1 + e) adds δe and u for x·e. Once e is below FLT_MIN it is
 *     subnormal (absolute error half a subnormal ULP) or flushed (FLT_MIN),
 *     at most tiny either way, weighted by |x|/(1 + e) ≤ |x|: atol |x|·tiny
 *     there, plus 2·tiny for a subnormal product and quotient.
 */
export function geluBound(M: ErrorModel, x: Float64Array, ref: Float64Array, approximate: GeluApproximation = 'none'): Bound {
  const allowed = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const r = Math.abs(ref[i]);
    if (v !== v || !Number.isFinite(ref[i])) continue;
    let rel: number;
    let atol = 2 * M.tiny;
    if (approximate === 'none') {
      const z = Math.abs(v);
      if (z > GELU_TAIL) {
        allowed[i] = M.uStore * r + M.tiny;
        continue;
      }
      const dM = millsError(M);
      const de = expSplitError(M, z);
      if (v < 0) {
        rel = dM + de + 3 * M.u;
      } else {
        const q = normalCdfRef(-z);
        rel = ((dM + de + 2 * M.u) * q + M.u * (1 - q)) / (1 - q) + M.u;
      }
      rel += M.uStore;
    } else {
      const y = TANH_K0 * (v + TANH_K1 * v * v * v);
      const e = Math.exp(-2 * Math.abs(y));
      const de = tanhExpError(M, y);
      const onePlusE = (e * de) / (1 + e) + M.u;
      rel = v >= 0 ? onePlusE + M.divRel + M.uStore : de + M.u + onePlusE + M.divRel + M.uStore;
      if (v < 0 && e < F32_MIN_NORMAL) atol += Math.abs(v) * M.tiny;
    }
    // ×SECOND_ORDER on atol too: a value within (1 + δ) of FLT_MIN may be flushed
    allowed[i] = SECOND_ORDER * (rel * r + atol);
  }
  return { allowed, note: `gelu(${approximate}): |Δy| ≤ (approx + exp/split + Horner γ + div + u + u_store)·|y| + k·tiny, ${M.name}` };
}

/**
 * gelu backward bound, per element: dx = dy·d with d = gelu'(x).
 *   'none', |x| ≤ 15 (δM = millsError, δe = expSplitError, c = 1/√(2π)):
 *     x < 0: dx = ((dy·(M − z·c))·e2)·e1. z·c carries 2u (c's rounding, the
 *       product), M − z·c adds δM·M and u|M − zc|, then three products:
 *       |Δd| ≤ e·(δM·M + 2u·z·c) + (δe + 4u)·|d|.
 *     x ≥ 0: dx = dy·((1 − Q) + x·φ), Q = (M·e2)·e1 (δM + δe + 2u), 1 − Q (u),
 *       x·φ = ((x·c)·e2)·e1 (δe + 4u), the sum (u|d|).
 *     d has a zero (x ≈ −0.7518), so both terms enter with their own magnitude.
 *     Subnormal e1 (z > 13.2) costs tiny weighted by |dy|·(M + z·c) < 7·|dy|.
 *   'none', |x| > 15: d is 0 or 1, exact; the reference differs by < 1e-48.
 *   'tanh': s = σ(±2y) and t2 = 2x·y'·e·r², r = 1/(1 + e), y' = K0(1 + 3K1x²).
 *     δr = e·δe/(1 + e) + u + divRel; s carries δr (y ≥ 0) or δe + δr + u;
 *     t2 carries γ(6) (y') + δe + 2δr + 4u (four products); d = s + t2 adds
 *     u|d|. A subnormal or flushed e costs tiny·(1 + 2|x|·y') per unit of
 *     |dy|, and a subnormal d another tiny·|dy|.
 *   Then dx = dy·d adds (u + uStore)|dx| and 2·tiny for subnormal products.
 */
export function geluBackwardBound(M: ErrorModel, dy: Float64Array, x: Float64Array, ref: Float64Array, approximate: GeluApproximation = 'none'): Bound {
  const allowed = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v !== v || !Number.isFinite(ref[i])) continue;
    const g = Math.abs(dy[i]);
    let dd: number;
    let flush: number;
    if (approximate === 'none') {
      const z = Math.abs(v);
      if (z > GELU_TAIL) {
        allowed[i] = (M.u + M.uStore) * Math.abs(ref[i]) + g * 1e-45 + 2 * M.tiny;
        continue;
      }
      const dM = millsError(M);
      const de = expSplitError(M, z);
      const q = normalCdfRef(-z);
      const e = normalPdf64(z) / INV_SQRT_2PI;
      const xphi = z * normalPdf64(z);
      const d = Math.abs((v < 0 ? q : 1 - q) + v * normalPdf64(v));
      if (v < 0) dd = e * (dM * normalTailScaledRef(z) + 2 * M.u * z * INV_SQRT_2PI) + (de + 4 * M.u) * d;
      else dd = (dM + de + 2 * M.u) * q + M.u * (1 - q) + xphi * (de + 4 * M.u) + M.u * d;
      flush = M.tiny * (normalTailScaledRef(z) + z * INV_SQRT_2PI);
    } else {
      const y = TANH_K0 * (v + TANH_K1 * v * v * v);
      const { s, sc, e } = sigmoidPair64(y);
      const de = tanhExpError(M, y);
      const dr = (e * de) / (1 + e) + M.u + M.divRel;
      const ds = y >= 0 ? dr : de + dr + M.u;
      const yp = TANH_K0 * (1 + 3 * TANH_K1 * v * v);
      const t2 = Math.abs(2 * v * yp * s * sc);
      const d = Math.abs(s + 2 * v * yp * s * sc);
      dd = ds * s + (gamma(6, M.u) + de + 2 * dr + 4 * M.u) * t2 + M.u * d;
      flush = M.tiny * (2 + 2 * Math.abs(v) * yp);
    }
    allowed[i] = SECOND_ORDER * (g * dd + (M.u + M.uStore) * Math.abs(ref[i]) + g * flush + 2 * M.tiny);
  }
  return { allowed, note: `geluBackward(${approximate}): |Δdx| ≤ |dy|·(|ΔΦ| + |xφ|·δ + u|d|) + 2u|dx| + flush terms, ${M.name}` };
}

// ---------------------------------------------------------------------------
// gpu.js kernels (float32; one thread per element)
// ---------------------------------------------------------------------------

/**
 * exp(−z²/2) = e1·e2 for 0 ≤ z < 16 (see expSplitError): e1 = exp(a) with
 * a = −zh²/2 exact (zh = z cut to 8 fractional bits). GPU exp is only
 * promised within 3 + 2|a| ULP (200 ULP at a = −100), so a is reduced first
 * (Cody & Waite): a = k·ln2 + r, k = round(a/ln2) ∈ [−163, 0], with ln2 split
 * as LN2_HI (15 significant bits, so k·LN2_HI and a − k·LN2_HI are exact:
 * both are multiples of 2^-17 below 2^7) plus LN2_LO; then e1 = exp(r)·2^k,
 * |r| ≤ 0.35, and 2^k is built from exact powers of two. e1 is the factor
 * that becomes subnormal in the tail, so the kernels multiply by it last.
 */
function geluExpHi(z: number): number {
  const zh = Math.floor(z * 256) * 0.00390625;
  const a = -0.5 * zh * zh;
  const k = Math.floor(a * 1.4426950408889634 + 0.5);
  const r = a - k * 0.693145751953125 - k * 1.4286068203094173e-6;
  let n = -k;
  let p = 1;
  if (n >= 128) {
    p = p * 5.421010862427522e-20;
    p = p * 5.421010862427522e-20;
    n = n - 128;
  }
  if (n >= 64) {
    p = p * 5.421010862427522e-20;
    n = n - 64;
  }
  if (n >= 32) {
    p = p * 2.3283064365386963e-10;
    n = n - 32;
  }
  if (n >= 16) {
    p = p * 0.0000152587890625;
    n = n - 16;
  }
  if (n >= 8) {
    p = p * 0.00390625;
    n = n - 8;
  }
  if (n >= 4) {
    p = p * 0.0625;
    n = n - 4;
  }
  if (n >= 2) {
    p = p * 0.25;
    n = n - 2;
  }
  if (n >= 1) {
    p = p * 0.5;
  }
  return Math.exp(r) * p;
}

/** e2 = exp(−zl·(z + zh)/2), zl = z − zh ∈ [0, 2^-8): a factor in (0.94, 1]. */
function geluExpLo(z: number): number {
  const zh = Math.floor(z * 256) * 0.00390625;
  return Math.exp(-0.5 * (z - zh) * (z + zh));
}

/** N(z)/D(z) ≈ e^{z²/2}·Φ(−z) for 0 ≤ z ≤ 15 (coefficients MILLS_N, MILLS_D). */
function geluMills(z: number): number {
  const n =
    0.5 + z * (0.5723077058792114 + z * (0.3217983841896057 + z * (0.10890601575374603 + z * (0.023159250617027283 + z * (0.002940921811386943 + z * 0.00017728665261529386)))));
  const d =
    1.0 +
    z * (1.9424999952316284 + z * (1.693487524986267 + z * (0.8637310862541199 + z * (0.28036263585090637 + z * (0.05849584937095642 + z * (0.007371802348643541 + z * 0.00044439168414101005))))));
  return n / d;
}

interface ElemThis {
  thread: { x: number };
}

function geluErfKernel(this: ElemThis, x: number[], negZero: number): number {
  const v = x[this.thread.x];
  if (v != v) {
    return v;
  }
  const z = Math.abs(v);
  if (z > 15) {
    if (v > 0) {
      return v;
    }
    return negZero;
  }
  const m = geluMills(z);
  const e2 = geluExpLo(z);
  const e1 = geluExpHi(z);
  if (v < 0) {
    // x·Φ(x) = ((x·M)·e2)·e1: every factor before e1 is normal, so a
    // subnormal result is rounded once, not built from a subnormal Q
    return v * m * e2 * e1;
  }
  return v * (1 - m * e2 * e1);
}

function geluTanhKernel(this: ElemThis, x: number[], negZero: number): number {
  const v = x[this.thread.x];
  if (v != v) {
    return v;
  }
  const y = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  const e = Math.exp(-2 * Math.abs(y));
  if (v >= 0) {
    return v / (1 + e);
  }
  if (e == 0) {
    return negZero;
  }
  return (v * e) / (1 + e);
}

/**
 * `zero` is the number 0 passed as an argument: GPU compilers fold a literal
 * `dy * 0` to 0, but IEEE (and the reference) make NaN·0 and ±Inf·0 NaN.
 */
function geluErfBackwardKernel(this: ElemThis, dy: number[], x: number[], zero: number): number {
  const v = x[this.thread.x];
  const g = dy[this.thread.x];
  if (v != v) {
    return v;
  }
  const z = Math.abs(v);
  if (z > 15) {
    if (v > 0) {
      return g;
    }
    return g * zero;
  }
  const m = geluMills(z);
  const e2 = geluExpLo(z);
  const e1 = geluExpHi(z);
  if (v < 0) {
    // Φ(x) + x·φ(x) = e·(M(z) − z/√(2π)), scaled by dy before the small factor e1
    return g * (m - z * 0.3989422804014327) * e2 * e1;
  }
  return g * (1 - m * e2 * e1 + v * 0.3989422804014327 * e2 * e1);
}

function geluTanhBackwardKernel(this: ElemThis, dy: number[], x: number[], zero: number): number {
  const v = x[this.thread.x];
  const g = dy[this.thread.x];
  if (v != v) {
    return v;
  }
  const y = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  const e = Math.exp(-2 * Math.abs(y));
  if (e == 0) {
    // gelu' is exactly 1 or 0 here; dy·zero keeps NaN·0 = NaN (see geluErfBackwardKernel)
    if (v > 0) {
      return g;
    }
    return g * zero;
  }
  const r = 1 / (1 + e);
  let s = r;
  if (v < 0) {
    s = e * r;
  }
  const yp = 0.7978845608028654 * (1 + 0.134145 * v * v);
  return g * (s + 2 * v * yp * e * r * r);
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

/** Attributes of the gelu calls. */
export interface GeluAttrs {
  approximate: GeluApproximation;
  shape: readonly number[];
}

registerKernel<GeluAttrs>({
  kernel: 'gelu',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { x }, { approximate, shape }) => ({ y: out64(geluRef(f64(x), approximate), shape) }),
});
registerKernel<GeluAttrs>({
  kernel: 'gelu',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { x }, { approximate, shape }) => {
    const spec =
      approximate === 'none'
        ? { name: 'gelu.erf', fn: geluErfKernel, outputs: x.size, functions: [geluExpHi, geluExpLo, geluMills] }
        : { name: 'gelu.tanh', fn: geluTanhKernel, outputs: x.size };
    return { y: await d.gpujs!.run(spec, [x, -0], shape) };
  },
});

registerKernel<GeluAttrs>({
  kernel: 'gelu',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dy, x }, { approximate, shape }) => ({ dx: out64(geluBackwardRef(f64(dy), f64(x), approximate), shape) }),
});
registerKernel<GeluAttrs>({
  kernel: 'gelu',
  phase: 'backward',
  backend: 'gpujs',
  impl: async (d, { dy, x }, { approximate, shape }) => {
    const spec =
      approximate === 'none'
        ? { name: 'gelu.erf.backward', fn: geluErfBackwardKernel, outputs: x.size, functions: [geluExpHi, geluExpLo, geluMills] }
        : { name: 'gelu.tanh.backward', fn: geluTanhBackwardKernel, outputs: x.size };
    return { dx: await d.gpujs!.run(spec, [dy, x, 0], shape) };
  },
});

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

function approximationOf(fn: string, options: GeluOptions | undefined): GeluApproximation {
  checkOptions(fn, options, ['approximate']);
  return options?.approximate === undefined ? 'none' : checkOneOf(fn, 'approximate', options.approximate, ['none', 'tanh'] as const);
}

/**
 * GELU: x·Φ(x) (default), or PyTorch's tanh approximation with
 * `{ approximate: 'tanh' }`. Relative accuracy is kept for x → −∞; NaN → NaN,
 * +Inf → +Inf, −Inf → −0.
 *
 * @param x (...)
 * @returns y (...)
 * @example
 * const y = await gelu(dev, tensor([-20, -1, 0, 1, 1e30], [5]));
 * // ≈ [-5.5e-88 → -0 in float32, -0.15866, 0, 0.84134, 1e30]
 */
export async function gelu(device: Device, x: Tensor, options?: GeluOptions): Promise<Tensor> {
  const approximate = approximationOf('gelu', options);
  checkTensor('gelu', 'x', x);
  checkFloat('gelu', 'x', x);
  if (x.size === 0) return emptyLike(device.info.precision, x.shape);
  return (await runKernel(device, 'gelu', 'forward', { x }, { approximate, shape: x.shape })).y;
}

/**
 * Gradient of GELU: dx = dy·gelu'(x), with gelu'(+Inf) = 1 and gelu'(−Inf) = 0.
 *
 * @param dy (...) gradient with respect to y
 * @param x (...) the forward input
 * @returns dx (...)
 * @example
 * const dx = await geluBackward(dev, dy, x, { approximate: 'tanh' });
 */
export async function geluBackward(device: Device, dy: Tensor, x: Tensor, options?: GeluOptions): Promise<Tensor> {
  const approximate = approximationOf('geluBackward', options);
  checkTensor('geluBackward', 'x', x);
  checkFloat('geluBackward', 'x', x);
  checkSameShape('geluBackward', 'dy', dy, 'x', x);
  checkFloat('geluBackward', 'dy', dy);
  if (x.size === 0) return emptyLike(device.info.precision, x.shape);
  return (await runKernel(device, 'gelu', 'backward', { dy, x }, { approximate, shape: x.shape })).dx;
}
