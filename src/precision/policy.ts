/**
 * Emulated mixed precision: a policy saying in which format tensors are
 * *stored* (weights, activations, gradients) while arithmetic accumulates in
 * float32, and the helpers that apply it.
 *
 * Emulation means: values live in Float32Arrays (or float32 device buffers)
 * but are always rounded to the storage format after each kernel, so every
 * stored value is exactly a value of that format, as on hardware with native
 * float16/bfloat16 storage and float32 accumulation (e.g. tensor cores with
 * an FP32 accumulator). Rounding is the same function on the host and on
 * every gpu.js backend (`roundArray` / `roundOnDevice`), bit for bit.
 */
import type { Device } from '../device.js';
import { ArgumentError, checkOptions } from '../errors.js';
import { Tensor } from '../tensor.js';
import { type FloatFormat, type FormatLike, fitsInFloat32, resolveFormat } from './formats.js';
import { roundOnDevice } from './gpujs-round.js';
import { roundArray } from './round.js';

/** Storage format for tensors, with float32 accumulation. */
export interface PrecisionPolicy {
  /** Format of stored weights, activations and gradients. */
  readonly storage: FloatFormat;
  /** Format of accumulations (sums, dot products) inside kernels. */
  readonly accumulate: 'float32';
}

/**
 * Makes a policy. `storage` must be a format whose values float32 can hold
 * (float16, bfloat16, float8_e4m3fn, float8_e5m2, or float32 for no emulation).
 *
 * @example
 * const policy = mixedPrecisionPolicy({ storage: 'bfloat16' }); // { storage: bfloat16, accumulate: 'float32' }
 */
export function mixedPrecisionPolicy(options: { storage: FormatLike; accumulate?: 'float32' }): PrecisionPolicy {
  checkOptions('mixedPrecisionPolicy', options, ['storage', 'accumulate']);
  if (options === undefined || options === null) throw new ArgumentError("mixedPrecisionPolicy: pass { storage: 'float16' | 'bfloat16' | ... }");
  const storage = resolveFormat('mixedPrecisionPolicy', options.storage, 'storage');
  if (!fitsInFloat32(storage)) {
    throw new ArgumentError(`mixedPrecisionPolicy: 'storage' must be a format whose values fit in float32 (emulation stores them in float32), got '${storage.name}'`);
  }
  const accumulate = options.accumulate ?? 'float32';
  if (accumulate !== 'float32') throw new ArgumentError(`mixedPrecisionPolicy: 'accumulate' must be 'float32', got ${JSON.stringify(accumulate)}`);
  return Object.freeze({ storage, accumulate });
}

function checkF32(fn: string, data: unknown): Float32Array {
  if (!(data instanceof Float32Array)) {
    throw new ArgumentError(`${fn}: 'data' must be a Float32Array (a tensor's host array), got ${data === null ? 'null' : typeof data === 'object' ? (data as object).constructor?.name : typeof data}`);
  }
  return data;
}

/**
 * A new Float32Array holding `data` rounded to `format` (the input is not modified).
 *
 * Special cases: as `roundTo`; NaN keeps its payload; −0 stays −0.
 * @example
 * const w16 = roundTensorData('float16', weights);
 */
export function roundTensorData(format: FormatLike | PrecisionPolicy, data: Float32Array): Float32Array {
  const f = formatOf('roundTensorData', format);
  return roundArray(f, checkF32('roundTensorData', data));
}

/**
 * Rounds `data` to `format` in place and returns it (the array is modified:
 * that is what this function is for).
 *
 * @example
 * const w = new Float32Array([0.1, 1 / 3]);
 * roundTensorDataInPlace('bfloat16', w); // w is now [0.10009765625, 0.333984375]
 */
export function roundTensorDataInPlace(format: FormatLike | PrecisionPolicy, data: Float32Array): Float32Array {
  const f = formatOf('roundTensorDataInPlace', format);
  const d = checkF32('roundTensorDataInPlace', data);
  return roundArray(f, d, d);
}

/**
 * Rounds a tensor to the policy's (or format's) storage format: on the device
 * through the gpu.js kernel when `device` is a gpu.js device, else on the
 * host (float32 or float64 host data; the reference device's float64
 * tensors stay float64). Returns a new tensor; the input is unchanged.
 *
 * @example
 * const h = await roundTensor(dev, tensor([0.1, 1e5]), 'float16'); // [0.0999755859375, Infinity]
 */
export async function roundTensor(device: Device | undefined, t: Tensor, format: FormatLike | PrecisionPolicy): Promise<Tensor> {
  const f = formatOf('roundTensor', format);
  if (device?.gpujs) return roundOnDevice(device, t, f);
  const data = t.hostData;
  if (data === undefined) throw new ArgumentError('roundTensor: the tensor is resident on a device; pass that device');
  if (data instanceof Int32Array) throw new ArgumentError(`roundTensor: the tensor must be float32 or float64, got ${t.dtype}`);
  return Tensor.fromHost(roundArray(f, data), t.shape);
}

function formatOf(fn: string, format: FormatLike | PrecisionPolicy): FloatFormat {
  if (format !== null && typeof format === 'object' && 'storage' in format && 'accumulate' in format) return format.storage;
  return resolveFormat(fn, format);
}
