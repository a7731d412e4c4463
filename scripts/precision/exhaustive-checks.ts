/**
 * The exhaustive precision checks, shared by test/precision/exhaustive.test.ts
 * (which asserts zero mismatches) and scripts/precision/exhaustive.ts (which
 * writes docs/precision-exhaustive.md).
 *
 * Every check compares the library against a reference written
 * independently of it:
 *   - `decodeByFormula`: sign · 2^(e − bias) · (1 + m/2^M) with Math.pow
 *     (subnormals sign · 2^(1 − bias) · (m/2^M)), from the textbook
 *     definition, not from the library's field arithmetic;
 *   - `@petamoriken/float16`'s `getFloat16`/`f16round` for float16;
 *   - `bf16FromF32Bits`: the classic integer rounding of a float32 word to its
 *     high 16 bits (add 0x7fff plus the kept LSB, shift), for bfloat16.
 */
import { f16round, getFloat16 } from '@petamoriken/float16';
import { FORMATS, type FloatFormat } from '../../src/precision/formats.js';
import { decode, decodeArray, encode, encodeArray, isRepresentable, roundArray, roundTo } from '../../src/precision/round.js';

export interface CheckResult {
  /** What was checked. */
  name: string;
  format: string;
  /** Number of cases compared. */
  checked: number;
  mismatches: number;
  /** Up to 5 mismatching cases, for the report. */
  examples: string[];
  ms: number;
}

class Tally {
  checked = 0;
  mismatches = 0;
  examples: string[] = [];
  readonly t0 = performance.now();
  constructor(
    readonly name: string,
    readonly format: string,
  ) {}
  check(ok: boolean, describe: () => string): void {
    this.checked++;
    if (!ok) {
      this.mismatches++;
      if (this.examples.length < 5) this.examples.push(describe());
    }
  }
  done(): CheckResult {
    return { name: this.name, format: this.format, checked: this.checked, mismatches: this.mismatches, examples: this.examples, ms: performance.now() - this.t0 };
  }
}

const same = (a: number, b: number): boolean => Object.is(a, b) || (a !== a && b !== b);
const hex = (b: number, bits: number): string => `0x${b.toString(16).padStart(Math.ceil(bits / 4), '0')}`;

/** The textbook value of a bit pattern, by Math.pow. NaN for NaN patterns. */
export function decodeByFormula(f: FloatFormat, bits: number): number {
  const M = f.manBits;
  const E = f.expBits;
  const sign = Math.floor(bits / Math.pow(2, E + M)) === 1 ? -1 : 1;
  const e = Math.floor(bits / Math.pow(2, M)) % Math.pow(2, E);
  const m = bits % Math.pow(2, M);
  const bias = Math.pow(2, E - 1) - 1;
  const allOnes = Math.pow(2, E) - 1;
  if (e === allOnes) {
    if (f.hasInf) return m === 0 ? sign * Infinity : NaN;
    if (m === Math.pow(2, M) - 1) return NaN;
  }
  if (e === 0) return sign * Math.pow(2, 1 - bias) * (m / Math.pow(2, M));
  return sign * Math.pow(2, e - bias) * (1 + m / Math.pow(2, M));
}

/** Reference bfloat16 rounding of a float32 word (round to nearest even on the low 16 bits). */
export function bf16FromF32Bits(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return 0x7fc0; // NaN
  const rounded = (u + 0x7fff + ((u >>> 16) & 1)) >>> 0;
  return rounded >>> 16;
}

const FORMAT_LIST: FloatFormat[] = [FORMATS.float16, FORMATS.bfloat16, FORMATS.float8_e4m3fn, FORMATS.float8_e5m2];

/** Every pattern decodes to the formula's value (NaN ↔ NaN, −0 distinct from +0). */
function checkDecode(f: FloatFormat): CheckResult {
  const t = new Tally('decode(bits) equals sign·2^(e−bias)·(1+m/2^M) for every pattern', f.name);
  const n = 2 ** f.bits;
  for (let b = 0; b < n; b++) {
    const got = decode(f, b);
    const want = decodeByFormula(f, b);
    t.check(same(got, want), () => `${hex(b, f.bits)}: decode ${got}, formula ${want}`);
  }
  return t.done();
}

/** encode(decode(b)) = b for every non-NaN pattern; NaN patterns decode to NaN and re-encode to the canonical NaN. */
function checkRoundTrip(f: FloatFormat): CheckResult {
  const t = new Tally('encode(decode(bits)) = bits (NaN patterns → canonical NaN)', f.name);
  const n = 2 ** f.bits;
  for (let b = 0; b < n; b++) {
    const v = decode(f, b);
    const back = encode(f, v);
    if (v !== v) t.check(back === f.nanBits, () => `NaN ${hex(b, f.bits)} re-encodes to ${hex(back, f.bits)}, want ${hex(f.nanBits, f.bits)}`);
    else t.check(back === b, () => `${hex(b, f.bits)} (${v}) re-encodes to ${hex(back, f.bits)}`);
  }
  return t.done();
}

/** Every decoded value is a fixed point of roundTo and isRepresentable. */
function checkFixedPoints(f: FloatFormat): CheckResult {
  const t = new Tally('roundTo(decode(bits)) = decode(bits), isRepresentable', f.name);
  const n = 2 ** f.bits;
  for (let b = 0; b < n; b++) {
    const v = decode(f, b);
    if (v !== v) continue;
    const r = roundTo(f, v, { saturate: false });
    t.check(Object.is(r, v) && isRepresentable(f, v), () => `${hex(b, f.bits)} = ${v} rounds to ${r}`);
  }
  return t.done();
}

/** decodeArray / encodeArray / roundArray over all patterns agree with the scalar functions. */
function checkArrays(f: FloatFormat): CheckResult {
  const t = new Tally('decodeArray/encodeArray/roundArray on all patterns agree with decode/encode/roundTo', f.name);
  const n = 2 ** f.bits;
  const bits = f.bits <= 8 ? new Uint8Array(n) : new Uint16Array(n);
  for (let b = 0; b < n; b++) bits[b] = b;
  const values = decodeArray(f, bits) as Float32Array;
  const re = encodeArray(f, values);
  const r32 = roundArray(f, values);
  const r64 = roundArray(f, Float64Array.from(values));
  for (let b = 0; b < n; b++) {
    const v = decode(f, b);
    t.check(same(values[b], v), () => `decodeArray[${hex(b, f.bits)}] = ${values[b]}, decode ${v}`);
    t.check(re[b] === encode(f, values[b]), () => `encodeArray[${hex(b, f.bits)}] = ${re[b]}`);
    t.check(same(r32[b], v) && same(r64[b], v), () => `roundArray of ${v}: ${r32[b]} (f32) ${r64[b]} (f64)`);
  }
  return t.done();
}

/** The finite non-negative values in increasing order (pattern order for positives). */
function positiveFinites(f: FloatFormat): number[] {
  const out: number[] = [];
  const half = 2 ** (f.bits - 1);
  for (let b = 0; b < half; b++) {
    const v = decode(f, b);
    if (Number.isFinite(v)) out.push(v);
  }
  return out;
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
function nextUp(x: number): number {
  f64[0] = x;
  u64[0] += x >= 0 ? 1n : -1n;
  return f64[0];
}
function nextDown(x: number): number {
  f64[0] = x;
  u64[0] += x > 0 ? -1n : 1n;
  return f64[0];
}

/**
 * Every midpoint between consecutive values (both signs, including the
 * overflow midpoint above maxFinite) rounds to the neighbour with the even
 * pattern, and the float64 neighbours just below and above it round down and
 * up: the exhaustive halfway test.
 */
function checkMidpoints(f: FloatFormat): CheckResult {
  const t = new Tally('every midpoint → even neighbour; midpoint ∓ 1 ulp(float64) → lower/upper neighbour', f.name);
  const vals = positiveFinites(f);
  // beyond max: the next step of the top binade (Inf pattern for IEEE, the NaN slot for e4m3fn)
  const above = f.maxFinite + 2 ** (f.emax - f.manBits);
  const overflow = f.hasInf ? Infinity : NaN;
  for (let k = 0; k < vals.length; k++) {
    const lo = vals[k];
    const hiIsOverflow = k === vals.length - 1;
    const hi = hiIsOverflow ? above : vals[k + 1];
    const m = (lo + hi) / 2; // exact: one more bit than the format has
    // the even neighbour: patterns are consecutive, so lo's pattern parity decides
    const loEven = encode(f, lo) % 2 === 0;
    const hiValue = hiIsOverflow ? overflow : hi;
    const atTie = loEven ? lo : hiValue;
    for (const s of [1, -1]) {
      const sm = s * m;
      const opts = { saturate: false };
      const r = roundTo(f, sm, opts);
      t.check(same(r, s * atTie), () => `${sm} → ${r}, want ${s * atTie}`);
      const below = roundTo(f, s > 0 ? nextDown(m) : -nextDown(m), opts);
      t.check(same(below, s * lo), () => `just inside ${sm} → ${below}, want ${s * lo}`);
      const beyond = roundTo(f, s > 0 ? nextUp(m) : -nextUp(m), opts);
      t.check(same(beyond, s * hiValue), () => `just beyond ${sm} → ${beyond}, want ${s * hiValue}`);
    }
  }
  return t.done();
}

/** float16 only: all 65,536 patterns against @petamoriken/float16's getFloat16. */
function checkFloat16Oracle(): CheckResult {
  const t = new Tally('decode(bits) equals @petamoriken/float16 getFloat16 (all patterns); f16round agrees on every midpoint ± 1 ulp', 'float16');
  const view = new DataView(new ArrayBuffer(2));
  for (let b = 0; b < 65536; b++) {
    view.setUint16(0, b);
    const want = getFloat16(view, 0);
    const got = decode('float16', b);
    t.check(same(got, want), () => `${hex(b, 16)}: decode ${got}, getFloat16 ${want}`);
  }
  const vals = positiveFinites(FORMATS.float16);
  for (let k = 0; k + 1 < vals.length; k++) {
    const m = (vals[k] + vals[k + 1]) / 2;
    for (const x of [m, nextDown(m), nextUp(m), -m, -nextDown(m), -nextUp(m)]) {
      const got = roundTo('float16', x);
      const want = f16round(x);
      t.check(Object.is(got, want), () => `roundTo(${x}) = ${got}, f16round ${want}`);
    }
  }
  return t.done();
}

/**
 * bfloat16 halfway cases built in float64: x = midpoint + 1 ulp(float64) must
 * round up. Rounding through float32 first lands exactly on the midpoint
 * (the extra ulp is far below float32's resolution) and ties-to-even then
 * rounds down whenever the lower neighbour is even: double rounding.
 * Counts the cases where the float32 path is wrong; `roundTo` must be right
 * on all of them.
 */
export function checkBf16DoubleRounding(): CheckResult & { doubleRoundingWrong: number } {
  const t = new Tally('bfloat16: midpoint + 1 ulp(float64) rounds up (roundTo); counts where fround-then-round is wrong', 'bfloat16');
  const vals = positiveFinites(FORMATS.bfloat16);
  let doubleRoundingWrong = 0;
  for (let k = 0; k + 1 < vals.length; k++) {
    const m = (vals[k] + vals[k + 1]) / 2;
    const x = nextUp(m);
    const want = vals[k + 1];
    const got = roundTo('bfloat16', x);
    t.check(Object.is(got, want), () => `roundTo(${x}) = ${got}, want ${want}`);
    // the same through float32: fround(x) = m exactly, then bits rounding
    const viaF32 = roundTo('bfloat16', Math.fround(x));
    if (!Object.is(viaF32, want)) doubleRoundingWrong++;
  }
  return { ...t.done(), doubleRoundingWrong };
}

/**
 * Float32 inputs: `roundArray` to bfloat16 against the reference bit rounding
 * and to float16 against f16round, on every float32 pattern whose index is
 * in [start, end) with the given stride (stride 1, [0, 2^32) = all of them).
 */
export function checkFloat32Inputs(start: number, end: number, stride: number): CheckResult[] {
  const bf = new Tally(`bfloat16 from float32: roundArray equals the reference bit rounding (patterns ${start}..${end - 1} step ${stride})`, 'bfloat16');
  const h = new Tally(`float16 from float32: roundArray equals f16round (patterns ${start}..${end - 1} step ${stride})`, 'float16');
  const CH = 1 << 22;
  const words = new Uint32Array(CH);
  const src = new Float32Array(words.buffer);
  const outB = new Float32Array(CH);
  const outH = new Float32Array(CH);
  const outBW = new Uint32Array(outB.buffer);
  for (let base = start; base < end; base += CH * stride) {
    let len = 0;
    for (let p = base; p < end && len < CH; p += stride) words[len++] = p;
    const s = src.subarray(0, len);
    roundArray('bfloat16', s, outB.subarray(0, len));
    roundArray('float16', s, outH.subarray(0, len));
    for (let i = 0; i < len; i++) {
      const u = words[i];
      const want = bf16FromF32Bits(u);
      const gotBits = outB[i] !== outB[i] ? 0x7fc0 : outBW[i] >>> 16;
      // the low half must be zero: a value of the format
      const ok = gotBits === want && (outB[i] !== outB[i] || (outBW[i] & 0xffff) === 0);
      if (ok) bf.checked++;
      else bf.check(false, () => `${hex(u, 32)}: got ${hex(outBW[i], 32)}, want ${hex(want, 16)}`);
      const hv = f16round(src[i]);
      if (Object.is(outH[i], hv) || (hv !== hv && outH[i] !== outH[i])) h.checked++;
      else h.check(false, () => `${hex(u, 32)} (${src[i]}): got ${outH[i]}, f16round ${hv}`);
    }
  }
  return [bf.done(), h.done()];
}

/** All checks that run in the test suite (well under a minute). */
export function runExhaustiveChecks(): CheckResult[] {
  const out: CheckResult[] = [];
  for (const f of FORMAT_LIST) {
    out.push(checkDecode(f), checkRoundTrip(f), checkFixedPoints(f), checkArrays(f), checkMidpoints(f));
  }
  out.push(checkFloat16Oracle());
  out.push(checkBf16DoubleRounding());
  return out;
}
