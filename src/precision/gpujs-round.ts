/**
 * Rounding float32 → a narrower format inside a gpu.js kernel, bit-identical
 * to the host `roundArray` on every gpu.js backend.
 *
 * Inside a gpu.js kernel there are no bit casts, only float arithmetic, and
 * the shader compilers are allowed to simplify it (Mesa folds `x − x` to 0
 * and `(a + c) − c` to `a` unless an operation is marked exact; gpu.js's
 * `cpu` mode computes in float64, not float32). So the kernel uses only
 * operations whose result is exact in float32 *and* in float64, and which no
 * algebraic rewrite can change:
 *
 *   1. Exponent by binary search on exact powers of two. With p = 2^k
 *      (starting at 1 if a ≥ 1, else at minNormal), for s = 64, 32, …, 1:
 *      if a ≥ p·2^s then p ← p·2^s. The powers 2^s are built by squaring 2
 *      (exact), and every product p·2^s stays in [minNormal, 2^127], so
 *      nothing overflows or goes subnormal. The search ends with
 *      p = 2^max(e, emin) where 2^e ≤ a < 2^(e+1). The factor 2/p is
 *      carried along the same way (exact powers of two, never divided). It is
 *      2/p and not 1/p because 1/2^127 is a float32 subnormal, which GL
 *      flushes to zero (bfloat16 reaches p = 2^127); 2/p stays in
 *      [2^−126, 2^127].
 *   2. t = (a · 2/p) · 2^(M−1): multiplications by powers of two, exact; t is
 *      a / quantum, in [2^M, 2^(M+1)) in the normal range and [0, 2^M) in the
 *      subnormal range, where p = minNormal.
 *   3. Round t to an integer, ties to even, with floor: n = floor(t),
 *      f = t − n (exact: both are small multiples of the same power of two),
 *      round up when f > 0.5, or f = 0.5 and n is odd (n − 2·floor(n/2) = 1).
 *      This replaces the add-and-subtract-a-magic-constant trick, which is
 *      exact in IEEE float32 but is the `(a + c) − c` pattern compilers fold,
 *      and which would round at the wrong position in float64 (cpu mode).
 *   4. r = (n · 2^−M) · p: exact (the result is a value of the format, which
 *      float32 can hold); r > maxFinite is an overflow.
 *
 * Special values are passed in as kernel arguments because the `Infinity`
 * literal compiles to FLT_MAX in gpu.js's WGSL/GLSL output: NaN in → `nan`;
 * overflow and ±Inf → `ovfPos`/`ovfNeg` (±Inf, ±maxFinite when saturating,
 * or NaN for e4m3fn without saturation); ±0 is returned as the input times
 * a runtime zero, so its sign survives (a literal 0 would be folded); a
 * nonzero input that rounds to zero returns −r = −0 for negative inputs.
 *
 * Contract: the input is float32 (kernel arguments are float32 on every
 * backend), so host rounding of the same float32 values is a single rounding
 * of the exact float32 value. On backends that flush subnormal floats to zero
 * (`device.info.flushesSubnormals`, the GL fragment shaders) float32
 * subnormal inputs and outputs — which matter only for bfloat16 — are
 * flushed; every other value is still bit-identical.
 */
import type { Device } from '../device.js';
import { ArgumentError, checkOptions } from '../errors.js';
import { Tensor } from '../tensor.js';
import { type FloatFormat, type FormatLike, fitsInFloat32, resolveFormat } from './formats.js';
import { pow2 } from './round.js';

interface RoundThis {
  thread: { x: number };
}

/**
 * The gpu.js kernel: one thread per element, out[i] = round(x[i]).
 * Arguments after `x` come from `roundKernelArgs(format)`.
 *
 * @example
 * // used through roundOnDevice(dev, t, 'float16'); the source is exported for custom gpu.js pipelines
 */
export function roundKernelSource(
  this: RoundThis,
  x: number[],
  nan: number,
  zero: number,
  ovfPos: number,
  ovfNeg: number,
  minNormal: number,
  twoOverMinNormal: number,
  twoMm1: number,
  twoNegM: number,
  maxFinite: number,
  overflowAt: number,
): number {
  const v = x[this.thread.x];
  if (v != v) {
    return nan;
  }
  const a = Math.abs(v);
  if (a == 0) {
    // ±0 times a runtime zero is ±0 with the input's sign (IEEE); a constant 0
    // would be folded. On backends that flush subnormals a subnormal input
    // also lands here and becomes ±0 (returning v itself would pass it through).
    return v * zero;
  }
  if (a >= overflowAt) {
    if (v < 0) {
      return ovfNeg;
    }
    return ovfPos;
  }
  // powers of two by squaring: exact in float32 and float64
  const s1 = 2.0;
  const s2 = s1 * s1;
  const s4 = s2 * s2;
  const s8 = s4 * s4;
  const s16 = s8 * s8;
  const s32 = s16 * s16;
  const s64 = s32 * s32;
  const h1 = 0.5;
  const h2 = h1 * h1;
  const h4 = h2 * h2;
  const h8 = h4 * h4;
  const h16 = h8 * h8;
  const h32 = h16 * h16;
  const h64 = h32 * h32;
  let p = minNormal;
  let iq = twoOverMinNormal;
  if (a >= 1.0) {
    p = 1.0;
    iq = 2.0;
  }
  if (a >= p * s64) {
    p = p * s64;
    iq = iq * h64;
  }
  if (a >= p * s32) {
    p = p * s32;
    iq = iq * h32;
  }
  if (a >= p * s16) {
    p = p * s16;
    iq = iq * h16;
  }
  if (a >= p * s8) {
    p = p * s8;
    iq = iq * h8;
  }
  if (a >= p * s4) {
    p = p * s4;
    iq = iq * h4;
  }
  if (a >= p * s2) {
    p = p * s2;
    iq = iq * h2;
  }
  if (a >= p * s1) {
    p = p * s1;
    iq = iq * h1;
  }
  const t = a * iq * twoMm1;
  const n0 = Math.floor(t);
  const f = t - n0;
  let n = n0;
  if (f > 0.5) {
    n = n0 + 1.0;
  } else if (f == 0.5) {
    if (n0 - 2.0 * Math.floor(n0 * 0.5) > 0.5) {
      n = n0 + 1.0;
    }
  }
  const r = n * twoNegM * p;
  if (r > maxFinite) {
    if (v < 0) {
      return ovfNeg;
    }
    return ovfPos;
  }
  if (v < 0) {
    return -r;
  }
  return r;
}

/** Options of `roundOnDevice`. */
export interface DeviceRoundOptions {
  /** As in `roundTo`: clamp overflow and ±Inf to ±maxFinite. Defaults to the format's `saturate`. */
  saturate?: boolean;
}

/** Formats the kernel serves: every value exact in float32, at most 22 fraction bits. */
function checkDeviceFormat(fn: string, format: unknown): FloatFormat {
  const f = resolveFormat(fn, format);
  if (!fitsInFloat32(f) || f.manBits > 22) {
    throw new ArgumentError(`${fn}: format '${f.name}' cannot be rounded on a float32 device (its values do not all fit in float32, or it is float32 itself)`);
  }
  return f;
}

/**
 * The scalar arguments of `roundKernelSource` for a format, in order:
 * [nan, zero, ovfPos, ovfNeg, minNormal, 2/minNormal, 2^(M−1), 2^−M, maxFinite, overflowAt].
 * All are exact float32 values; overflowAt is 2^(emax+1), or +Inf when that
 * exceeds float32 (bfloat16), so that only ±Inf takes the early exit.
 *
 * @example
 * roundKernelArgs('float16'); // [NaN, 0, Infinity, -Infinity, 2^-14, 2^14, 1024, 2^-10, 65504, 65536]
 */
export function roundKernelArgs(format: FormatLike, options?: DeviceRoundOptions): number[] {
  const f = checkDeviceFormat('roundKernelArgs', format);
  checkOptions('roundKernelArgs', options, ['saturate']);
  const saturate = options?.saturate ?? f.saturate;
  if (typeof saturate !== 'boolean') throw new ArgumentError(`roundKernelArgs: option 'saturate' must be a boolean, got ${JSON.stringify(saturate)}`);
  const ovf = saturate ? f.maxFinite : f.hasInf ? Infinity : NaN;
  const overflowAt = f.emax + 1 <= 127 ? pow2(f.emax + 1) : Infinity;
  return [NaN, 0, ovf, -ovf, f.minNormal, 2 / f.minNormal, pow2(f.manBits - 1), pow2(-f.manBits), f.maxFinite, overflowAt];
}

/**
 * Rounds a float32 tensor to `format` on a gpu.js device: a new tensor of the
 * same shape whose values are those of `roundArray(format, data)`, bit for
 * bit (see the header for subnormals on GL backends). On webgpu the result
 * stays resident; the input is not modified.
 *
 * @param device a gpu.js device (webgpu, headlessgl, webasm or cpu)
 * @param tensor (...) float32 values, host or resident on `device`
 * @param format a format whose values fit in float32: float16, bfloat16, float8_e4m3fn, float8_e5m2
 * @example
 * const dev = await createDevice({ backend: 'webasm' });
 * const h = await roundOnDevice(dev, tensor([0.1, 70000]), 'float16'); // [0.0999755859375, Infinity]
 */
export async function roundOnDevice(device: Device, tensor: Tensor, format: FormatLike, options?: DeviceRoundOptions): Promise<Tensor> {
  const f = checkDeviceFormat('roundOnDevice', format);
  const args = roundKernelArgs(f, options);
  if (!device || typeof device !== 'object' || !('info' in device)) {
    throw new ArgumentError(`roundOnDevice: 'device' must be a Device from createDevice(), got ${device === null ? 'null' : typeof device}`);
  }
  if (!device.gpujs) {
    throw new ArgumentError(`roundOnDevice: 'device' must be a gpu.js device (webgpu, headlessgl, webasm or cpu), got '${device.backend}'; on the host use roundArray`);
  }
  if (!(tensor instanceof Tensor)) {
    throw new ArgumentError(`roundOnDevice: 'tensor' must be a Tensor, got ${tensor === null ? 'null' : typeof tensor}`);
  }
  if (tensor.dtype !== 'float32') {
    throw new ArgumentError(`roundOnDevice: 'tensor' must be float32 (device kernels compute in float32), got ${tensor.dtype}`);
  }
  if (tensor.size === 0) return Tensor.fromHost(new Float32Array(0), tensor.shape);
  return device.gpujs.run({ name: `precision.round`, fn: roundKernelSource as never, outputs: tensor.size }, [tensor, ...args], tensor.shape);
}
