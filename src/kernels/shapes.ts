/**
 * Shape checks shared by the public kernel functions. Every error names the
 * function, the argument and the shapes involved.
 */
import type { Device } from '../device.js';
import { ArgumentError, fmtShape } from '../errors.js';
import { Tensor, sameShape, type Shape } from '../tensor.js';

export function checkTensor(fn: string, name: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) {
    throw new ArgumentError(`${fn}: '${name}' must be a Tensor (make one with tensor(data, shape)), got ${t === null ? 'null' : typeof t}`);
  }
  if (t.isDisposed) throw new ArgumentError(`${fn}: '${name}' has been disposed`);
  return t;
}

export function checkFloat(fn: string, name: string, t: Tensor): void {
  if (t.dtype === 'int32') throw new ArgumentError(`${fn}: '${name}' must be a float tensor, got int32 of shape ${fmtShape(t.shape)}`);
}

/** x (..., L) viewed as N rows of length L. Needs rank ≥ 1. */
export function lastAxis(fn: string, name: string, x: Tensor, letters = ['N', 'V']): { N: number; L: number } {
  checkTensor(fn, name, x);
  checkFloat(fn, name, x);
  if (x.shape.length < 1) {
    throw new ArgumentError(`${fn}: '${name}' must have at least one dimension (${letters.join(', ')}), got a scalar of shape []`);
  }
  const L = x.shape[x.shape.length - 1];
  return { N: rowsOf(x.shape), L };
}

function rowsOf(shape: Shape): number {
  let n = 1;
  for (let i = 0; i < shape.length - 1; i++) n *= shape[i];
  return n;
}

export function checkSameShape(fn: string, name: string, t: Tensor, refName: string, ref: Tensor): void {
  checkTensor(fn, name, t);
  if (!sameShape(t.shape, ref.shape)) {
    throw new ArgumentError(`${fn}: '${name}' has shape ${fmtShape(t.shape)} but '${refName}' has shape ${fmtShape(ref.shape)}; they must match`);
  }
}

/** Checks an exact shape, writing the expected one with its letters. */
export function checkShape(fn: string, name: string, t: Tensor, expected: readonly number[], letters: readonly string[]): void {
  checkTensor(fn, name, t);
  if (!sameShape(t.shape, expected)) {
    throw new ArgumentError(`${fn}: '${name}' must have shape ${fmtShape(expected, letters)}, got ${fmtShape(t.shape)}`);
  }
}

export function checkRank(fn: string, name: string, t: Tensor, rank: number, letters: readonly string[]): void {
  checkTensor(fn, name, t);
  if (t.shape.length !== rank) {
    throw new ArgumentError(`${fn}: '${name}' must have shape [${letters.join(', ')}] (rank ${rank}), got ${fmtShape(t.shape)}`);
  }
}

/** Host data of a tensor as float64 (the reference backend's view). */
export function f64(t: Tensor): Float64Array {
  const d = t.data;
  return d instanceof Float64Array ? d : Float64Array.from(d);
}

/** Wraps a float64 result as a tensor. */
export function out64(data: Float64Array, shape: Shape): Tensor {
  return Tensor.fromHost(data, shape);
}

/** An empty float tensor in the device's precision. */
export function emptyLike(precision: 'float32' | 'float64', shape: Shape): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.fromHost(precision === 'float64' ? new Float64Array(n) : new Float32Array(n), shape);
}

/**
 * gpu.js evaluates every index expression in float32 on webgpu, webasm and
 * headlessgl (declared variables are f32 and integer constants are emitted
 * as float literals; measured: element 2^24 + 1 reads element 2^24), so flat
 * indices are exact only up to 2^24. The cpu mode computes in float64.
 */
export const GPUJS_INDEX_LIMIT = 2 ** 24;

/** Throws, naming the argument, when a tensor is too large for gpu.js's float32 indexing on this device. */
export function checkGpuIndexable(fn: string, device: Device, name: string, shape: readonly number[]): void {
  if (device.family !== 'gpujs' || device.backend === 'cpu') return;
  const n = shape.reduce((x, y) => x * y, 1);
  if (n > GPUJS_INDEX_LIMIT) {
    throw new ArgumentError(
      `${fn}: '${name}' of shape ${fmtShape(shape)} has ${n} elements; gpu.js indexes in float32 on ${device.backend}, exact only up to 2^24 = ${GPUJS_INDEX_LIMIT} elements. ` +
        "Split the tensor, or use the 'cpu' or 'reference' backend",
    );
  }
}
