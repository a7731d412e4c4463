/**
 * Per-tensor statistics for tracing: how many NaN, ±Inf, zeros and
 * subnormals a tensor holds, its range, and — for a target storage format
 * (float16, bfloat16, float8) — how many values would overflow it or
 * underflow to zero or to a subnormal when rounded to it.
 *
 * Host tensors are scanned in one JavaScript loop. Tensors resident on a
 * device (webgpu) are reduced there: a gpu.js kernel computes the statistics
 * of each chunk of 1024 elements and only those partials (12 per chunk, about
 * 1% of the data) are read back and combined.
 *
 * Definitions (each stat is exact; the tests recount them independently with
 * `roundTo`):
 *   subnormal            0 < |x| < smallest normal of the tensor's own dtype
 *   overflow             finite x with |x| ≥ the format's overflow threshold
 *                        (rounding gives ±Inf, or saturates for formats without Inf)
 *   underflowToZero      x ≠ 0 with |x| ≤ minSubnormal/2 (rounds to ±0; the tie goes to even 0)
 *   underflowToSubnormal minSubnormal/2 < |x| < minNormal − minSubnormal/2 (rounds to a nonzero subnormal)
 */
import type { Device } from '../device.js';
import type { FloatFormat } from '../precision/formats.js';
import { idiv } from '../kernels/gpujs/index-math.js';
import type { Tensor } from '../tensor.js';

export interface FormatStats {
  format: string;
  overflow: number;
  underflowToZero: number;
  underflowToSubnormal: number;
  /** The format's largest finite value. */
  maxFinite: number;
  /** maxFinite / maxAbs: how far the largest finite value is from overflowing (< 1 means it overflows). */
  headroom: number;
}

export interface TensorStats {
  count: number;
  nan: number;
  posInf: number;
  negInf: number;
  zeros: number;
  subnormals: number;
  /** Over finite values; NaN when there are none. */
  min: number;
  max: number;
  maxAbs: number;
  /** Smallest nonzero |x| over finite values; NaN when there is none. */
  minNonzeroAbs: number;
  target?: FormatStats;
}

/** Number of NaN and ±Inf values.
 *
 * @example
 * nonFiniteCount(await tensorStats(dev, tensor([NaN, Infinity, 1]))); // 2
 */
export function nonFiniteCount(s: TensorStats): number {
  return s.nan + s.posInf + s.negInf;
}

interface Thresholds {
  minNormalOwn: number;
  overflow: number;
  overflowInclusive: boolean;
  zeroMax: number;
  subMax: number;
}

function thresholds(dtypeMinNormal: number, f: FloatFormat | undefined): Thresholds {
  if (!f) return { minNormalOwn: dtypeMinNormal, overflow: Infinity, overflowInclusive: false, zeroMax: -1, subMax: -1 };
  return {
    minNormalOwn: dtypeMinNormal,
    overflow: f.overflowThreshold,
    overflowInclusive: f.overflowInclusive,
    zeroMax: f.minSubnormal / 2,
    subMax: f.minNormal - f.minSubnormal / 2,
  };
}

/** Statistics of a host array (one pass).
 *
 * @example
 * arrayStats(new Float32Array([0, -0, 1e-40, Infinity]), 2 ** -126).subnormals; // 1
 */
export function arrayStats(data: ArrayLike<number>, dtypeMinNormal: number, format?: FloatFormat): TensorStats {
  const th = thresholds(dtypeMinNormal, format);
  let nan = 0;
  let posInf = 0;
  let negInf = 0;
  let zeros = 0;
  let subnormals = 0;
  let min = Infinity;
  let max = -Infinity;
  let maxAbs = -Infinity;
  let minNz = Infinity;
  let overflow = 0;
  let uz = 0;
  let us = 0;
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (x !== x) {
      nan++;
      continue;
    }
    if (x === Infinity) {
      posInf++;
      continue;
    }
    if (x === -Infinity) {
      negInf++;
      continue;
    }
    const a = Math.abs(x);
    if (x < min) min = x;
    if (x > max) max = x;
    if (a > maxAbs) maxAbs = a;
    if (a === 0) {
      zeros++;
      continue;
    }
    if (a < minNz) minNz = a;
    if (a < th.minNormalOwn) subnormals++;
    if (a > th.overflow || (th.overflowInclusive && a === th.overflow)) overflow++;
    if (a <= th.zeroMax) uz++;
    else if (a < th.subMax) us++;
  }
  return assemble({ count: data.length, nan, posInf, negInf, zeros, subnormals, min, max, maxAbs, minNz, overflow, uz, us }, format);
}

/** Raw counts and extremes (±Infinity where nothing was seen) → TensorStats. */
interface RawStats {
  count: number;
  nan: number;
  posInf: number;
  negInf: number;
  zeros: number;
  subnormals: number;
  min: number;
  max: number;
  maxAbs: number;
  minNz: number;
  overflow: number;
  uz: number;
  us: number;
}

function assemble(r: RawStats, format: FloatFormat | undefined): TensorStats {
  const finite = r.count - r.nan - r.posInf - r.negInf;
  const s: TensorStats = {
    count: r.count,
    nan: r.nan,
    posInf: r.posInf,
    negInf: r.negInf,
    zeros: r.zeros,
    subnormals: r.subnormals,
    min: finite > 0 ? r.min : NaN,
    max: finite > 0 ? r.max : NaN,
    maxAbs: finite > 0 ? r.maxAbs : NaN,
    minNonzeroAbs: r.minNz === Infinity ? NaN : r.minNz,
  };
  if (format) {
    s.target = {
      format: format.name,
      overflow: r.overflow,
      underflowToZero: r.uz,
      underflowToSubnormal: r.us,
      maxFinite: format.maxFinite,
      headroom: finite > 0 ? format.maxFinite / r.maxAbs : NaN,
    };
  }
  return s;
}

// ---------------------------------------------------------------------------
// On the device: chunk partials of 12 statistics
// ---------------------------------------------------------------------------

const STATS_CHUNK = 1024;
const NS = 12;

interface StatsThis {
  thread: { x: number };
  constants: { n: number; CH: number };
}

/**
 * Thread = chunk·12 + s computes statistic s over its chunk:
 * 0 nan, 1 +inf, 2 −inf, 3 zeros, 4 subnormals, 5 min, 6 max, 7 max|x|,
 * 8 min nonzero |x|, 9 overflow, 10 underflow to zero, 11 underflow to subnormal.
 * min/max-type stats start at ±inf (passed in: the GPU `Infinity` literal is FLT_MAX).
 */
function statsKernel(
  this: StatsThis,
  x: number[],
  inf: number,
  minNormal: number,
  overflowAt: number,
  overflowInclusive: number,
  zeroMax: number,
  subMax: number,
): number {
  const chunk = idiv(this.thread.x, 12);
  const s = this.thread.x - chunk * 12;
  let acc = 0;
  if (s == 5 || s == 8) {
    acc = inf;
  }
  if (s == 6 || s == 7) {
    acc = -inf;
  }
  for (let i = 0; i < this.constants.CH; i++) {
    const idx = chunk * this.constants.CH + i;
    if (idx < this.constants.n) {
      const v = x[idx];
      // kind: 0 finite, 1 NaN, 2 +Inf, 3 −Inf (numeric flags: gpu.js booleans do not travel well)
      let kind = 0;
      if (v != v) {
        kind = 1;
      } else if (v > 3.4028234663852886e38) {
        kind = 2;
      } else if (v < -3.4028234663852886e38) {
        kind = 3;
      }
      const a = Math.abs(v);
      if (s == 0 && kind == 1) {
        acc += 1;
      }
      if (s == 1 && kind == 2) {
        acc += 1;
      }
      if (s == 2 && kind == 3) {
        acc += 1;
      }
      if (kind == 0) {
        if (s == 3 && a == 0) {
          acc += 1;
        }
        if (s == 4 && a > 0 && a < minNormal) {
          acc += 1;
        }
        if (s == 5 && v < acc) {
          acc = v;
        }
        if (s == 6 && v > acc) {
          acc = v;
        }
        if (s == 7 && a > acc) {
          acc = a;
        }
        if (s == 8 && a > 0 && a < acc) {
          acc = a;
        }
        if (s == 9 && (a > overflowAt || (overflowInclusive > 0 && a == overflowAt))) {
          acc += 1;
        }
        if (s == 10 && a > 0 && a <= zeroMax) {
          acc += 1;
        }
        if (s == 11 && a > zeroMax && a < subMax) {
          acc += 1;
        }
      }
    }
  }
  return acc;
}

const F32_MIN_NORMAL = 2 ** -126;
const F64_MIN_NORMAL = 2 ** -1022;

/**
 * Statistics of a tensor. Resident tensors are reduced on their device;
 * only the per-chunk partials are read back.
 *
 * @example
 * const s = await tensorStats(dev, tensor([1, NaN, 7e4, 1e-9]), float16);
 * // { nan: 1, maxAbs: 70000, target: { format: 'float16', overflow: 1, underflowToZero: 1, … } }
 */
export async function tensorStats(device: Device, t: Tensor, format?: FloatFormat): Promise<TensorStats> {
  const minNormal = t.dtype === 'float64' ? F64_MIN_NORMAL : F32_MIN_NORMAL;
  if (!t.isResident || !device.gpujs) return arrayStats(t.hostData ?? (await t.read()), minNormal, format);
  const th = thresholds(minNormal, format);
  const chunks = Math.ceil(t.size / STATS_CHUNK);
  const partial = await device.gpujs.run(
    { name: 'trace.stats', fn: statsKernel, outputs: chunks * NS, constants: { n: t.size, CH: STATS_CHUNK } },
    // thresholds that do not apply are set so nothing matches them
    [t, Infinity, minNormal, format ? th.overflow : Infinity, th.overflowInclusive ? 1 : 0, format ? th.zeroMax : -1, format ? th.subMax : -1],
    [chunks, NS],
  );
  const p = await partial.read();
  partial.dispose();
  let [nan, posInf, negInf, zeros, subnormals, overflow, uz, us] = [0, 0, 0, 0, 0, 0, 0, 0];
  let min = Infinity;
  let max = -Infinity;
  let maxAbs = -Infinity;
  let minNz = Infinity;
  for (let c = 0; c < chunks; c++) {
    const b = c * NS;
    nan += p[b];
    posInf += p[b + 1];
    negInf += p[b + 2];
    zeros += p[b + 3];
    subnormals += p[b + 4];
    min = Math.min(min, p[b + 5]);
    max = Math.max(max, p[b + 6]);
    maxAbs = Math.max(maxAbs, p[b + 7]);
    minNz = Math.min(minNz, p[b + 8]);
    overflow += p[b + 9];
    uz += p[b + 10];
    us += p[b + 11];
  }
  return assemble({ count: t.size, nan, posInf, negInf, zeros, subnormals, min, max, maxAbs, minNz, overflow, uz, us }, format);
}

/** Index of the first NaN or ±Inf in a tensor, or −1.
 *
 * @example
 * await firstNonFinite(tensor([1, 2, NaN])); // 2
 */
export async function firstNonFinite(t: Tensor): Promise<number> {
  const d = t.hostData ?? (await t.read());
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return i;
  return -1;
}

