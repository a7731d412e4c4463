/**
 * cast: rounds a tensor to a narrower storage format (float16, bfloat16,
 * float8) and back to the working precision — the emulated storage of mixed
 * precision. It goes through the dispatcher like every kernel, so tracing
 * sees the model's storage rounding.
 *
 * Contract: out[i] = roundTo(format, x[i]) with round-to-nearest-even,
 * subnormals, overflow to ±Inf (saturation for formats without Inf), NaN kept,
 * −0 kept. Bound: zero — the gpu.js kernel is bit-identical to the host
 * rounding (src/precision/gpujs-round.ts explains how), except that GL
 * backends flush float32 subnormal inputs and outputs.
 */
import type { Device } from '../device.js';
import { registerKernel, runKernel } from '../dispatch.js';
import { resolveFormat, type FloatFormat, type FormatLike } from '../precision/formats.js';
import { roundOnDevice } from '../precision/gpujs-round.js';
import { roundArray } from '../precision/round.js';
import { Tensor } from '../tensor.js';
import { checkFloat, checkTensor } from './shapes.js';

interface CastAttrs {
  format: FloatFormat;
}

registerKernel<CastAttrs>({
  kernel: 'cast',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { x }, { format }) => {
    const data = x.data as Float32Array | Float64Array;
    return { y: Tensor.fromHost(roundArray(format, data instanceof Float64Array ? data : Float64Array.from(data)), x.shape) };
  },
});
registerKernel<CastAttrs>({
  kernel: 'cast',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { x }, { format }) => {
    if (x.dtype === 'float32') return { y: await roundOnDevice(d, x, format) };
    // a float64 host tensor is rounded on the host, once: going through float32 first would round twice
    return { y: Tensor.fromHost(roundArray(format, Float64Array.from(x.data), new Float32Array(x.size)), x.shape) };
  },
});

/**
 * Rounds every value of `x` to `format` (storage emulation).
 *
 * @param x (...) float tensor
 * @param format 'float16' | 'bfloat16' | 'float8_e4m3fn' | 'float8_e5m2' or a format object
 * @returns (...) the rounded values, in the device's working precision
 * @example
 * const h = await cast(dev, tensor([0.1, 70000]), 'float16'); // [0.0999755859375, Infinity]
 */
export async function cast(device: Device, x: Tensor, format: FormatLike): Promise<Tensor> {
  checkTensor('cast', 'x', x);
  checkFloat('cast', 'x', x);
  const f = resolveFormat('cast', format);
  if (x.size === 0) return x;
  return (await runKernel(device, 'cast', 'forward', { x }, { format: f })).y;
}
