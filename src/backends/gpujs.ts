/**
 * The gpu.js runtime behind the `webgpu`, `headlessgl`, `webasm` and `cpu`
 * devices: one `GPU` instance per device, a cache of compiled kernels, and
 * the conversion between library tensors and gpu.js arguments and results.
 *
 * Every gpu.js kernel in this library writes a flat 1-D output and indexes
 * its flat 1-D inputs itself, so one kernel source serves all four modes.
 * Sizes enter as `this.constants` (loop bounds must be compile-time on GL),
 * so a kernel is compiled once per distinct set of sizes and cached.
 *
 * On `webgpu` outputs stay resident (gpu.js pipeline mode with immutable
 * buffers) and pass straight into the next kernel; `read()` copies them back.
 * The other modes return host Float32Arrays.
 */
import { createRequire } from 'node:module';
import type { GPU as GPUType, IKernelRunShortcut, KernelFunction } from 'gpu.js';
import { ArgumentError } from '../errors.js';
import { INDEX_FUNCTIONS } from '../kernels/gpujs/index-math.js';
import { Tensor, type ResidentStorage } from '../tensor.js';

const require = createRequire(import.meta.url);

export type GpuJsMode = 'webgpu' | 'headlessgl' | 'webasm' | 'cpu';

/** gpu.js computes indices in float32 on webgpu, webasm and headlessgl: exact up to 2^24. */
const FLOAT_INDEX_LIMIT = 2 ** 24;

/** Largest loop trip count any kernel may need; gpu.js silently caps unsafe loops at this. */
const LOOP_MAX_ITERATIONS = 1 << 26;

interface GpuJsModule {
  GPU: typeof GPUType & { isHeadlessGLSupported: boolean; isWebAssemblySupported: boolean };
  WebGPUContext: { destroy(): Promise<void> };
  WebGPUBufferResult: new (...args: never[]) => { delete(): void; toArray(): Promise<Float32Array>; output: number[] };
}

let gpujsModule: GpuJsModule | undefined;
export function loadGpuJs(): GpuJsModule {
  gpujsModule ??= require('gpu.js') as GpuJsModule;
  return gpujsModule;
}

export interface KernelSpec {
  /** Stable name of the kernel source, e.g. 'softmax.rowStats'. */
  name: string;
  /** The kernel function. It must only read flat arrays and `this.constants`. */
  fn: (...args: never[]) => number;
  /** Number of output elements (the kernel runs one thread per output). */
  outputs: number;
  constants?: Record<string, number>;
  /** gpu.js helper functions the kernel calls. */
  functions?: ((...args: never[]) => number)[];
}

export type KernelArg = Tensor | number;

class GpuJsResident implements ResidentStorage {
  #result: { delete(): void; toArray(): Promise<Float32Array> } | undefined;
  constructor(result: { delete(): void; toArray(): Promise<Float32Array> }, readonly owner: object) {
    this.#result = result;
  }
  get handle(): unknown {
    if (!this.#result) throw new Error('resident buffer has been disposed');
    return this.#result;
  }
  async read(): Promise<Float32Array> {
    if (!this.#result) throw new Error('resident buffer has been disposed');
    const out = await this.#result.toArray();
    return out instanceof Float32Array ? out : Float32Array.from(out as ArrayLike<number>);
  }
  dispose(): void {
    this.#result?.delete();
    this.#result = undefined;
  }
}

export class GpuJsRuntime {
  readonly gpu: GPUType;
  /** Kernels compiled so far (a measure of shape diversity; tests report it). */
  compiled = 0;
  readonly #cache = new Map<string, IKernelRunShortcut>();
  readonly #threaded: boolean;
  readonly #poolSize: number | undefined;

  constructor(
    readonly mode: GpuJsMode,
    options: { threads?: number } = {},
  ) {
    const { GPU } = loadGpuJs();
    this.gpu = new GPU({ mode });
    // exact integer division for index arithmetic, available to every kernel
    for (const f of INDEX_FUNCTIONS) {
      this.gpu.addFunction(f as never);
      this.#addedFunctions.add(f);
    }
    // webasm splits kernels over a worker pool only under the async contract
    this.#threaded = mode === 'webasm' && (options.threads ?? 1) > 1;
    this.#poolSize = this.#threaded ? options.threads : undefined;
  }

  /** True when kernel outputs stay on the device between kernels. */
  get resident(): boolean {
    return this.mode === 'webgpu';
  }

  #argKind(a: KernelArg): string {
    if (typeof a === 'number') return 'n';
    return a.isResident ? `r${a.size}` : `h${a.size}`;
  }

  #kernel(spec: KernelSpec, args: KernelArg[]): IKernelRunShortcut {
    // keyed on the function itself too: two kernels sharing a name (a test's
    // deliberately broken variant, say) must never share a compiled shader
    const key = `${spec.name}#${fnId(spec.fn)}|${spec.outputs}|${JSON.stringify(spec.constants ?? {})}|${args.map((a) => this.#argKind(a)).join(',')}`;
    let k = this.#cache.get(key);
    if (!k) {
      const settings: Record<string, unknown> = {
        output: [spec.outputs],
        constants: spec.constants ?? {},
        precision: 'single',
        tactic: 'precision',
        loopMaxIterations: LOOP_MAX_ITERATIONS,
        strictIntegers: false,
        pipeline: this.resident,
        immutable: true,
        dynamicOutput: false,
        dynamicArguments: false,
      };
      if (this.#threaded) {
        settings.asyncMode = true;
        settings.poolSize = this.#poolSize;
      }
      for (const f of spec.functions ?? []) {
        if (!this.#addedFunctions.has(f)) {
          this.gpu.addFunction(f as never);
          this.#addedFunctions.add(f);
        }
      }
      k = this.gpu.createKernel(spec.fn as unknown as KernelFunction, settings as never) as IKernelRunShortcut;
      this.#cache.set(key, k);
      this.compiled++;
    }
    return k;
  }
  readonly #addedFunctions = new Set<unknown>();

  #toArg(a: KernelArg): unknown {
    if (typeof a === 'number') return a;
    const r = a.resident;
    if (r) {
      if (r.owner !== this) throw new Error(`a resident ${a} belongs to another device; read() it to the host first`);
      return r.handle;
    }
    const d = a.data;
    return d instanceof Float32Array ? d : Float32Array.from(d);
  }

  /**
   * Runs a kernel with one thread per output element and wraps the result.
   * `shape` is the logical shape of the output (its size must equal spec.outputs).
   */
  async run(spec: KernelSpec, args: KernelArg[], shape: readonly number[]): Promise<Tensor> {
    if (spec.outputs <= 0) throw new Error(`internal: kernel ${spec.name} launched with no outputs`);
    if (this.mode !== 'cpu') {
      // the last line of defence behind the public functions' own checks:
      // gpu.js computes indices in float32 here, exact only up to 2^24
      const largest = Math.max(spec.outputs, ...args.map((a) => (typeof a === 'number' ? 0 : a.size)));
      if (largest > FLOAT_INDEX_LIMIT) {
        throw new ArgumentError(
          `${this.mode}: kernel ${spec.name} would index ${largest} elements, but gpu.js computes indices in float32 on this backend, exact only up to 2^24 = ${FLOAT_INDEX_LIMIT}; split the tensor or use the cpu backend`,
        );
      }
    }
    const k = this.#kernel(spec, args);
    const result = (await k(...(args.map((a) => this.#toArg(a)) as never[]))) as unknown;
    if (result instanceof Float32Array) return Tensor.fromHost(result, shape);
    if (result && typeof (result as { toArray?: unknown }).toArray === 'function') {
      return Tensor.fromResident(new GpuJsResident(result as never, this), shape);
    }
    // gpu.js returns plain arrays for some 1-D outputs on some modes
    return Tensor.fromHost(Float32Array.from(result as ArrayLike<number>), shape);
  }

  /** Copies a host tensor onto the device (identity kernel); host modes return it as is. */
  async upload(t: Tensor): Promise<Tensor> {
    if (!this.resident || t.isResident || t.size === 0) return t;
    return this.run({ name: 'upload', fn: uploadKernel, outputs: t.size }, [t], t.shape);
  }

  async destroy(): Promise<void> {
    this.#cache.clear();
    await this.gpu.destroy();
  }
}

const fnIds = new WeakMap<object, number>();
let nextFnId = 1;
function fnId(fn: object): number {
  let id = fnIds.get(fn);
  if (id === undefined) {
    id = nextFnId++;
    fnIds.set(fn, id);
  }
  return id;
}

function uploadKernel(this: { thread: { x: number } }, x: number[]): number {
  return x[this.thread.x];
}
