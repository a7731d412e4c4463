/**
 * Binary floating-point formats as data.
 *
 * A format is a sign bit, `expBits` exponent bits and `manBits` stored
 * mantissa (fraction) bits. Everything else — bias, largest finite value,
 * smallest normal and subnormal, machine epsilon — is derived from those
 * fields and from how the format spends its top exponent field:
 *
 *   - IEEE-like (`hasInf: true`): the all-ones exponent field is reserved for
 *     ±Inf (fraction 0) and NaN (fraction ≠ 0). float16, bfloat16, e5m2,
 *     float32 and float64 work this way.
 *       emax = 2^E − 2 − bias,  maxFinite = 2^emax · (2 − 2^−M)
 *   - "fn" (finite + NaN, `hasInf: false`): the all-ones exponent field holds
 *     ordinary numbers except S.1…1.1…1, which is NaN. There is no Inf.
 *     float8 e4m3fn (OCP OFP8) works this way.
 *       emax = 2^E − 1 − bias,  maxFinite = 2^emax · (2 − 2^(1−M))
 *
 * For both: bias = 2^(E−1) − 1, emin = 1 − bias, minNormal = 2^emin,
 * minSubnormal = 2^(emin − M), epsilon = 2^−M (the gap between 1 and the
 * next value). Every derived constant is a power of two or a power of two
 * times an integer below 2^53, so computing them with `2 ** k` (exact for
 * integer k in [−1074, 1023]) gives the exact value.
 *
 * References: IEEE 754-2019 §3.3 (binary16/32/64); the OCP 8-bit floating
 * point specification (OFP8) rev. 1.0 for e4m3fn and e5m2; Google's brain
 * float (bfloat16: float32 with the low 16 fraction bits removed).
 */
import { ArgumentError } from '../errors.js';

/** What describes a format; the derived constants are computed from these. */
export interface FormatSpec {
  /** Name used in messages and lookups, e.g. 'float16'. */
  readonly name: string;
  /** Exponent field width E (2 ≤ E ≤ 11). */
  readonly expBits: number;
  /** Stored fraction width M (0 ≤ M ≤ 52). */
  readonly manBits: number;
  /**
   * True when the all-ones exponent field encodes ±Inf and NaN (IEEE-like).
   * False for "fn" formats: no Inf, and NaN only as S.1…1.1…1.
   */
  readonly hasInf: boolean;
  /**
   * Default overflow behaviour of `roundTo` for this format: true clamps
   * finite overflow and ±Inf to ±maxFinite. Defaults to `!hasInf` (a format
   * without Inf saturates unless asked not to; then overflow gives NaN).
   */
  readonly saturate?: boolean;
}

/** A format with its derived constants. Frozen; create custom ones with `defineFormat`. */
export interface FloatFormat extends Required<FormatSpec> {
  /** Total storage width: 1 + expBits + manBits. */
  readonly bits: number;
  /** Exponent bias: 2^(E−1) − 1. */
  readonly bias: number;
  /** Exponent of the largest binade that holds finite values. */
  readonly emax: number;
  /** Exponent of the smallest normal binade: 1 − bias. */
  readonly emin: number;
  /** Largest finite value. */
  readonly maxFinite: number;
  /** Smallest positive normal value 2^emin. */
  readonly minNormal: number;
  /** Smallest positive subnormal value 2^(emin − M). */
  readonly minSubnormal: number;
  /** 2^−M: the distance from 1 to the next larger value. */
  readonly epsilon: number;
  /**
   * Smallest magnitude that overflows under round-to-nearest-even:
   * maxFinite + ulp(maxFinite)/2 for IEEE-like formats (that tie rounds to
   * the odd-significand max, away from it), and for "fn" formats the midpoint
   * between maxFinite and the NaN slot above it rounds to maxFinite (even), so
   * overflow starts just above it. Reported as the boundary value; see
   * `overflowInclusive`.
   */
  readonly overflowThreshold: number;
  /** True when a magnitude equal to `overflowThreshold` overflows (IEEE-like), false when it rounds to maxFinite. */
  readonly overflowInclusive: boolean;
  /** Canonical quiet NaN bit pattern that `encode` writes. */
  readonly nanBits: number;
}

const pow2 = (k: number): number => 2 ** k;

/**
 * Validates a spec and derives its constants.
 *
 * @example
 * const e3m4 = defineFormat({ name: 'e3m4', expBits: 3, manBits: 4, hasInf: true });
 * e3m4.maxFinite; // 15.5
 */
export function defineFormat(spec: FormatSpec): FloatFormat {
  if (spec === null || typeof spec !== 'object') {
    throw new ArgumentError(`defineFormat: 'spec' must be an object { name, expBits, manBits, hasInf }, got ${String(spec)}`);
  }
  const { name, expBits: E, manBits: M, hasInf } = spec;
  if (typeof name !== 'string' || name.length === 0) {
    throw new ArgumentError(`defineFormat: 'name' must be a non-empty string, got ${JSON.stringify(name)}`);
  }
  if (!Number.isInteger(E) || E < 2 || E > 11) {
    throw new ArgumentError(`defineFormat(${name}): 'expBits' must be an integer in [2, 11] (float64 has 11), got ${String(E)}`);
  }
  if (!Number.isInteger(M) || M < 0 || M > 52) {
    throw new ArgumentError(`defineFormat(${name}): 'manBits' must be an integer in [0, 52] (float64 has 52), got ${String(M)}`);
  }
  if (typeof hasInf !== 'boolean') {
    throw new ArgumentError(`defineFormat(${name}): 'hasInf' must be a boolean, got ${JSON.stringify(hasInf)}`);
  }
  if (!hasInf && M === 0) {
    // with no fraction bits the only pattern of the top binade would be the NaN
    throw new ArgumentError(`defineFormat(${name}): a format without Inf needs manBits ≥ 1 (its NaN takes the all-ones fraction)`);
  }
  if (hasInf && M === 0) {
    throw new ArgumentError(`defineFormat(${name}): an IEEE-like format needs manBits ≥ 1 to encode NaN`);
  }
  if (!hasInf && E === 11) {
    throw new ArgumentError(`defineFormat(${name}): an 11-bit exponent without Inf has values beyond float64's range`);
  }
  if (spec.saturate !== undefined && typeof spec.saturate !== 'boolean') {
    throw new ArgumentError(`defineFormat(${name}): 'saturate' must be a boolean when given, got ${JSON.stringify(spec.saturate)}`);
  }
  const bias = pow2(E - 1) - 1;
  const emin = 1 - bias;
  const topField = pow2(E) - 1;
  const emax = (hasInf ? topField - 1 : topField) - bias;
  // IEEE-like: all fractions of the top finite binade are usable.
  // fn: the all-ones fraction of the top binade is NaN, so max is one step lower.
  const maxSignificand = hasInf ? 2 - pow2(-M) : 2 - pow2(1 - M);
  const maxFinite = pow2(emax) * maxSignificand;
  const halfUlpMax = pow2(emax - M - 1);
  const bits = 1 + E + M;
  // canonical NaN: IEEE quiet NaN (top fraction bit set) or the single fn NaN
  const expMaskShifted = topField * pow2(M);
  const nanBits = hasInf ? (M > 0 ? expMaskShifted + pow2(M - 1) : expMaskShifted) : expMaskShifted + (pow2(M) - 1);
  return Object.freeze({
    name,
    expBits: E,
    manBits: M,
    hasInf,
    saturate: spec.saturate ?? !hasInf,
    bits,
    bias,
    emax,
    emin,
    maxFinite,
    minNormal: pow2(emin),
    minSubnormal: pow2(emin - M),
    epsilon: pow2(-M),
    overflowThreshold: maxFinite + halfUlpMax,
    overflowInclusive: hasInf,
    nanBits,
  });
}

/** IEEE 754 binary16: 5 exponent bits, 10 fraction bits, max 65504. */
export const float16 = defineFormat({ name: 'float16', expBits: 5, manBits: 10, hasInf: true });
/** bfloat16: float32's 8-bit exponent with 7 fraction bits, max ≈ 3.39e38. */
export const bfloat16 = defineFormat({ name: 'bfloat16', expBits: 8, manBits: 7, hasInf: true });
/** OCP float8 E4M3 "fn": no Inf, NaN only at S.1111.111, max 448; saturates by default. */
export const float8e4m3fn = defineFormat({ name: 'float8_e4m3fn', expBits: 4, manBits: 3, hasInf: false });
/** OCP float8 E5M2: IEEE-like, max 57344. */
export const float8e5m2 = defineFormat({ name: 'float8_e5m2', expBits: 5, manBits: 2, hasInf: true });
/** IEEE 754 binary32. */
export const float32 = defineFormat({ name: 'float32', expBits: 8, manBits: 23, hasInf: true });
/** IEEE 754 binary64 (rounding to it is the identity). */
export const float64 = defineFormat({ name: 'float64', expBits: 11, manBits: 52, hasInf: true });

/** The built-in formats by name (the names PyTorch gives the dtypes). */
export const FORMATS = Object.freeze({
  float16,
  bfloat16,
  float8_e4m3fn: float8e4m3fn,
  float8_e5m2: float8e5m2,
  float32,
  float64,
});

export type FormatName = keyof typeof FORMATS;
/** A format object or the name of a built-in one. */
export type FormatLike = FloatFormat | FormatName;

const FORMAT_NAMES = Object.keys(FORMATS) as FormatName[];

function isFloatFormat(f: unknown): f is FloatFormat {
  if (f === null || typeof f !== 'object') return false;
  const o = f as Partial<FloatFormat>;
  return typeof o.name === 'string' && typeof o.expBits === 'number' && typeof o.manBits === 'number' && typeof o.minSubnormal === 'number' && typeof o.nanBits === 'number';
}

/**
 * Resolves a format object or a built-in name; throws an `ArgumentError`
 * naming `fn` and the argument otherwise.
 *
 * @example
 * resolveFormat('myFn', 'float16').maxFinite; // 65504; an unknown name throws an ArgumentError naming myFn
 */
export function resolveFormat(fn: string, format: unknown, argName = 'format'): FloatFormat {
  if (typeof format === 'string') {
    const f = (FORMATS as Record<string, FloatFormat>)[format];
    if (f) return f;
    throw new ArgumentError(`${fn}: unknown ${argName} '${format}'; expected one of ${FORMAT_NAMES.map((n) => `'${n}'`).join(', ')} or a format from defineFormat()`);
  }
  if (isFloatFormat(format)) return format;
  throw new ArgumentError(
    `${fn}: '${argName}' must be a format name (${FORMAT_NAMES.map((n) => `'${n}'`).join(', ')}) or a format from defineFormat(), got ${format === null ? 'null' : typeof format}`,
  );
}

/** True when every finite value of the format is exactly representable as a float32.
 *
 * @example
 * fitsInFloat32(FORMATS.bfloat16); // true; fitsInFloat32(FORMATS.float64) is false
 */
export function fitsInFloat32(f: FloatFormat): boolean {
  return f.manBits <= 23 && f.emax <= 127 && f.emin - f.manBits >= -149;
}
