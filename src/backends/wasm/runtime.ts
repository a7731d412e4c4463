/**
 * The wasm backend's runtime: one shared WebAssembly.Memory holding a heap,
 * the kernels module (asm/*.ts, embedded in kernels.wasm.ts) instantiated on
 * the calling thread and on a lazily started pool of worker threads, and the
 * kernels as plain functions over Float32Array and sizes.
 *
 *   const rt = await WasmRuntime.create({ threads: 2 });
 *   const c = rt.matmul(a, b, M, K, N, { bias, transB: true }); // (M, N)
 *   const y = rt.softmax(x, N, V);
 *   await rt.destroy();
 *
 * Shape letters: M, K, N of a matmul out (M, N) = a (M, K)·b (K, N); N rows of
 * V values for the row kernels. Every function returns a new array (or writes
 * `out` when given) and never writes into its inputs.
 *
 * Data movement: kernels read and write the wasm heap. Arrays from `alloc()`
 * are views of the heap and are used in place (no copy); any other
 * Float32Array is copied in, and results are copied out into a fresh
 * Float32Array unless `out` is a heap view. The device integration keeps
 * tensors in heap views so chains of kernels copy nothing.
 *
 * Threads: a kernel is split over rows (or output columns) when its work is
 * large enough to pay for waking the workers (10–25 µs a round trip, measured in
 * bench/wasm/NOTES.md); each output element is computed by the same sequence
 * of operations whatever the split, so results are bitwise identical for any
 * thread count.
 */
import os from 'node:os';
import { ArgumentError } from '../../errors.js';
import { KERNELS_WASM_BASE64 } from './kernels.wasm.js';
import { WorkerPool, controlBytes, type Task } from './pool.js';
import { WA, type WasmMemory, type WasmModule } from './wasm-api.js';

/** Exports called through the pool; a Task's `fn` indexes this list. */
const FNS = [
  'gemm',
  'colsum',
  'map_f32',
  'logsumexp_rows',
  'softmax_rows',
  'logsoftmax_rows',
  'softmax_bwd_rows',
  'logsoftmax_bwd_rows',
  'logsumexp_bwd_rows',
] as const;
type FnName = (typeof FNS)[number];
const FN_ID = Object.fromEntries(FNS.map((n, i) => [n, i])) as Record<FnName, number>;

interface KernelExports {
  gemm(flags: number, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, ldc: number, bias: number, m0: number, m1: number, n0: number, n1: number, work: number): void;
  gemm_workspace_bytes(): number;
  gemm_kc(): number;
  colsum(x: number, M: number, N: number, out: number, n0: number, n1: number): void;
  map_f32(fn: number, src: number, dst: number, n: number): void;
  [name: string]: (...args: number[]) => number | void;
}

/** Checks that the module exports every kernel function the runtime calls. */
function kernelExports(raw: Record<string, unknown>): KernelExports {
  for (const name of [...FNS, 'gemm_workspace_bytes', 'gemm_kc']) {
    if (typeof raw[name] !== 'function') throw new Error(`kernels.wasm: export '${name}' is missing; rebuild with \`node scripts/wasm/build.mjs\``);
  }
  return raw as KernelExports;
}

/** asm/gemm.ts flags and tile sizes. */
const GEMM_TRANS_A = 1;
const GEMM_TRANS_B = 2;
const MR = 4;
const NR = 8;
/** asm/maps.ts function ids. */
const MAP_FN = { exp: 0, log: 1, tanh: 2, erf: 3 } as const;

const PAGE = 65536;
/** Page 0 holds the pool's control block; the heap starts at page 1. */
const HEAP_BASE = PAGE;
const MAX_PAGES = 65536;
const ALIGN = 64;

/**
 * Least work per participating thread, below which a kernel is not split.
 * An empty job on two threads costs 10–25 µs (Atomics.notify → wake → notify
 * back; `measureSplitOverhead`). On a machine whose other core is busy, a
 * woken worker tends to be placed on the caller's core and a split of a
 * sub-millisecond kernel gains nothing (measured: 2 threads = 1 thread + 8 µs
 * up to 14 MFLOP and 262 K softmax elements, bench/wasm/NOTES.md); large
 * kernels split well (1024×768×3072: 50 → 91 GFLOP/s). The defaults split
 * from ~300 µs of single-thread work, where the loss under contention is ~3 %.
 */
export const DEFAULT_MIN_FLOPS_PER_THREAD = 8e6;
export const DEFAULT_MIN_ELEMENTS_PER_THREAD = 1 << 17;

export interface WasmRuntimeOptions {
  /**
   * Threads a kernel may use, the calling thread included (default: the
   * machine's available parallelism, at most 8). 1 runs everything on the
   * calling thread and never starts a worker.
   */
  threads?: number;
  /** Least matmul work per thread before a kernel is split (FLOP; default 8·10^6). */
  minFlopsPerThread?: number;
  /** Least elements per thread before a row or element-wise kernel is split (default 131,072). */
  minElementsPerThread?: number;
}

/** Options every kernel function accepts. */
export interface CallOptions {
  /** Write the result here (same length as the result) instead of a new array. Must not overlap an input. */
  out?: Float32Array;
  /** Upper limit on threads for this call (1 = calling thread only). Results do not depend on it. */
  threads?: number;
}

export interface MatmulOptions extends CallOptions {
  /** (N) added to every row of the product. */
  bias?: Float32Array;
  /** b is stored (N, K), as a PyTorch Linear weight: out = a·bᵀ. */
  transB?: boolean;
}

export interface MatmulBackwardOptions {
  /** b was stored (N, K) in the forward call. */
  transB?: boolean;
  /** Also return dbias (N), the column sums of dout. */
  bias?: boolean;
  threads?: number;
}

export interface MatmulGrads {
  /** (M, K) = dout·op(b)ᵀ */
  da: Float32Array;
  /** (K, N), or (N, K) with transB: the gradient in b's own layout */
  db: Float32Array;
  /** (N), only with `bias: true` */
  dbias?: Float32Array;
}

interface Block {
  off: number;
  bytes: number;
}

function checkDims(fn: string, dims: Record<string, number>): void {
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 0) throw new ArgumentError(`${fn}: ${k} must be a non-negative integer, got ${v}`);
  }
}

function checkArray(fn: string, name: string, x: unknown, n: number, shape: string): Float32Array {
  if (!(x instanceof Float32Array)) {
    throw new ArgumentError(`${fn}: '${name}' must be a Float32Array of shape ${shape}, got ${x === null ? 'null' : (x as object)?.constructor?.name ?? typeof x}`);
  }
  if (x.length !== n) throw new ArgumentError(`${fn}: '${name}' has length ${x.length} but shape ${shape} needs ${n}`);
  return x;
}

/** Splits [0, n) into `parts` ranges whose inner boundaries are multiples of `align`. */
function split(n: number, parts: number, align: number): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  for (let p = 0; p < parts; p++) {
    let end = p === parts - 1 ? n : Math.round(((p + 1) * n) / parts / align) * align;
    end = Math.min(n, Math.max(start, end));
    if (end > start) out.push([start, end]);
    start = end;
  }
  return out;
}

/**
 * A heap of Float32Array views in the shared memory: first fit over a free
 * list sorted by address, neighbours coalesced on free, the memory grown when
 * nothing fits. Views keep working after growth (a shared memory's buffer is
 * never detached; each growth hands out a longer SharedArrayBuffer).
 */
class Heap {
  #memory: WasmMemory;
  #free: Block[] = [];
  #used = new Map<number, number>();
  /** Every SharedArrayBuffer object the memory has handed out: a view on any of them is resident. */
  #buffers = new WeakSet<ArrayBufferLike>();
  #f32: Float32Array;
  #top: number;
  #registry = new FinalizationRegistry<number>((off) => this.release(off));

  constructor(memory: WasmMemory, base: number) {
    this.#memory = memory;
    this.#top = base;
    this.#f32 = new Float32Array(memory.buffer);
    this.#buffers.add(memory.buffer);
  }

  get f32(): Float32Array {
    if (this.#f32.buffer.byteLength !== this.#memory.buffer.byteLength) this.#refresh();
    return this.#f32;
  }

  get bytesInUse(): number {
    let s = 0;
    for (const b of this.#used.values()) s += b;
    return s;
  }

  #refresh(): void {
    this.#f32 = new Float32Array(this.#memory.buffer);
    this.#buffers.add(this.#memory.buffer);
  }

  /** Byte offset of `bytes` (rounded up to 64) fresh bytes. */
  allocBytes(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.#free.length; i++) {
      const b = this.#free[i];
      if (b.bytes >= size) {
        const off = b.off;
        if (b.bytes === size) this.#free.splice(i, 1);
        else {
          b.off += size;
          b.bytes -= size;
        }
        this.#used.set(off, size);
        return off;
      }
    }
    const off = this.#top;
    const end = off + size;
    const have = this.#memory.buffer.byteLength;
    if (end > have) {
      // grow by at least a quarter of the heap so a growing workload does not grow page by page
      const need = Math.ceil((end - have) / PAGE);
      const pages = Math.min(MAX_PAGES - have / PAGE, Math.max(need, Math.ceil(have / PAGE / 4)));
      if (pages < need) throw new RangeError(`wasm heap: cannot grow to ${end} bytes (the 4 GiB wasm32 limit)`);
      this.#memory.grow(pages);
      this.#refresh();
    }
    this.#top = end;
    this.#used.set(off, size);
    return off;
  }

  /** Frees a block by offset. Unknown offsets are ignored (a view freed twice). */
  release(off: number): void {
    const size = this.#used.get(off);
    if (size === undefined) return;
    this.#used.delete(off);
    let lo = 0;
    let hi = this.#free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#free[mid].off < off) lo = mid + 1;
      else hi = mid;
    }
    this.#free.splice(lo, 0, { off, bytes: size });
    // coalesce with the next and the previous block
    const cur = this.#free[lo];
    const next = this.#free[lo + 1];
    if (next && cur.off + cur.bytes === next.off) {
      cur.bytes += next.bytes;
      this.#free.splice(lo + 1, 1);
    }
    const prev = this.#free[lo - 1];
    if (prev && prev.off + prev.bytes === cur.off) {
      prev.bytes += cur.bytes;
      this.#free.splice(lo, 1);
    }
    // give the top block back to the bump pointer
    const last = this.#free[this.#free.length - 1];
    if (last && last.off + last.bytes === this.#top) {
      this.#top = last.off;
      this.#free.pop();
    }
  }

  /** A view of n floats in the heap, freed by `free()` or, as a backstop, when it is garbage-collected. */
  view(n: number): Float32Array {
    const off = this.allocBytes(n * 4);
    const v = new Float32Array(this.#memory.buffer, off, n);
    this.#registry.register(v, off, v);
    return v;
  }

  free(v: Float32Array): void {
    if (!this.isView(v)) throw new ArgumentError('free: the array was not allocated by this runtime (use alloc())');
    this.#registry.unregister(v);
    this.release(v.byteOffset);
  }

  /** True for a view into this heap (allocated by `view`, not yet freed). */
  isView(x: Float32Array): boolean {
    return this.#buffers.has(x.buffer) && this.#used.has(x.byteOffset);
  }

  /** True when x lies inside this memory at all (a view or a subarray of one). */
  inMemory(x: Float32Array): boolean {
    return this.#buffers.has(x.buffer);
  }
}

export class WasmRuntime {
  /** Threads a kernel may use, the caller included. */
  readonly threads: number;
  readonly memory: WasmMemory;
  #exports: KernelExports;
  #heap: Heap;
  #pool: WorkerPool;
  #work: number[] = [];
  #destroyed = false;

  #minFlops: number;
  #minElems: number;

  private constructor(module: WasmModule, memory: WasmMemory, threads: number, minFlops: number, minElems: number) {
    this.threads = threads;
    this.#minFlops = minFlops;
    this.#minElems = minElems;
    this.memory = memory;
    this.#exports = kernelExports(new WA.Instance(module, { env: { memory } }).exports);
    this.#heap = new Heap(memory, HEAP_BASE);
    this.#pool = new WorkerPool(module, memory, 0, threads - 1, FNS);
  }

  /**
   * Compiles the kernels and makes a runtime. Workers start on the first
   * kernel large enough to split (or with `startWorkers()`).
   */
  static async create(options: WasmRuntimeOptions = {}): Promise<WasmRuntime> {
    const known = ['threads', 'minFlopsPerThread', 'minElementsPerThread'];
    for (const k of Object.keys(options)) {
      if (!known.includes(k)) throw new ArgumentError(`WasmRuntime.create: unknown option '${k}'; known options are ${known.map((o) => `'${o}'`).join(', ')}`);
    }
    const minFlops = options.minFlopsPerThread ?? DEFAULT_MIN_FLOPS_PER_THREAD;
    const minElems = options.minElementsPerThread ?? DEFAULT_MIN_ELEMENTS_PER_THREAD;
    for (const [k, v] of [['minFlopsPerThread', minFlops], ['minElementsPerThread', minElems]] as const) {
      if (!(v >= 0)) throw new ArgumentError(`WasmRuntime.create: ${k} must be a non-negative number, got ${v}`);
    }
    const threads = options.threads ?? Math.min(8, os.availableParallelism());
    if (!Number.isInteger(threads) || threads < 1) throw new ArgumentError(`WasmRuntime.create: threads must be a positive integer, got ${threads}`);
    if (controlBytes(threads - 1) > HEAP_BASE) throw new ArgumentError(`WasmRuntime.create: at most ${Math.floor(HEAP_BASE / 128)} threads`);
    const module = await WA.compile(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
    // 64 MiB to start; grows on demand
    const memory = new WA.Memory({ initial: 1024, maximum: MAX_PAGES, shared: true });
    return new WasmRuntime(module, memory, threads, minFlops, minElems);
  }

  /** Starts the worker threads now (they otherwise start with the first large kernel). */
  startWorkers(): void {
    this.#checkAlive();
    this.#pool.start();
  }

  get workersStarted(): boolean {
    return this.#pool.started;
  }

  /** The K block of the compiled gemm (its error bound depends on it; see error-model.ts). */
  get gemmKC(): number {
    return this.#exports.gemm_kc();
  }

  /**
   * Wall time of one empty job run on every thread (wake the workers, run
   * nothing, wait for all to acknowledge), in microseconds: the fixed cost a
   * split kernel must amortise (the minimum work per thread is set from it).
   * Starts the workers.
   */
  measureSplitOverhead(iterations = 200): number {
    this.#checkAlive();
    this.#pool.start();
    const tasks: Task[] = Array.from({ length: this.threads }, () => ({ fn: FN_ID.map_f32, args: [MAP_FN.exp, HEAP_BASE, HEAP_BASE, 0] }));
    this.#parallel(tasks);
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) this.#parallel(tasks);
    return ((performance.now() - t0) / iterations) * 1e3;
  }

  /** Bytes of heap in use (allocated and not yet freed). */
  get heapBytesInUse(): number {
    return this.#heap.bytesInUse;
  }

  /** Stops the workers. The runtime cannot be used afterwards. Idempotent. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await this.#pool.destroy();
  }

  // -------------------------------------------------------------------------
  // Heap views
  // -------------------------------------------------------------------------

  /**
   * A zeroed Float32Array of n floats in the wasm heap: kernels read and write
   * it without copies. Give it back with `free()`; one that is dropped is
   * freed when it is garbage-collected, so keep the view itself alive while
   * any subarray of it is in use.
   */
  alloc(n: number): Float32Array {
    this.#checkAlive();
    checkDims('alloc', { n });
    const v = this.#heap.view(n);
    v.fill(0);
    return v;
  }

  /** Returns a view from `alloc()` to the heap. */
  free(v: Float32Array): void {
    this.#heap.free(v);
  }

  /** True if x is a view from `alloc()` (used in place by the kernels). */
  isResident(x: Float32Array): boolean {
    return this.#heap.isView(x);
  }

  // -------------------------------------------------------------------------
  // Kernels
  // -------------------------------------------------------------------------

  /**
   * out (M, N) = a (M, K)·b (K, N) + bias, or a·bᵀ with b (N, K) when transB.
   * K = 0 gives bias (or zeros). Error: |out − exact| ≤ γ_{K+1}·(|bias_j| + Σ_k |a_ik·b_kj|),
   * γ_n = n·u/(1 − n·u), u = 2^-24; IEEE semantics for NaN, ±Inf and overflow (see asm/gemm.ts).
   */
  matmul(a: Float32Array, b: Float32Array, M: number, K: number, N: number, options: MatmulOptions = {}): Float32Array {
    const fn = 'matmul';
    this.#checkAlive();
    checkDims(fn, { M, K, N });
    const transB = options.transB ?? false;
    checkArray(fn, 'a', a, M * K, `[M, K] = [${M}, ${K}]`);
    checkArray(fn, 'b', b, K * N, transB ? `[N, K] = [${N}, ${K}]` : `[K, N] = [${K}, ${N}]`);
    if (options.bias !== undefined) checkArray(fn, 'bias', options.bias, N, `[N] = [${N}]`);
    return this.#withIO(fn, [a, b, options.bias], M * N, options.out, ([pa, pb, pbias], pc) => {
      this.#gemm(transB ? GEMM_TRANS_B : 0, M, N, K, pa!, K, pb!, transB ? K : N, pc, N, pbias ?? 0, options.threads);
    });
  }

  /**
   * Gradients of out = a·op(b) + bias from dout (M, N):
   *   da (M, K) = dout·op(b)ᵀ; db = aᵀ·dout (K, N), or doutᵀ·a (N, K) with transB;
   *   dbias (N) = Σ_rows dout (with `bias: true`).
   * Errors: da and db are matmuls with inner sizes N and M (γ_{N+1}, γ_{M+1}
   * bounds as in `matmul`), dbias is a column sum: γ_{M−1}·Σ_i |dout_ij|.
   */
  matmulBackward(dout: Float32Array, a: Float32Array, b: Float32Array, M: number, K: number, N: number, options: MatmulBackwardOptions = {}): MatmulGrads {
    const fn = 'matmulBackward';
    this.#checkAlive();
    checkDims(fn, { M, K, N });
    const transB = options.transB ?? false;
    checkArray(fn, 'dout', dout, M * N, `[M, N] = [${M}, ${N}]`);
    checkArray(fn, 'a', a, M * K, `[M, K] = [${M}, ${K}]`);
    checkArray(fn, 'b', b, K * N, transB ? `[N, K] = [${N}, ${K}]` : `[K, N] = [${K}, ${N}]`);
    const t = options.threads;
    // da (M, K) = dout (M, N) · op(b)ᵀ: op(b)ᵀ is b (N, K) itself when transB, else b (K, N) read transposed
    const da = this.#withIO(fn, [dout, b], M * K, undefined, ([pd, pb], pc) => {
      this.#gemm(transB ? 0 : GEMM_TRANS_B, M, K, N, pd!, N, pb!, transB ? K : N, pc, K, 0, t);
    });
    // db: (K, N) = aᵀ·dout, or (N, K) = doutᵀ·a with transB; inner size M
    const db = this.#withIO(fn, [a, dout], K * N, undefined, ([pa, pd], pc) => {
      if (transB) this.#gemm(GEMM_TRANS_A, N, K, M, pd!, N, pa!, K, pc, K, 0, t);
      else this.#gemm(GEMM_TRANS_A, K, N, M, pa!, K, pd!, N, pc, N, 0, t);
    });
    const grads: MatmulGrads = { da, db };
    if (options.bias) {
      grads.dbias = this.#withIO(fn, [dout], N, undefined, ([pd], pc) => {
        const parts = this.#parts(M * N, this.#minElems, t);
        this.#parallel(split(N, parts, 16).map(([n0, n1]) => ({ fn: FN_ID.colsum, args: [pd!, M, N, pc, n0, n1] })));
      });
    }
    return grads;
  }

  /** lse (N) = log Σ_j exp(x_ij) of x (N, V); contract of src/kernels/softmax.ts (V = 0: −Inf). */
  logSumExp(x: Float32Array, N: number, V: number, options: CallOptions = {}): Float32Array {
    this.#rowsCheck('logSumExp', { x }, N, V);
    if (V === 0) {
      const out = options.out ?? new Float32Array(N);
      return out.fill(-Infinity);
    }
    return this.#rows('logSumExp', 'logsumexp_rows', [x], N, V, N, options);
  }

  /** y (N, V) = softmax of each row of x (N, V); contract of src/kernels/softmax.ts. */
  softmax(x: Float32Array, N: number, V: number, options: CallOptions = {}): Float32Array {
    this.#rowsCheck('softmax', { x }, N, V);
    return this.#rows('softmax', 'softmax_rows', [x], N, V, N * V, options);
  }

  /** y (N, V) = logSoftmax of each row of x (N, V); contract of src/kernels/softmax.ts. */
  logSoftmax(x: Float32Array, N: number, V: number, options: CallOptions = {}): Float32Array {
    this.#rowsCheck('logSoftmax', { x }, N, V);
    return this.#rows('logSoftmax', 'logsoftmax_rows', [x], N, V, N * V, options);
  }

  /** dx (N, V) = y·(dy − Σ y·dy) per row, from dy and the softmax output y. */
  softmaxBackward(dy: Float32Array, y: Float32Array, N: number, V: number, options: CallOptions = {}): Float32Array {
    this.#rowsCheck('softmaxBackward', { dy, y }, N, V);
    return this.#rows('softmaxBackward', 'softmax_bwd_rows', [dy, y], N, V, N * V, options);
  }

  /** dx (N, V) = dy − exp(y)·Σ dy per row, from dy and the logSoftmax output y. */
  logSoftmaxBackward(dy: Float32Array, y: Float32Array, N: number, V: number, options: CallOptions = {}): Float32Array {
    this.#rowsCheck('logSoftmaxBackward', { dy, y }, N, V);
    return this.#rows('logSoftmaxBackward', 'logsoftmax_bwd_rows', [dy, y], N, V, N * V, options);
  }

  /** dx (N, V) = dlse_i·exp(x_ij − lse_i), from dlse (N), x (N, V) and lse (N). */
  logSumExpBackward(dlse: Float32Array, x: Float32Array, lse: Float32Array, N: number, V: number, options: CallOptions = {}): Float32Array {
    const fn = 'logSumExpBackward';
    this.#rowsCheck(fn, { x }, N, V);
    checkArray(fn, 'dlse', dlse, N, `[N] = [${N}]`);
    checkArray(fn, 'lse', lse, N, `[N] = [${N}]`);
    return this.#rows(fn, 'logsumexp_bwd_rows', [dlse, x, lse], N, V, N * V, options);
  }

  /** Element-wise exp (asm/vmath.ts exp4; special cases listed there). */
  exp(x: Float32Array, options: CallOptions = {}): Float32Array {
    return this.#map('exp', x, options);
  }

  /** Element-wise natural log (asm/vmath.ts log4). */
  log(x: Float32Array, options: CallOptions = {}): Float32Array {
    return this.#map('log', x, options);
  }

  /** Element-wise tanh (asm/vmath.ts tanh4). */
  tanh(x: Float32Array, options: CallOptions = {}): Float32Array {
    return this.#map('tanh', x, options);
  }

  /** Element-wise erf (asm/vmath.ts erf4). */
  erf(x: Float32Array, options: CallOptions = {}): Float32Array {
    return this.#map('erf', x, options);
  }

  // -------------------------------------------------------------------------
  // Internals
  // -------------------------------------------------------------------------

  #checkAlive(): void {
    if (this.#destroyed) throw new ArgumentError('WasmRuntime: used after destroy()');
  }

  /** Threads for `work` units given a minimum per thread and the call's limit. */
  #parts(work: number, minPerThread: number, limit: number | undefined): number {
    const cap = Math.min(this.threads, limit ?? this.threads);
    return Math.max(1, Math.min(cap, Math.floor(work / minPerThread)));
  }

  #parallel(tasks: Task[]): void {
    if (tasks.length === 0) return;
    this.#pool.run(tasks, (t) => (this.#exports[FNS[t.fn]] as (...a: number[]) => void)(...t.args));
  }

  /**
   * Runs `body` with heap offsets of the inputs (undefined inputs give
   * undefined) and of an output of nOut floats, then returns the result:
   * `out` itself, or a fresh Float32Array. Inputs outside the heap are copied
   * in; temporaries are freed even when the body throws.
   */
  #withIO(fn: string, inputs: (Float32Array | undefined)[], nOut: number, out: Float32Array | undefined, body: (ptrs: (number | undefined)[], pOut: number) => void): Float32Array {
    if (out !== undefined) checkArray(fn, 'out', out, nOut, `(${nOut} elements)`);
    const temps: number[] = [];
    const heap = this.#heap;
    try {
      const ptrs = inputs.map((x) => {
        if (x === undefined) return undefined;
        if (heap.inMemory(x)) return x.byteOffset;
        const off = heap.allocBytes(x.byteLength);
        temps.push(off);
        heap.f32.set(x, off >> 2);
        return off;
      });
      let pOut: number;
      if (out !== undefined && heap.inMemory(out)) pOut = out.byteOffset;
      else {
        pOut = heap.allocBytes(nOut * 4);
        temps.push(pOut);
      }
      body(ptrs, pOut);
      if (out !== undefined && heap.inMemory(out)) return out;
      const src = heap.f32.subarray(pOut >> 2, (pOut >> 2) + nOut);
      if (out !== undefined) {
        out.set(src);
        return out;
      }
      return src.slice();
    } finally {
      for (const off of temps) heap.release(off);
    }
  }

  #gemm(flags: number, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, ldc: number, bias: number, limit: number | undefined): void {
    if (M === 0 || N === 0) return;
    const parts = this.#parts(2 * M * N * K, this.#minFlops, limit);
    while (this.#work.length < parts) this.#work.push(this.#heap.allocBytes(this.#exports.gemm_workspace_bytes()));
    // split the rows when each thread gets a few register tiles of them, else the columns
    const byRows = M >= parts * MR * 4 || N < parts * NR * 4;
    const ranges = byRows ? split(M, parts, MR) : split(N, parts, NR);
    this.#parallel(ranges.map(([s, e], i) => ({
      fn: FN_ID.gemm,
      args: [flags, M, N, K, A, lda, B, ldb, C, ldc, bias, byRows ? s : 0, byRows ? e : M, byRows ? 0 : s, byRows ? N : e, this.#work[i]],
    })));
  }

  #rowsCheck(fn: string, arrays: Record<string, Float32Array>, N: number, V: number): void {
    this.#checkAlive();
    checkDims(fn, { N, V });
    for (const [name, x] of Object.entries(arrays)) checkArray(fn, name, x, N * V, `[N, V] = [${N}, ${V}]`);
  }

  #rows(fn: string, kernel: FnName, inputs: Float32Array[], N: number, V: number, nOut: number, options: CallOptions): Float32Array {
    if (nOut === 0) {
      if (options.out !== undefined) checkArray(fn, 'out', options.out, 0, '(0 elements)');
      return options.out ?? new Float32Array(0);
    }
    return this.#withIO(fn, inputs, nOut, options.out, (ptrs, pOut) => {
      const parts = this.#parts(N * V, this.#minElems, options.threads);
      this.#parallel(split(N, parts, 1).map(([r0, r1]) => ({ fn: FN_ID[kernel], args: [...(ptrs as number[]), pOut, V, r0, r1] })));
    });
  }

  #map(name: keyof typeof MAP_FN, x: Float32Array, options: CallOptions): Float32Array {
    this.#checkAlive();
    checkArray(name, 'x', x, x?.length ?? 0, `[${x?.length}]`);
    const n = x.length;
    if (n === 0) return options.out ?? new Float32Array(0);
    return this.#withIO(name, [x], n, options.out, ([px], pOut) => {
      const parts = this.#parts(n, this.#minElems, options.threads);
      // chunk boundaries at multiples of 4 keep the vector loads 16-byte aligned
      this.#parallel(split(n, parts, 4).map(([s, e]) => ({ fn: FN_ID.map_f32, args: [MAP_FN[name], px! + 4 * s, pOut + 4 * s, e - s] })));
    });
  }
}
