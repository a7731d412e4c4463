/**
 * What a benchmark case is, and the helpers every kernel file uses to build
 * its runners and its checks.
 *
 * A case is one kernel, one phase, one size. It knows how to make its inputs
 * (deterministic, with outliers), how to check outputs against the FP64
 * reference within the kernel's own bound for a backend's error model, and
 * how to run on each kind of subject:
 *   ours      the library through its public functions (so through the one
 *             dispatcher) on a Device;
 *   tfjs      the same computation written with @tensorflow/tfjs-core ops, as
 *             a user of tfjs would write it;
 *   loop      a straightforward TypeScript loop over Float32Array.
 *
 * A Runner gives `once()` (run and read every output back, for validation)
 * and `timed()` (one call with the work finished inside it and its result
 * consumed; see harness.ts for how the GPU is synchronised).
 */
import type { Device } from '../../src/device.js';
import type { ErrorModel, Bound } from '../../src/kernels/bounds.js';
import { F64_U } from '../../src/kernels/bounds.js';
import { compareWithAllowed, describeFailure } from '../../src/testing/compare.js';
import { Tensor } from '../../src/tensor.js';
import { diskCached } from './cache.js';
import type * as tfc from '@tensorflow/tfjs-core';

export type Tf = typeof tfc;
export type Phase = 'forward' | 'backward' | 'step';
export type Metric = 'GB/s' | 'GFLOP/s' | 'tokens/s' | 'elements/s';
export type HostOutputs = Record<string, ArrayLike<number>>;

export interface Runner {
  /** Runs once and reads every output back to the host, by name. */
  once(): Promise<HostOutputs>;
  /** One timed call: the work is finished when the promise resolves, and the result is consumed. */
  timed(): Promise<void>;
  dispose?(): void | Promise<void>;
}

export interface CheckResult {
  output: string;
  ok: boolean;
  /** Elements compared (a sample for the O(n³) kernels, see each kernel's note). */
  compared: number;
  /** Largest error / allowed error. */
  maxRatio: number;
  maxRel: number;
  maxUlp: number;
  message?: string;
}

/** How the library's run is fed: resident inputs (uploaded once) or host arrays in and out. */
export interface OursContext {
  device: Device;
  /** Inputs uploaded with device.upload once, outputs left where the kernel puts them. */
  resident: boolean;
  /** Waits until every GPU command submitted so far has finished (no-op off the GPU). */
  sync(): Promise<void>;
}

export interface BenchCase {
  /** e.g. 'softmax.forward.1024x4096' */
  id: string;
  kernel: string;
  phase: Phase;
  /** e.g. '(1024, 4096)' */
  size: string;
  metric: Metric;
  /** Bytes read + written once (GB/s), FLOPs (GFLOP/s), tokens (tokens/s) or elements per call. */
  work: number;
  /** How `work` is counted, for the report. */
  workNote: string;
  /** Part of `npm run bench` (quick); every case runs in `bench:full`. */
  quick: boolean;
  /** Roughly how expensive one call is (in units of 'one 4M-element pass'); the planner skips slow subjects on heavy cases in quick mode. */
  heavy?: boolean;
  /** Makes (once) and returns the case's inputs; the runners and the check close over them. */
  data(): unknown;
  /** Compares host outputs with the FP64 reference within the kernel's bound under the error model M. */
  check(out: HostOutputs, M: ErrorModel): CheckResult[];
  ours?(ctx: OursContext): Promise<Runner>;
  /** Why ours is absent (e.g. the kernel is not in the library yet). */
  oursMissing?: string;
  /** The case moves its own data (the GPT step): one figure per backend, no resident / upload split. */
  ownsData?: boolean;
  tfjs?(tf: Tf): Runner;
  loop?(): Runner;
}

/** Something a timed call folds its result into, so no engine can drop the work. */
export const sink = { value: 0 };

export function consume(x: ArrayLike<number>): void {
  if (x.length > 0) sink.value += x[x.length >> 1] === x[x.length >> 1] ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/** Compares one output with its reference and bound. */
export function verdict(output: string, actual: ArrayLike<number>, expected: ArrayLike<number>, bound: Bound | ArrayLike<number>, M: ErrorModel, shape?: readonly number[]): CheckResult {
  const allowed = 'allowed' in bound ? bound.allowed : bound;
  const r = compareWithAllowed(actual, expected, allowed, { float32: M.uStore > F64_U });
  return {
    output,
    ok: r.ok,
    compared: r.count,
    maxRatio: r.maxRatio,
    maxRel: r.maxRel,
    maxUlp: r.maxUlp,
    message: r.ok ? undefined : describeFailure(output, r, shape, 'note' in bound ? bound.note : undefined),
  };
}

/** Memoises a function of the error model (references are computed once per process, bounds once per model). */
export function perModel<T>(f: (M: ErrorModel) => T): (M: ErrorModel) => T {
  const cache = new Map<string, T>();
  return (M) => {
    let v = cache.get(M.name);
    if (v === undefined) {
      v = f(M);
      cache.set(M.name, v);
    }
    return v;
  };
}

export function lazy<T>(f: () => T): () => T {
  let v: T | undefined;
  let done = false;
  return () => {
    if (!done) {
      v = f();
      done = true;
    }
    return v as T;
  };
}

/** lazy(), shared through the run's disk cache under `key` (see cache.ts). */
export function cachedLazy<T>(key: string, f: () => T): () => T {
  return lazy(() => diskCached(key, f));
}

/** perModel(), shared through the run's disk cache under `key` and the model's name. */
export function cachedPerModel<T>(key: string, f: (M: ErrorModel) => T): (M: ErrorModel) => T {
  return perModel((M) => diskCached(`${key}.${M.name}`, () => f(M)));
}

/** Rows `rows` of a row-major (R, C) array. */
export function takeRows(x: ArrayLike<number>, C: number, rows: readonly number[]): Float64Array {
  const out = new Float64Array(rows.length * C);
  rows.forEach((r, i) => {
    for (let j = 0; j < C; j++) out[i * C + j] = x[r * C + j];
  });
  return out;
}

/** Columns `cols` of a row-major (R, C) array, as an (R, cols) array. */
export function takeCols(x: ArrayLike<number>, R: number, C: number, cols: readonly number[]): Float64Array {
  const out = new Float64Array(R * cols.length);
  for (let r = 0; r < R; r++) cols.forEach((c, j) => (out[r * cols.length + j] = x[r * C + c]));
  return out;
}

/** A deterministic spread of `k` indices in [0, n), always including the first and the last. */
export function spread(n: number, k: number, extra: readonly number[] = []): number[] {
  const s = new Set<number>(extra.filter((i) => i >= 0 && i < n));
  if (n <= k) for (let i = 0; i < n; i++) s.add(i);
  else for (let i = 0; i < k; i++) s.add(Math.round((i * (n - 1)) / (k - 1)));
  return [...s].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------
// Runners
// ---------------------------------------------------------------------------

/**
 * The library's runner. `inputs` are host tensors; those named in `upload`
 * are copied to the device once when the context is resident (integer
 * tensors such as class targets stay on the host: the kernels read them
 * there). In the upload-and-readback mode every output is read back inside
 * the timed call.
 */
export async function oursRunner(
  ctx: OursContext,
  inputs: Record<string, Tensor>,
  upload: readonly string[],
  call: (inp: Record<string, Tensor>) => Promise<Record<string, Tensor>>,
): Promise<Runner> {
  const used: Record<string, Tensor> = { ...inputs };
  const uploaded: Tensor[] = [];
  if (ctx.resident) {
    for (const name of upload) {
      const t = await ctx.device.upload(inputs[name]);
      if (t !== inputs[name]) uploaded.push(t);
      used[name] = t;
    }
    await ctx.sync();
  }
  const disposeAll = (outs: Record<string, Tensor>) => {
    for (const t of Object.values(outs)) if (!Object.values(used).includes(t)) t.dispose();
  };
  return {
    async once() {
      const outs = await call(used);
      const host: HostOutputs = {};
      for (const [k, t] of Object.entries(outs)) host[k] = await t.read();
      disposeAll(outs);
      return host;
    },
    async timed() {
      const outs = await call(used);
      if (ctx.resident) {
        await ctx.sync();
        for (const t of Object.values(outs)) {
          const h = t.hostData;
          if (h) consume(h);
        }
      } else {
        for (const t of Object.values(outs)) consume(await t.read());
      }
      disposeAll(outs);
    },
    dispose() {
      for (const t of uploaded) t.dispose();
    },
  };
}

/** A runner for host functions (the TypeScript loop baseline). */
export function hostRunner(call: () => HostOutputs): Runner {
  return {
    async once() {
      return call();
    },
    async timed() {
      for (const v of Object.values(call())) consume(v);
    },
  };
}

/**
 * A tfjs runner. Inputs are tf tensors made once (resident in the backend's
 * memory, as ours are); each call's intermediates are freed by tf.tidy and its
 * outputs disposed after the work is known to be finished (`finish`).
 */
export function tfjsRunner(tf: Tf, call: () => Record<string, tfc.Tensor>, finish: (outs: tfc.Tensor[]) => Promise<void>, inputs: tfc.Tensor[]): Runner {
  return {
    async once() {
      const outs = tf.tidy(call);
      const host: HostOutputs = {};
      for (const [k, t] of Object.entries(outs)) host[k] = (await t.data()) as Float32Array;
      tf.dispose(Object.values(outs));
      return host;
    },
    async timed() {
      const outs = tf.tidy(call);
      await finish(Object.values(outs));
      tf.dispose(Object.values(outs));
    },
    dispose() {
      tf.dispose(inputs);
    },
  };
}

/** Host tensor from a typed array. */
export function host(data: Float32Array | Int32Array | Float64Array, shape: readonly number[]): Tensor {
  return Tensor.fromHost(data, shape);
}
