/**
 * Emulated low-precision formats (float16, bfloat16, float8), dynamic loss
 * scaling and gradient clipping.
 *
 * Formats are data (`{ name, expBits, manBits, hasInf }` with derived
 * constants); one rounding function serves them all, rounding once from the
 * exact float64 value with round-to-nearest-even. The same rounding runs
 * inside gpu.js kernels bit for bit. See docs/precision.md.
 *
 * @example
 * import { roundTo, encode, DynamicLossScaler, clipGradNorm } from 'stable-kernels/precision';
 * roundTo('float16', 0.1);      // 0.0999755859375
 * encode('bfloat16', 1);        // 0x3f80
 */
export {
  defineFormat,
  resolveFormat,
  fitsInFloat32,
  FORMATS,
  float16,
  bfloat16,
  float8e4m3fn,
  float8e5m2,
  float32,
  float64,
} from './formats.js';
export type { FormatSpec, FloatFormat, FormatName, FormatLike } from './formats.js';
export { roundTo, isRepresentable, encode, decode, roundArray, encodeArray, decodeArray, allocBits, pow2 } from './round.js';
export type { RoundOptions, FloatArray, BitsArray } from './round.js';
export { roundKernelSource, roundKernelArgs, roundOnDevice } from './gpujs-round.js';
export type { DeviceRoundOptions } from './gpujs-round.js';
export { mixedPrecisionPolicy, roundTensorData, roundTensorDataInPlace, roundTensor } from './policy.js';
export type { PrecisionPolicy } from './policy.js';
export { DynamicLossScaler } from './loss-scaler.js';
export type {
  LossScalerOptions,
  LossScalerState,
  LossScalerHistoryEntry,
  LossScalerReason,
  LossScalerStepResult,
  NonFiniteCulprit,
  UnscaleResult,
  GradientRecord,
} from './loss-scaler.js';
export { clipGradNorm, totalNorm, NonFiniteGradientError, CLIP_EPSILON } from './clip.js';
export type { ClipOptions, ClipResult } from './clip.js';
