/**
 * Rounding to a format, and bit encode/decode.
 *
 * One scalar rounding function (`roundTo`) serves every format. It works on
 * the exact float64 value, so rounding happens once: there is no
 * float64 → float32 → float16 path, which double-rounds (a float64 just
 * above a float16 halfway point can first round down onto the halfway point
 * in float32 and then, by ties-to-even, down again in float16).
 *
 * The method, for finite a = |x| > 0 below the overflow range:
 *   q = 2^(e − M)      where 2^e ≤ a < 2^(e+1) and e ≥ emin (normal range)
 *   q = minSubnormal   when a < minNormal (the subnormal range)
 *   t = a / q          exact: dividing by a power of two only moves the exponent;
 *                      t < 2^(M+1) (for M = 52, t ≥ 2^52 is already an integer)
 *   n = (t + 2^52) − 2^52
 *                      t + 2^52 lies in [2^52, 2^53) where the float64 spacing is 1,
 *                      so the addition rounds t to an integer with IEEE
 *                      round-to-nearest-even, and the subtraction is exact
 *   r = n · q          exact (n ≤ 2^(M+1) is a small integer); n = 2^(M+1)
 *                      is the carry into the next binade, still exact
 * then r > maxFinite is an overflow. JavaScript arithmetic is IEEE binary64
 * with no reassociation, so the add-and-subtract is not folded away.
 *
 * The whole-array functions use bit manipulation on the float32 or float64
 * words instead (integer round-to-nearest-even on the dropped fraction
 * bits), which is several times faster; the tests check the two agree.
 */
import { ArgumentError, checkOptions } from '../errors.js';
import { type FloatFormat, type FormatLike, fitsInFloat32, resolveFormat } from './formats.js';

// ---------------------------------------------------------------------------
// Shared scratch views and exact powers of two
// ---------------------------------------------------------------------------

const scratchF64 = new Float64Array(1);
const scratchU32 = new Uint32Array(scratchF64.buffer);
/** Word order of a float64 in memory (x86 and ARM are little-endian; checked rather than assumed). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = 1 - HI;
const TWO52 = 4503599627370496; // 2^52: float64 spacing is 1 on [2^52, 2^53)
/** Elements per pass when a temporary array is needed (64K: stays in L2). */
const CHUNK = 1 << 16;

/** POW2[k + 1074] = 2^k for k in [−1074, 1023], built by exact doubling and halving. */
const POW2 = (() => {
  const t = new Float64Array(1074 + 1024);
  let p = 1;
  for (let k = 0; k <= 1023; k++, p *= 2) t[k + 1074] = p;
  p = 1;
  for (let k = 0; k >= -1074; k--, p /= 2) t[k + 1074] = p;
  return t;
})();

/** 2^k exactly, for integer k in [−1074, 1023].
 *
 * @example
 * pow2(-1074); // 5e-324, exactly 2^-1074
 */
export function pow2(k: number): number {
  return POW2[k + 1074];
}

/** Unbiased exponent e with 2^e ≤ a < 2^(e+1), for normal positive float64 a. */
function exponentOf(a: number): number {
  scratchF64[0] = a;
  return ((scratchU32[HI] >>> 20) & 0x7ff) - 1023;
}

// ---------------------------------------------------------------------------
// Scalar rounding
// ---------------------------------------------------------------------------

/** Options of the rounding and encoding functions. */
export interface RoundOptions {
  /**
   * Clamp overflow to ±maxFinite instead of ±Inf (or NaN for formats without
   * Inf). ±Inf inputs then also become ±maxFinite, as in the OCP FP8
   * saturating conversion and CUDA's `__NV_SATFINITE`. Defaults to the
   * format's `saturate` field (true only for formats without Inf).
   */
  saturate?: boolean;
}

function saturateOption(fn: string, f: FloatFormat, options: RoundOptions | undefined): boolean {
  checkOptions(fn, options, ['saturate']);
  const s = options?.saturate;
  if (s === undefined) return f.saturate;
  if (typeof s !== 'boolean') throw new ArgumentError(`${fn}: option 'saturate' must be a boolean, got ${JSON.stringify(s)}`);
  return s;
}

/** What an overflowing magnitude becomes (before the sign is applied). */
function overflowValue(f: FloatFormat, saturate: boolean): number {
  if (saturate) return f.maxFinite;
  return f.hasInf ? Infinity : NaN;
}

function isFloat64(f: FloatFormat): boolean {
  return f.expBits === 11 && f.manBits === 52 && f.hasInf;
}

function isFloat32(f: FloatFormat): boolean {
  return f.expBits === 8 && f.manBits === 23 && f.hasInf;
}

const f32Scratch = new Float32Array(1);
const f32ScratchU32 = new Uint32Array(f32Scratch.buffer);
/** The float32 bit pattern of fround(v). */
function f32Bits(v: number): number {
  f32Scratch[0] = v;
  return f32ScratchU32[0];
}

/** The rounding itself; `f` and `saturate` already validated. */
function roundScalar(f: FloatFormat, x: number, saturate: boolean): number {
  if (x !== x) return NaN;
  if (isFloat64(f)) return x;
  const a = Math.abs(x);
  if (a === 0) return x; // keeps −0
  let r: number;
  // a ≥ 2^(emax+1) overflows whatever the rounding (this also catches ±Inf,
  // and keeps q·2^52-sized intermediates out of the computation)
  if (a === Infinity || (f.emax < 1023 && a >= POW2[f.emax + 1 + 1074])) {
    r = Infinity;
  } else {
    const q = a < f.minNormal ? f.minSubnormal : POW2[exponentOf(a) - f.manBits + 1074];
    const t = a / q;
    // t ≥ 2^52 happens only for a 52-bit fraction in the normal range, where t is already an integer
    r = (t < TWO52 ? t + TWO52 - TWO52 : t) * q; // ((t + 2^52) − 2^52)·q, left to right
  }
  if (r > f.maxFinite) r = overflowValue(f, saturate);
  return x < 0 ? -r : r;
}

/**
 * Rounds a float64 to the nearest value of `format` (round-to-nearest, ties
 * to even), returned as a float64 number. Rounds once, from the exact input.
 *
 * Special cases:
 *   - NaN → NaN.
 *   - ±0 → ±0; a nonzero value that rounds to zero keeps its sign (−1e−30 → −0 in float16).
 *   - |x| ≤ minSubnormal/2 → ±0 (the tie at exactly half goes to the even value 0).
 *   - subnormal results are exact multiples of minSubnormal (gradual underflow).
 *   - overflow (|x| ≥ maxFinite + ulp/2 for IEEE-like formats, |x| > maxFinite + ulp/2
 *     for e4m3fn) → ±Inf, or ±maxFinite when saturating, or NaN for a format
 *     without Inf when not saturating (PyTorch's non-saturating cast to e4m3fn).
 *   - ±Inf → ±Inf, or ±maxFinite when saturating, or NaN (no Inf, not saturating).
 *   - float64 format: the identity.
 *
 * @example
 * roundTo('float16', 1 + 2 ** -11);            // 1  (tie → even)
 * roundTo('float16', 1 + 2 ** -11 + 2 ** -40); // 1.0009765625 (just above the tie)
 * roundTo('float16', 65520);                   // Infinity
 * roundTo('float8_e4m3fn', 1000);              // 448 (saturates by default)
 */
export function roundTo(format: FormatLike, x: number, options?: RoundOptions): number {
  const f = resolveFormat('roundTo', format);
  if (typeof x !== 'number') throw new ArgumentError(`roundTo: 'x' must be a number, got ${typeof x}`);
  return roundScalar(f, x, saturateOption('roundTo', f, options));
}

/** True when `x` is exactly a value of `format` (NaN counts as representable).
 *
 * @example
 * isRepresentable('float16', 0.5); // true; isRepresentable('float16', 0.1) is false
 */
export function isRepresentable(format: FormatLike, x: number): boolean {
  const f = resolveFormat('isRepresentable', format);
  if (typeof x !== 'number') throw new ArgumentError(`isRepresentable: 'x' must be a number, got ${typeof x}`);
  if (x !== x) return true;
  if (!f.hasInf && Math.abs(x) === Infinity) return false;
  return Object.is(roundScalar(f, x, false), x);
}

// ---------------------------------------------------------------------------
// Bit patterns
// ---------------------------------------------------------------------------

function checkEncodable(fn: string, f: FloatFormat): void {
  if (f.bits > 32) {
    throw new ArgumentError(`${fn}: format '${f.name}' has ${f.bits}-bit patterns; bit patterns are supported up to 32 bits (use a Float64Array view for float64)`);
  }
}

/** Bit pattern of a value that is already representable in `f` (the result of roundScalar). */
function bitsOfRounded(f: FloatFormat, r: number): number {
  if (r !== r) return f.nanBits;
  const M = f.manBits;
  const signBit = r < 0 || Object.is(r, -0) ? POW2[f.bits - 1 + 1074] : 0;
  const a = Math.abs(r);
  if (a === 0) return signBit;
  const fieldUnit = POW2[M + 1074]; // 2^M: one step of the exponent field
  if (a === Infinity) return signBit + (POW2[f.expBits + 1074] - 1) * fieldUnit;
  if (a < f.minNormal) return signBit + a / f.minSubnormal; // exponent field 0, exact integer fraction
  const e = exponentOf(a);
  const mant = a / POW2[e - M + 1074] - fieldUnit; // significand·2^M − 2^M, an exact integer
  return signBit + (e + f.bias) * fieldUnit + mant;
}

/**
 * The bit pattern of `roundTo(format, x)` as an unsigned integer
 * (sign | exponent field | fraction), for formats up to 32 bits.
 *
 * Special cases: NaN → the canonical quiet NaN `format.nanBits` (0x7e00 for
 * float16, 0x7fc0 bfloat16, 0x7f e4m3fn, 0x7e e5m2, 0x7fc00000 float32; the
 * sign and payload of a NaN are not kept); −0 → the sign bit alone; other
 * cases as in `roundTo`. Throws for 64-bit formats.
 *
 * @example
 * encode('float16', 1);       // 0x3c00
 * encode('bfloat16', -2);     // 0xc000
 * encode('float8_e4m3fn', 448); // 0x7e
 */
export function encode(format: FormatLike, x: number, options?: RoundOptions): number {
  const f = resolveFormat('encode', format);
  checkEncodable('encode', f);
  if (typeof x !== 'number') throw new ArgumentError(`encode: 'x' must be a number, got ${typeof x}`);
  return bitsOfRounded(f, roundScalar(f, x, saturateOption('encode', f, options)));
}

function checkBits(fn: string, f: FloatFormat, bits: unknown): number {
  if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < 0 || bits >= POW2[f.bits + 1074]) {
    throw new ArgumentError(`${fn}: 'bits' must be an integer in [0, 2^${f.bits}) for ${f.name}, got ${String(bits)}`);
  }
  return bits;
}

/** decode without argument checks (bits is a valid pattern). */
function decodeBits(f: FloatFormat, bits: number): number {
  const M = f.manBits;
  const fieldUnit = POW2[M + 1074];
  const mant = bits % fieldUnit;
  const rest = (bits - mant) / fieldUnit;
  const fieldCount = POW2[f.expBits + 1074];
  const field = rest % fieldCount;
  const negative = rest >= fieldCount;
  let v: number;
  if (field === fieldCount - 1 && (f.hasInf || mant === fieldUnit - 1)) {
    v = f.hasInf && mant === 0 ? Infinity : NaN;
  } else if (field === 0) {
    v = mant * f.minSubnormal;
  } else {
    v = (fieldUnit + mant) * POW2[field - f.bias - M + 1074];
  }
  return negative ? -v : v;
}

/**
 * The value of a bit pattern, as a float64 number (exact).
 *
 * Special cases: every NaN pattern (any payload, either sign) → NaN; the
 * e4m3fn patterns 0x7f and 0xff are its only NaNs and 0x78/0xf8 are ±256,
 * not Inf; exponent field 0 decodes as a subnormal (fraction · minSubnormal);
 * 0x8000 (float16) → −0.
 *
 * @example
 * decode('float16', 0x7bff); // 65504
 * decode('float16', 0x0001); // 5.960464477539063e-8 (2^−24)
 */
export function decode(format: FormatLike, bits: number): number {
  const f = resolveFormat('decode', format);
  checkEncodable('decode', f);
  return decodeBits(f, checkBits('decode', f, bits));
}

// ---------------------------------------------------------------------------
// Whole arrays
// ---------------------------------------------------------------------------

export type FloatArray = Float32Array | Float64Array;
/** Storage for bit patterns: Uint8Array for 8-bit formats, Uint16Array up to 16 bits, Uint32Array up to 32. */
export type BitsArray = Uint8Array | Uint16Array | Uint32Array;

function checkFloatArray(fn: string, name: string, a: unknown): FloatArray {
  if (a instanceof Float32Array || a instanceof Float64Array) return a;
  throw new ArgumentError(`${fn}: '${name}' must be a Float32Array or Float64Array, got ${describe(a)}`);
}

function describe(a: unknown): string {
  if (a === null) return 'null';
  if (typeof a !== 'object') return typeof a;
  return (a as object).constructor?.name ?? 'object';
}

/** A new bit-pattern array of the storage type the format needs.
 *
 * @example
 * allocBits('float16', 4); // Uint16Array(4)
 */
export function allocBits(format: FormatLike, length: number): BitsArray {
  const f = resolveFormat('allocBits', format);
  checkEncodable('allocBits', f);
  if (!Number.isInteger(length) || length < 0) throw new ArgumentError(`allocBits: 'length' must be a non-negative integer, got ${String(length)}`);
  return f.bits <= 8 ? new Uint8Array(length) : f.bits <= 16 ? new Uint16Array(length) : new Uint32Array(length);
}

/**
 * float32 words → rounded float32 words, for a format whose values all fit in
 * float32 and with manBits ≤ 22. Integer round-to-nearest-even on the
 * `drop = 23 − M` low fraction bits: adding (half − 1) plus the kept LSB and
 * masking rounds up exactly when the dropped part is above half, or equal to
 * half with an odd kept LSB. A carry out of the fraction bumps the exponent,
 * which is the correct next binade (or the overflow check catches it).
 * Inputs in the format's subnormal range use the float64 add-and-subtract
 * rounding with the fixed quantum minSubnormal.
 */
function roundF32Words(f: FloatFormat, saturate: boolean, s: Uint32Array, sF: Float32Array, d: Uint32Array, dF: Float32Array, n: number): void {
  const drop = 23 - f.manBits;
  const halfM1 = (1 << (drop - 1)) - 1;
  const keepMask = ~((1 << drop) - 1);
  const minNormalBits = (f.emin + 127) << 23;
  // a magnitude of 2^(emax+1) or more overflows outright; for bfloat16 that is the Inf pattern
  const overflowBits = f.emax + 1 >= 128 ? 0x7f800000 : (f.emax + 1 + 127) << 23;
  const maxFiniteBits = f32Bits(f.maxFinite);
  const ovf = saturate ? maxFiniteBits : f.hasInf ? 0x7f800000 : 0x7fc00000;
  // |x| ≤ minSubnormal/2 rounds to zero (the tie goes to the even value 0)
  const halfMinSubBits = f32Bits(f.minSubnormal / 2);
  const C = f.minSubnormal * TWO52;
  for (let i = 0; i < n; i++) {
    const u = s[i];
    const a = u & 0x7fffffff;
    const sign = u & 0x80000000;
    if (a >= minNormalBits) {
      if (a >= overflowBits) {
        // Inf is 0x7f800000; anything above it is a NaN, kept with its payload and made quiet
        d[i] = a > 0x7f800000 ? u | 0x00400000 : sign | ovf;
      } else {
        const r = (a + halfM1 + ((a >>> drop) & 1)) & keepMask;
        d[i] = sign | (r > maxFiniteBits ? ovf : r);
      }
    } else if (a <= halfMinSubBits) {
      d[i] = sign;
    } else {
      const v = sF[i];
      const r = Math.abs(v) + C - C;
      dF[i] = sign !== 0 ? -r : r;
    }
  }
}

/**
 * float16 from float32 words: `roundF32Words` with the float16 constants
 * written as literals, which V8 compiles to immediates (about 35% faster than
 * the generic loop, measured in bench/precision/round.bench.ts).
 *   0x38800000 = 2^−14 (min normal), 0x477ff000 = 65520 (overflow threshold:
 *   maxFinite + ulp/2, which rounds to 2^16), 0x33000000 = 2^−25 (half of
 *   min subnormal, rounds to 0), 2^28 = 2^−24 · 2^52 (subnormal quantum times
 *   2^52), 13 = 23 − 10 dropped bits.
 */
function roundF32ToF16Words(saturate: boolean, s: Uint32Array, sF: Float32Array, d: Uint32Array, dF: Float32Array, n: number): void {
  const ovf = saturate ? 0x477fe000 : 0x7f800000; // 65504 or Inf
  for (let i = 0; i < n; i++) {
    const u = s[i];
    const a = u & 0x7fffffff;
    if ((a - 0x38800000) >>> 0 < 0x477ff000 - 0x38800000) {
      // the normal range, by far the most common case: one unsigned compare
      d[i] = (u & 0x80000000) | ((a + 0xfff + ((a >>> 13) & 1)) & 0xffffe000);
    } else {
      const sign = u & 0x80000000;
      if (a >= 0x477ff000) d[i] = a > 0x7f800000 ? u | 0x00400000 : sign | ovf;
      else if (a <= 0x33000000) d[i] = sign;
      else {
        const v = sF[i];
        const r = Math.abs(v) + 268435456 - 268435456;
        dF[i] = sign !== 0 ? -r : r;
      }
    }
  }
}

/**
 * bfloat16 from float32 words. bfloat16 is float32 without its low 16 bits,
 * exponent range and subnormals included, so integer round-to-nearest-even of
 * the low half is the whole job: a carry out of the fraction moves to the next
 * binade, and out of 0x7f7f gives the Inf pattern 0x7f80 (overflow). NaNs are
 * kept (made quiet) rather than rounded, which could turn them into Inf.
 */
function roundF32ToBf16Words(saturate: boolean, s: Uint32Array, d: Uint32Array, n: number): void {
  const ovf = saturate ? 0x7f7f0000 : 0x7f800000;
  for (let i = 0; i < n; i++) {
    const u = s[i];
    const a = u & 0x7fffffff;
    if (a < 0x7f800000) {
      const r = (a + 0x7fff + ((a >>> 16) & 1)) & 0x7fff0000;
      d[i] = (u & 0x80000000) | (r > 0x7f7f0000 ? ovf : r);
    } else {
      d[i] = a > 0x7f800000 ? u | 0x00400000 : (u & 0x80000000) | ovf;
    }
  }
}

/**
 * float64 words → rounded values, for a format with manBits ≤ 19 (so the kept
 * fraction lies in the high word and the low word is all "dropped"): the
 * same integer rounding on the high word with the low word as sticky bits.
 * `out(i, hi)` receives the rounded high word (low word 0); subnormal-range
 * inputs go through the float64 add-and-subtract rounding.
 */
function roundF64Words(f: FloatFormat, saturate: boolean, s: Uint32Array, sF: Float64Array, n: number, dst: FloatArray): void {
  const drop = 20 - f.manBits;
  const half = 1 << (drop - 1);
  const lsb = 1 << drop;
  const remMask = lsb - 1;
  const minNormalHi = (f.emin + 1023) << 20;
  const overflowHi = (f.emax + 1 + 1023) << 20; // 0x7ff00000 when emax = 1023
  scratchF64[0] = f.maxFinite;
  const maxFiniteHi = scratchU32[HI];
  const ovfValue = overflowValue(f, saturate);
  const C = f.minSubnormal * TWO52;
  const direct = dst instanceof Float64Array ? new Uint32Array(dst.buffer, dst.byteOffset, dst.length * 2) : undefined;
  for (let i = 0; i < n; i++) {
    const hi = s[2 * i + HI];
    const lo = s[2 * i + LO];
    const ahi = hi & 0x7fffffff;
    let value: number;
    if (ahi >= minNormalHi) {
      if (ahi >= overflowHi) {
        // Inf/NaN field, or a magnitude ≥ 2^(emax+1)
        if (ahi >= 0x7ff00000 && (ahi > 0x7ff00000 || lo !== 0)) value = NaN;
        else value = hi < 0x80000000 ? ovfValue : -ovfValue;
        dst[i] = value;
        continue;
      }
      const rem = ahi & remMask;
      let keep = ahi - rem;
      if (rem > half || (rem === half && (lo !== 0 || (keep & lsb) !== 0))) keep += lsb;
      if (keep > maxFiniteHi) {
        dst[i] = hi < 0x80000000 ? ovfValue : -ovfValue;
        continue;
      }
      const outHi = (hi & 0x80000000) | keep;
      if (direct) {
        direct[2 * i + HI] = outHi;
        direct[2 * i + LO] = 0;
        continue;
      }
      scratchU32[HI] = outHi;
      scratchU32[LO] = 0;
      value = scratchF64[0];
    } else {
      const v = sF[i];
      const r = Math.abs(v) + C - C;
      value = hi >= 0x80000000 ? -r : r;
    }
    dst[i] = value;
  }
}

/**
 * float64 → a format with at most 21 fraction bits whose values (and
 * subnormal grid, ≥ 2^−147) fit in float32, in two steps that round once:
 * first to float32 with round-to-odd, then to the format with
 * round-to-nearest-even on the float32 words. Round-to-odd keeps "was there
 * anything beyond these bits" in the last bit, and with at least two more bits
 * in the intermediate format than in the target the second rounding is the
 * correct rounding of the original value (Boldo & Melquiond, "When double
 * rounding is odd", 2005; the target here has ≤ 22 significant bits, float32
 * 24). Round-to-odd from Math.fround's round-to-nearest: if the conversion was
 * inexact and landed on an even float32, step one ulp back towards x, onto the
 * odd neighbour (this also turns an overflow to ±Inf into ±FLT_MAX and an
 * underflow to ±0 into ±2^−149, both odd, as round-to-odd must).
 */
function roundF64ViaOdd(f: FloatFormat, saturate: boolean, src: Float64Array, out: FloatArray): void {
  const n = src.length;
  const len = Math.min(n, CHUNK);
  const tmp = out instanceof Float32Array ? undefined : new Float32Array(len);
  for (let start = 0; start < n; start += CHUNK) {
    const end = Math.min(n, start + CHUNK);
    const t = tmp ? (end - start === tmp.length ? tmp : tmp.subarray(0, end - start)) : (out as Float32Array).subarray(start, end);
    const w = u32View(t);
    for (let i = start, j = 0; i < end; i++, j++) {
      const x = src[i];
      t[j] = x;
      const r = t[j];
      if (r !== x && x === x && (w[j] & 1) === 0) w[j] += Math.abs(r) > Math.abs(x) ? -1 : 1;
    }
    roundF32Into(f, saturate, w, t, w, t, end - start);
    if (tmp) out.set(t, start);
  }
}

/** float32 words → rounded float32 words, through the specialised loop when there is one. */
function roundF32Into(f: FloatFormat, saturate: boolean, s: Uint32Array, sF: Float32Array, d: Uint32Array, dF: Float32Array, n: number): void {
  if (f.hasInf && f.expBits === 5 && f.manBits === 10) roundF32ToF16Words(saturate, s, sF, d, dF, n);
  else if (f.hasInf && f.expBits === 8 && f.manBits === 7) roundF32ToBf16Words(saturate, s, d, n);
  else roundF32Words(f, saturate, s, sF, d, dF, n);
}

function u32View(a: FloatArray): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
}

/**
 * Rounds every element of `src` to `format` (as `roundTo` does) and writes the
 * results to `dst`, a new array of src's type by default. `dst` may be `src`
 * itself (in place), or a Float32Array when every value of the format is
 * exact in float32 (float16, bfloat16, float8); it must have src's length.
 * `src` is not modified unless it is also `dst`.
 *
 * Fast paths: integer rounding on float32 words (float16 and bfloat16 have
 * their own loops; other formats that fit in float32 share a generic one);
 * float64 sources go through float32 with round-to-odd first (still a single
 * correct rounding, see `roundF64ViaOdd`), or through integer rounding on
 * float64 words for formats with ≤ 19 fraction bits beyond float32's range;
 * anything else uses `roundTo` per element. Measured speeds are in
 * docs/precision.md.
 *
 * Special cases: as `roundTo`, except that a NaN in a Float32Array keeps its
 * sign and payload bits (with the quiet bit set) instead of becoming the
 * canonical NaN. Empty arrays give empty arrays.
 *
 * @example
 * const h = roundArray('float16', new Float32Array([0.1, 65520, 1e-8])); // [0.0999755859375, Infinity, 0]
 */
export function roundArray<T extends FloatArray>(format: FormatLike, src: T, dst?: undefined, options?: RoundOptions): T;
export function roundArray<D extends FloatArray>(format: FormatLike, src: FloatArray, dst: D, options?: RoundOptions): D;
export function roundArray(format: FormatLike, src: FloatArray, dst?: FloatArray, options?: RoundOptions): FloatArray {
  const f = resolveFormat('roundArray', format);
  checkFloatArray('roundArray', 'src', src);
  const saturate = saturateOption('roundArray', f, options);
  const n = src.length;
  let out: FloatArray;
  if (dst === undefined) {
    out = src instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
  } else {
    out = checkFloatArray('roundArray', 'dst', dst);
    if (out.length !== n) throw new ArgumentError(`roundArray: 'dst' has length ${out.length} but 'src' has length ${n}; they must match`);
    if (out instanceof Float32Array && !(src instanceof Float32Array) && !fitsInFloat32(f)) {
      throw new ArgumentError(`roundArray: a Float32Array 'dst' cannot hold every ${f.name} value exactly; pass a Float64Array`);
    }
    if (out.buffer === src.buffer && out !== src && rangesOverlap(out, src)) {
      throw new ArgumentError(`roundArray: 'dst' overlaps 'src' without being the same array; pass the same array for in-place rounding or a separate one`);
    }
  }
  roundInto(f, saturate, src, out);
  return out;
}

function rangesOverlap(a: FloatArray, b: FloatArray): boolean {
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** The dispatch to the fast paths; arguments already validated. */
function roundInto(f: FloatFormat, saturate: boolean, src: FloatArray, out: FloatArray): void {
  const n = src.length;
  if (n === 0) return;
  if (isFloat64(f) || (isFloat32(f) && src instanceof Float32Array)) {
    if (out !== src) out.set(src);
    return;
  }
  if (src instanceof Float32Array && fitsInFloat32(f) && f.manBits <= 22) {
    if (out instanceof Float32Array) {
      roundF32Into(f, saturate, u32View(src), src, u32View(out), out, n);
    } else {
      // round into a float32 temporary of the same words, then widen (exact)
      const tmp = new Float32Array(n);
      roundF32Into(f, saturate, u32View(src), src, u32View(tmp), tmp, n);
      out.set(tmp);
    }
    return;
  }
  if (src instanceof Float64Array && fitsInFloat32(f) && f.manBits <= 21 && f.minSubnormal >= 2 ** -147) {
    roundF64ViaOdd(f, saturate, src, out);
    return;
  }
  if (src instanceof Float64Array && f.manBits <= 19) {
    roundF64Words(f, saturate, u32View(src), src, n, out);
    return;
  }
  for (let i = 0; i < n; i++) out[i] = roundScalar(f, src[i], saturate);
}

/** Bits of a float32 word that holds a value of `f` (already rounded). */
function bitsFromF32Word(f: FloatFormat, u: number, v: number, signBit: number, expMask: number, minNormalBits: number, shift: number, fracMask: number): number {
  const a = u & 0x7fffffff;
  const sign = u >>> 31 ? signBit : 0;
  if (a > 0x7f800000) return f.nanBits;
  if (a === 0x7f800000) return sign + expMask;
  if (a >= minNormalBits) {
    const field = (a >>> 23) - 127 + f.bias;
    return sign + field * POW2[f.manBits + 1074] + ((a >>> shift) & fracMask);
  }
  return sign + Math.abs(v) / f.minSubnormal;
}

/**
 * Rounds every element to `format` and stores its bit pattern: a Uint8Array
 * for 8-bit formats, Uint16Array for float16/bfloat16, Uint32Array for
 * float32 (or `dst`, which must be that type and src's length).
 *
 * Special cases: as `encode` (NaN → the canonical NaN pattern).
 *
 * @example
 * const bits = encodeArray('bfloat16', new Float32Array([1, -0, NaN])); // Uint16Array [0x3f80, 0x8000, 0x7fc0]
 */
export function encodeArray(format: FormatLike, src: FloatArray | readonly number[], dst?: BitsArray, options?: RoundOptions): BitsArray {
  const f = resolveFormat('encodeArray', format);
  checkEncodable('encodeArray', f);
  const saturate = saturateOption('encodeArray', f, options);
  let source: FloatArray;
  if (Array.isArray(src)) source = Float64Array.from(src as readonly number[]);
  else source = checkFloatArray('encodeArray', 'src', src);
  const n = source.length;
  const out = dst ?? allocBits(f, n);
  const expected = allocBits(f, 0);
  if (out.constructor !== expected.constructor) {
    throw new ArgumentError(`encodeArray: 'dst' must be a ${expected.constructor.name} for ${f.name}, got ${describe(out)}`);
  }
  if (out.length !== n) throw new ArgumentError(`encodeArray: 'dst' has length ${out.length} but 'src' has length ${n}; they must match`);
  if (fitsInFloat32(f) && f.manBits <= 22) {
    const M = f.manBits;
    const signBit = POW2[f.bits - 1 + 1074];
    const expMask = (POW2[f.expBits + 1074] - 1) * POW2[M + 1074];
    const minNormalBits = (f.emin + 127) << 23;
    const shift = 23 - M;
    const fracMask = (1 << M) - 1;
    const tmp = new Float32Array(Math.min(n, CHUNK));
    const tw = u32View(tmp);
    for (let start = 0; start < n; start += CHUNK) {
      const len = Math.min(CHUNK, n - start);
      const part = source.subarray(start, start + len);
      const t = len === tmp.length ? tmp : tmp.subarray(0, len);
      roundInto(f, saturate, part, t);
      if (f.hasInf && f.expBits === 5 && f.manBits === 10) f16BitsFromWords(tw, t, out as Uint16Array, start, len);
      else if (f.hasInf && f.expBits === 8 && f.manBits === 7) bf16BitsFromWords(tw, out as Uint16Array, start, len);
      else for (let i = 0; i < len; i++) out[start + i] = bitsFromF32Word(f, tw[i], tmp[i], signBit, expMask, minNormalBits, shift, fracMask);
    }
    return out;
  }
  for (let i = 0; i < n; i++) out[i] = bitsOfRounded(f, roundScalar(f, source[i], saturate));
  return out;
}

/**
 * float16 patterns from float32 words holding float16 values: a normal value's
 * exponent field moves from bias 127 to bias 15 (subtract 112 << 23) and the
 * 10 kept fraction bits shift down by 13; a subnormal one is value · 2^24
 * (an integer); ±Inf is 0x7c00 with the sign; NaN becomes the canonical 0x7e00.
 */
function f16BitsFromWords(w: Uint32Array, v: Float32Array, out: Uint16Array, start: number, len: number): void {
  for (let i = 0; i < len; i++) {
    const u = w[i];
    const a = u & 0x7fffffff;
    const sign = (u >>> 16) & 0x8000;
    if (a >= 0x38800000) out[start + i] = a >= 0x7f800000 ? (a > 0x7f800000 ? 0x7e00 : sign | 0x7c00) : sign | ((a - 0x38000000) >>> 13);
    else out[start + i] = sign | (Math.abs(v[i]) * 16777216);
  }
}

/** bfloat16 patterns from float32 words holding bfloat16 values: the high half; NaN becomes 0x7fc0. */
function bf16BitsFromWords(w: Uint32Array, out: Uint16Array, start: number, len: number): void {
  for (let i = 0; i < len; i++) {
    const u = w[i];
    out[start + i] = (u & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : u >>> 16;
  }
}

/** Lazily built value tables for formats of at most 16 bits (65,536 × 4 bytes for float16). */
const decodeTables = new WeakMap<FloatFormat, Float64Array>();
function decodeTable(f: FloatFormat): Float64Array {
  let t = decodeTables.get(f);
  if (!t) {
    t = new Float64Array(2 ** f.bits);
    for (let b = 0; b < t.length; b++) t[b] = decodeBits(f, b);
    decodeTables.set(f, t);
  }
  return t;
}

/**
 * Decodes bit patterns to values (exact), into `dst` (a new Float32Array by
 * default; pass a Float64Array for formats wider than float32).
 *
 * Special cases: as `decode`. bfloat16 decodes by placing the pattern in the
 * high half of a float32 word, so NaN patterns keep their payload there.
 *
 * @example
 * decodeArray('float16', new Uint16Array([0x3c00, 0xfc00])); // Float32Array [1, -Infinity]
 */
export function decodeArray(format: FormatLike, bits: BitsArray, dst?: FloatArray): FloatArray {
  const f = resolveFormat('decodeArray', format);
  checkEncodable('decodeArray', f);
  if (!(bits instanceof Uint8Array || bits instanceof Uint16Array || bits instanceof Uint32Array)) {
    throw new ArgumentError(`decodeArray: 'bits' must be a Uint8Array, Uint16Array or Uint32Array, got ${describe(bits)}`);
  }
  const n = bits.length;
  let out: FloatArray;
  if (dst === undefined) {
    if (!fitsInFloat32(f)) throw new ArgumentError(`decodeArray: ${f.name} values do not all fit in float32; pass a Float64Array 'dst'`);
    out = new Float32Array(n);
  } else {
    out = checkFloatArray('decodeArray', 'dst', dst);
    if (out.length !== n) throw new ArgumentError(`decodeArray: 'dst' has length ${out.length} but 'bits' has length ${n}; they must match`);
    if (out instanceof Float32Array && !fitsInFloat32(f)) throw new ArgumentError(`decodeArray: a Float32Array 'dst' cannot hold every ${f.name} value exactly; pass a Float64Array`);
  }
  const limit = POW2[f.bits + 1074];
  if (f.expBits === 8 && f.manBits === 7 && f.hasInf && out instanceof Float32Array) {
    // bfloat16 is the high half of a float32 word
    const w = u32View(out);
    for (let i = 0; i < n; i++) {
      const b = bits[i];
      if (b >= limit) throw badPattern(f, i, b);
      w[i] = b << 16;
    }
    return out;
  }
  if (f.bits <= 16) {
    const t = decodeTable(f);
    for (let i = 0; i < n; i++) {
      const b = bits[i];
      if (b >= limit) throw badPattern(f, i, b);
      out[i] = t[b];
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    const b = bits[i];
    if (b >= limit) throw badPattern(f, i, b);
    out[i] = decodeBits(f, b);
  }
  return out;
}

function badPattern(f: FloatFormat, i: number, b: number): ArgumentError {
  return new ArgumentError(`decodeArray: bits[${i}] = ${b} is not a ${f.bits}-bit ${f.name} pattern`);
}
