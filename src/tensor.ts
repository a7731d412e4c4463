/**
 * Tensors: a shape, a dtype and storage that is either a host typed array or
 * a buffer resident on a device.
 *
 * Shape letters used across the library (as in llm.c):
 *   B batch, T time (sequence), S key length, C channels, V vocabulary,
 *   NH heads, hs head size (C = NH·hs), N rows (any flattened leading dims).
 *
 * A host tensor wraps the array it is given without copying it; kernels never
 * write into their inputs, so the array stays exactly as the caller left it.
 */
import { ArgumentError, fmtShape } from './errors.js';

export type DType = 'float32' | 'float64' | 'int32';
export type HostArray = Float32Array | Float64Array | Int32Array;
export type Shape = readonly number[];

/** A buffer that lives on a device (a gpu.js WebGPU buffer or GL texture). */
export interface ResidentStorage {
  /** Reads the buffer back into a new host array. */
  read(): Promise<Float32Array>;
  /** Frees the device memory. Idempotent. */
  dispose(): void;
  /** The backend-specific handle handed to kernels. */
  readonly handle: unknown;
  /** Identifies the device that owns the handle. */
  readonly owner: object;
}

/**
 * Number of elements of a shape (the product of its dimensions).
 *
 * @example
 * shapeSize([2, 3, 4]); // 24; shapeSize([]) is 1 (a scalar)
 */
export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function dtypeOf(data: HostArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  throw new ArgumentError(`unsupported array type ${(data as object).constructor?.name}`);
}

export function allocHost(dtype: DType, n: number): HostArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
  }
}

function checkShape(shape: unknown, what: string): number[] {
  if (!Array.isArray(shape)) throw new ArgumentError(`${what}: shape must be an array of integers, got ${String(shape)}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new ArgumentError(`${what}: shape ${JSON.stringify(shape)} has a dimension that is not a non-negative integer`);
    }
  }
  return shape.slice();
}

let nextId = 1;

export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  /** Unique id, stable for the tensor's lifetime (used by tracing). */
  readonly id = nextId++;
  #host: HostArray | undefined;
  #resident: ResidentStorage | undefined;
  #release: (() => void) | undefined;
  #disposed = false;

  private constructor(shape: Shape, dtype: DType, host: HostArray | undefined, resident: ResidentStorage | undefined, release?: () => void) {
    this.shape = Object.freeze(shape.slice());
    this.dtype = dtype;
    this.size = shapeSize(shape);
    this.#host = host;
    this.#resident = resident;
    this.#release = release;
  }

  /**
   * Wraps a host array (no copy). Its length must equal the product of `shape`.
   * `release`, if given, runs once when the tensor is disposed (a backend
   * returning memory it lent, e.g. a view into WebAssembly memory).
   */
  static fromHost(data: HostArray, shape: Shape, what = 'tensor', release?: () => void): Tensor {
    const s = checkShape(shape, what);
    const n = shapeSize(s);
    if (data.length !== n) {
      throw new ArgumentError(`${what}: data has length ${data.length} but shape ${fmtShape(s)} needs ${n} elements`);
    }
    return new Tensor(s, dtypeOf(data), data, undefined, release);
  }

  /** Wraps device-resident storage holding float32 values. */
  static fromResident(storage: ResidentStorage, shape: Shape): Tensor {
    return new Tensor(checkShape(shape, 'tensor'), 'float32', undefined, storage);
  }

  get isResident(): boolean {
    return this.#resident !== undefined;
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** The resident storage, if any (for backends). */
  get resident(): ResidentStorage | undefined {
    this.#checkAlive();
    return this.#resident;
  }

  /**
   * The host array backing this tensor, without a copy. Throws for a
   * resident tensor (use `read()`). Treat it as read-only: it is shared.
   */
  get data(): HostArray {
    this.#checkAlive();
    if (this.#host === undefined) {
      throw new ArgumentError('tensor is resident on a device; use `await tensor.read()` to copy it to the host');
    }
    return this.#host;
  }

  /** The host array if the tensor lives on the host, else undefined. */
  get hostData(): HostArray | undefined {
    this.#checkAlive();
    return this.#host;
  }

  /** A fresh host copy of the values (a readback for resident tensors). */
  async read(): Promise<HostArray> {
    this.#checkAlive();
    if (this.#host !== undefined) return this.#host.slice();
    const values = await this.#resident!.read();
    return values.length === this.size ? values : values.subarray(0, this.size);
  }

  /** Same values as a plain number array (convenient in examples and tests). */
  async toArray(): Promise<number[]> {
    return Array.from(await this.read());
  }

  /** Frees device memory. Host tensors just become unusable. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#resident?.dispose();
    this.#release?.();
    this.#resident = undefined;
    this.#host = undefined;
    this.#release = undefined;
  }

  /** A tensor with the same storage viewed under another shape of equal size (disposing the original frees the storage both share). */
  reshape(shape: Shape): Tensor {
    this.#checkAlive();
    const s = checkShape(shape, 'reshape');
    if (shapeSize(s) !== this.size) {
      throw new ArgumentError(`reshape: cannot view a tensor of shape ${fmtShape(this.shape)} (${this.size} elements) as ${fmtShape(s)}`);
    }
    return new Tensor(s, this.dtype, this.#host, this.#resident);
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)}${this.isResident ? ', resident' : ''})`;
  }

  #checkAlive(): void {
    if (this.#disposed) throw new ArgumentError('tensor has been disposed');
  }
}

/**
 * Makes a host tensor. `data` may be a typed array (wrapped, not copied) or a
 * number array (copied into a Float32Array, or the dtype given).
 *
 * @example
 * const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]); // float32, shape [2, 3]
 */
export function tensor(data: HostArray | readonly number[], shape?: Shape, dtype?: DType): Tensor {
  let arr: HostArray;
  if (Array.isArray(data)) {
    arr = allocHost(dtype ?? 'float32', data.length);
    for (let i = 0; i < data.length; i++) arr[i] = data[i];
  } else if (data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array) {
    if (dtype !== undefined && dtype !== dtypeOf(data)) {
      throw new ArgumentError(`tensor: dtype '${dtype}' does not match the ${data.constructor.name} given`);
    }
    arr = data;
  } else {
    throw new ArgumentError(`tensor: data must be a Float32Array, Float64Array, Int32Array or number[], got ${Object.prototype.toString.call(data)}`);
  }
  return Tensor.fromHost(arr, shape ?? [arr.length]);
}
