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
 * V values for the row kernels; B, NH, T, S, hs for attention. Every function
 * returns new arrays (or writes `out`/`outs` when given) and never writes into
 * its inputs. The kernels are those of src/kernels (matmul, the softmax
 * family, attention, layerNorm, gelu, crossEntropy, embedding, residual add,
 * adamw, head permutations, cast), with those files' contracts; each asm/*.ts
 * file says which evaluation order it follows and why the shared bound holds.
 *
 * Data movement: kernels read and write the wasm heap. Arrays from `alloc()`
 * are views of the heap and are used in place (no copy); any other
 * Float32Array is copied in, and results are copied out into a fresh
 * Float32Array unless `out` is a heap view. The device integration keeps
 * tensors in heap views so chains of kernels copy nothing.
 *
 * Threads: a kernel is split into tasks (rows, output columns, heads) when
 * its work is large enough to pay for waking the workers (10–25 µs a round
 * trip, measured in bench/wasm/NOTES.md); the caller and the workers claim
 * tasks as they come (pool.ts), so a worker the OS has not scheduled yet never
 * delays the call. Each output element is computed by the same sequence of
 * operations whatever the split, so results are bitwise identical for any
 * thread count.
 */
import os from 'node:os';
import { ArgumentError } from '../../errors.js';
import type { AdamWScalars } from '../../kernels/adamw.js';
import type { GeluApproximation } from '../../kernels/gelu.js';
import { type FloatFormat, fitsInFloat32 } from '../../precision/formats.js';
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
  'add_f32',
  'gelu_fwd',
  'gelu_bwd',
  'adamw_step',
  'cast_f32',
  'split_heads',
  'unsplit_heads',
  'merge_heads',
  'unmerge_heads',
  'embedding_fwd',
  'embedding_bwd',
  'layernorm_fwd',
  'layernorm_bwd_rows',
  'layernorm_bwd_reduce',
  'ce_fwd_rows',
  'ce_bwd_rows',
  'attn_fwd',
  'attn_bwd',
] as const;
type FnName = (typeof FNS)[number];
const FN_ID = Object.fromEntries(FNS.map((n, i) => [n, i])) as Record<FnName, number>;

interface KernelExports {
  gemm(flags: number, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, ldc: number, bias: number, m0: number, m1: number, n0: number, n1: number, work: number): void;
  gemm_workspace_bytes(): number;
  gemm_kc(): number;
  colsum(x: number, M: number, N: number, out: number, n0: number, n1: number): void;
  map_f32(fn: number, src: number, dst: number, n: number): void;
  zero_bytes(p: number, n: number): void;
  sum_chunked(x: number, n: number): number;
  attn_work_bytes(S: number, hs: number): number;
  [name: string]: (...args: number[]) => number | void;
}

/** Checks that the module exports every kernel function the runtime calls. */
function kernelExports(raw: Record<string, unknown>): KernelExports {
  for (const name of [...FNS, 'gemm_workspace_bytes', 'gemm_kc', 'sum_chunked', 'attn_work_bytes', 'zero_bytes']) {
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
const MAP_FN = { exp: 0, log: 1, tanh: 2, erf: 3, expFtz: 4, expFtzNonPos: 5 } as const;

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

/**
 * One-thread cost per element of the phase-2 kernels relative to a softmax
 * element (~1 ns, the unit of minElementsPerThread), measured with
 * bench/wasm/phase2.bench.ts at the GPT's shapes (e.g. gelu tanh 1.9 ns,
 * layerNorm 1.6 ns per element): a kernel is split once n·cost reaches the
 * per-thread minimum, i.e. at about the same one-thread time (~130 µs per
 * thread) for every kernel.
 */
const COST = {
  add: 0.4,
  copy: 0.5,
  geluTanh: 1.9,
  geluErf: 3.9,
  adamw: 1,
  cast: 0.3,
  layerNorm: 1.6,
  crossEntropy: 1.5,
  embedding: 0.3,
} as const;
/** Attention FLOPs count this many matmul FLOPs in the split decision (smaller tiles, the softmax between them). */
const ATTENTION_FLOP_COST = 3;
/** Rows per chunk of the shared summation order (ROW_CHUNK of src/kernels/bounds.ts; asm/lanes.ts's SUM_CHUNK). */
const SUM_CHUNK = 256;

const f32Scratch = new Float32Array(1);
const i32Scratch = new Int32Array(f32Scratch.buffer);
/** The bit pattern of fround(x), for float arguments passed through the pool's i32 slots. */
function f32Bits(x: number): number {
  f32Scratch[0] = x;
  return i32Scratch[0];
}

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
  /**
   * Testing aid: overwrite every block with NaN when it is freed, so that a
   * read after free (of a disposed tensor's view, or of a temporary) turns
   * into NaN in whatever consumed it. Default false.
   */
  poisonFreed?: boolean;
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
  /** Where to write da, db, dbias (as `out` of CallOptions). */
  outs?: { da?: Float32Array; db?: Float32Array; dbias?: Float32Array };
}

export interface MatmulGrads {
  /** (M, K) = dout·op(b)ᵀ */
  da: Float32Array;
  /** (K, N), or (N, K) with transB: the gradient in b's own layout */
  db: Float32Array;
  /** (N), only with `bias: true` */
  dbias?: Float32Array;
}

/** GELU form: 'none' (x·Φ(x) through the erf-free Mills-ratio evaluation of gelu.ts) or PyTorch's 'tanh' approximation. */
export type GeluForm = GeluApproximation;

/** The float32 scalars of one AdamW step, computed in float64 by the caller (adamwScalars of src/kernels/adamw.ts). */
export type AdamWScalarArgs = AdamWScalars;

export interface AdamWOutputs {
  param: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export interface LayerNormOutputs {
  out: Float32Array;
  mean: Float32Array;
  rstd: Float32Array;
}

export interface LayerNormGrads {
  dx: Float32Array;
  dweight: Float32Array;
  dbias: Float32Array;
}

/** Cross-entropy options as the kernels receive them (targets coded: a class index, or −1 for an ignored row). */
export interface CrossEntropyArgs {
  labelSmoothing: number;
  reduction: 'mean' | 'sum' | 'none';
  /** Rows not ignored (the 'mean' denominator). */
  count: number;
}

export interface AttentionDimsArgs {
  B: number;
  NH: number;
  T: number;
  S: number;
  hs: number;
}

export interface AttentionArgs {
  causal: boolean;
  /** Multiplies q·k (rounded to float32). */
  scale: number;
  /** A mask as float32 (boolean: 0/1, 1 = takes part; additive: −Inf excludes) with element strides over (B, NH, T, S). */
  mask?: { data: Float32Array; kind: 1 | 2; strides: readonly number[] };
}

interface OutSpec {
  name: string;
  n: number;
  out?: Float32Array;
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
  /** Live views and their offsets. */
  #live = new WeakMap<Float32Array, number>();
  #poison: boolean;

  constructor(memory: WasmMemory, base: number, poison = false) {
    this.#poison = poison;
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
    if (this.#poison) this.f32.fill(NaN, off >> 2, (off + size) >> 2);
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
    this.#live.set(v, off);
    return v;
  }

  /**
   * Frees a view from `view()`. The view object itself is the key, not its
   * offset: freeing a stale view (already freed, its block since handed out
   * again) throws instead of freeing the new owner's block.
   */
  free(v: Float32Array): void {
    if (!this.isView(v)) throw new ArgumentError('free: the array was not allocated by this runtime (use alloc()), or was freed already');
    this.#live.delete(v);
    this.#registry.unregister(v);
    this.release(v.byteOffset);
  }

  /** True for a view from `view()` that has not been freed (the object itself, not a subarray). */
  isView(x: Float32Array): boolean {
    return this.#live.get(x) === x.byteOffset;
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
  /** 64 words of heap for the scalar arguments of one call (kernel calls are synchronous, so one block serves all). */
  #scalars: number;
  #destroyed = false;

  #minFlops: number;
  #minElems: number;
  #copiedIn = 0;

  private constructor(module: WasmModule, memory: WasmMemory, threads: number, minFlops: number, minElems: number, poisonFreed: boolean) {
    this.threads = threads;
    this.#minFlops = minFlops;
    this.#minElems = minElems;
    this.memory = memory;
    this.#exports = kernelExports(new WA.Instance(module, { env: { memory } }).exports);
    this.#heap = new Heap(memory, HEAP_BASE, poisonFreed);
    this.#scalars = this.#heap.allocBytes(256);
    this.#pool = new WorkerPool(module, memory, 0, threads - 1, FNS);
  }

  /**
   * Compiles the kernels and makes a runtime. Workers start on the first
   * kernel large enough to split (or with `startWorkers()`).
   */
  static async create(options: WasmRuntimeOptions = {}): Promise<WasmRuntime> {
    const known = ['threads', 'minFlopsPerThread', 'minElementsPerThread', 'poisonFreed'];
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
    return new WasmRuntime(module, memory, threads, minFlops, minElems, options.poisonFreed === true);
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

  /**
   * Bytes of input copied into the heap so far: arrays that were not heap
   * views. Chained kernels on the device pass their outputs (heap views) on
   * in place, so this grows only by what comes from outside (weights, data).
   */
  get bytesCopiedIn(): number {
    return this.#copiedIn;
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
  alloc(n: number, zeroed = true): Float32Array {
    this.#checkAlive();
    checkDims('alloc', { n });
    const v = this.#heap.view(n);
    // `zeroed = false` leaves what the heap held (for outputs a kernel writes in full)
    if (zeroed) this.#zero(v.byteOffset, n);
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
    const outs = options.outs ?? {};
    // da (M, K) = dout (M, N) · op(b)ᵀ: op(b)ᵀ is b (N, K) itself when transB, else b (K, N) read transposed.
    // db: (K, N) = aᵀ·dout, or (N, K) = doutᵀ·a with transB; inner size M.
    // The two products have the same FLOPs: with two or more threads they run side by side
    // (half the threads each), which packs nothing twice and wakes the workers once.
    const [da, db] = this.#io(fn, [dout, a, b], [{ name: 'da', n: M * K, out: outs.da }, { name: 'db', n: K * N, out: outs.db }], ([pd, pa, pb], [pda, pdb]) => {
      const parts = this.#parts(4 * M * N * K, this.#minFlops, t);
      const half = Math.max(1, Math.floor(parts / 2));
      const rest = Math.max(1, parts - half);
      const tasks = this.#gemmTasks(transB ? 0 : GEMM_TRANS_B, M, K, N, pd!, N, pb!, transB ? K : N, pda, K, 0, parts === 1 ? 1 : half, 0);
      const dbTasks = transB
        ? this.#gemmTasks(GEMM_TRANS_A, N, K, M, pd!, N, pa!, K, pdb, K, 0, parts === 1 ? 1 : rest, tasks.length)
        : this.#gemmTasks(GEMM_TRANS_A, K, N, M, pa!, K, pd!, N, pdb, N, 0, parts === 1 ? 1 : rest, tasks.length);
      if (parts === 1) {
        this.#parallel(tasks);
        this.#parallel(dbTasks);
      } else this.#parallel([...tasks, ...dbTasks]);
    });
    const grads: MatmulGrads = { da, db };
    if (options.bias) {
      grads.dbias = this.#withIO(fn, [dout], N, outs.dbias, ([pd], pc) => {
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

  /**
   * Element-wise exp with results below FLT_MIN flushed to +0 (asm/vmath.ts
   * exp4ftz, the exp of the softmax-family and cross-entropy kernels): exp(x)
   * bit for bit for x ≥ −87.33654022216797, +0 below.
   */
  expFtz(x: Float32Array, options: CallOptions = {}): Float32Array {
    return this.#map('expFtz', x, options);
  }

  /**
   * expFtz for inputs ≤ 0 or −Inf only (asm/vmath.ts exp4ftzNonPos, the
   * softmax row sums' exp); other inputs give unspecified values. Exposed for
   * the tests that hold it to expFtz bit for bit on that domain.
   */
  expFtzNonPos(x: Float32Array, options: CallOptions = {}): Float32Array {
    return this.#map('expFtzNonPos', x, options);
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
  // Phase-2 kernels: the contracts of src/kernels/*.ts on float32 arrays
  // -------------------------------------------------------------------------

  /** out = a + b element-wise (residual add: one correctly rounded addition). */
  add(a: Float32Array, b: Float32Array, options: CallOptions = {}): Float32Array {
    const fn = 'add';
    this.#checkAlive();
    const n = checkArray(fn, 'a', a, a?.length ?? 0, `[${a?.length}]`).length;
    checkArray(fn, 'b', b, n, `[${n}]`);
    return this.#withIO(fn, [a, b], n, options.out, ([pa, pb], po) => {
      this.#elementwise(n, COST.add, options.threads, (i0, i1) => ({ fn: FN_ID.add_f32, args: [pa!, pb!, po, i0, i1] }));
    });
  }

  /** y = gelu(x), erf ('none') or tanh form, with gelu.ts's contract and arithmetic (asm/elementwise.ts). */
  gelu(x: Float32Array, form: GeluForm, options: CallOptions = {}): Float32Array {
    const fn = 'gelu';
    this.#checkAlive();
    const n = checkArray(fn, 'x', x, x?.length ?? 0, `[${x?.length}]`).length;
    const tanh = form === 'tanh' ? 1 : 0;
    return this.#withIO(fn, [x], n, options.out, ([px], po) => {
      this.#elementwise(n, tanh ? COST.geluTanh : COST.geluErf, options.threads, (i0, i1) => ({ fn: FN_ID.gelu_fwd, args: [tanh, px!, po, i0, i1] }));
    });
  }

  /** dx = dy·gelu'(x) (gelu.ts's backward contract: gelu'(+Inf) = 1, gelu'(−Inf) = 0, NaN·0 = NaN). */
  geluBackward(dy: Float32Array, x: Float32Array, form: GeluForm, options: CallOptions = {}): Float32Array {
    const fn = 'geluBackward';
    this.#checkAlive();
    const n = checkArray(fn, 'x', x, x?.length ?? 0, `[${x?.length}]`).length;
    checkArray(fn, 'dy', dy, n, `[${n}]`);
    const tanh = form === 'tanh' ? 1 : 0;
    // a float32 zero read at run time: the `zero` of gelu.ts's dy·zero
    this.#heap.f32[this.#scalars >> 2] = 0;
    const zeroAt = this.#scalars;
    return this.#withIO(fn, [dy, x], n, options.out, ([pd, px], po) => {
      this.#elementwise(n, tanh ? COST.geluTanh : COST.geluErf, options.threads, (i0, i1) => ({ fn: FN_ID.gelu_bwd, args: [tanh, pd!, px!, po, zeroAt, i0, i1] }));
    });
  }

  /**
   * One AdamW step (adamw.ts's arrangement): m' = β₁m + c₁g, v' = β₂v + (c₂g)g,
   * θ' = dec·θ − ss·(m'/(√v'·r2 + ε)), with the scalars rounded to float32.
   */
  adamw(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, k: AdamWScalarArgs, outs: Partial<AdamWOutputs> & { threads?: number } = {}): AdamWOutputs {
    const fn = 'adamw';
    this.#checkAlive();
    const n = checkArray(fn, 'param', param, param?.length ?? 0, `[${param?.length}]`).length;
    for (const [name, a] of [['grad', grad], ['m', m], ['v', v]] as const) checkArray(fn, name, a, n, `[${n}]`);
    const sc = this.#heap.f32;
    const base = this.#scalars >> 2;
    [k.b1, k.c1, k.b2, k.c2, k.dec, k.ss, k.r2, k.eps].forEach((x, i) => (sc[base + i] = x));
    const at = this.#scalars;
    const [p2, m2, v2] = this.#io(fn, [param, grad, m, v], [
      { name: 'param', n, out: outs.param },
      { name: 'm', n, out: outs.m },
      { name: 'v', n, out: outs.v },
    ], ([pp, pg, pm, pv], [op, om, ov]) => {
      this.#elementwise(n, COST.adamw, outs.threads, (i0, i1) => ({ fn: FN_ID.adamw_step, args: [pp!, pg!, pm!, pv!, op, om, ov, at, i0, i1] }));
    });
    return { param: p2, m: m2, v: v2 };
  }

  /** True when `cast` runs `format` in SIMD (float32-representable values and subnormal grid, ≤ 22 fraction bits). */
  static castsInSimd(format: FloatFormat): boolean {
    return fitsInFloat32(format) && format.manBits <= 22;
  }

  /**
   * Rounds every element to `format` (round-to-nearest-even, subnormals, NaN kept
   * and quietened, overflow per `saturate`, default the format's own), bit-identical
   * to roundArray(format, x) of src/precision/round.ts. Formats outside
   * `castsInSimd` are refused (round them with roundArray).
   */
  cast(x: Float32Array, format: FloatFormat, options: CallOptions & { saturate?: boolean } = {}): Float32Array {
    const fn = 'cast';
    this.#checkAlive();
    const n = checkArray(fn, 'x', x, x?.length ?? 0, `[${x?.length}]`).length;
    if (!WasmRuntime.castsInSimd(format)) throw new ArgumentError(`cast: format '${format.name}' does not fit the float32 SIMD rounding (needs float32-representable values and ≤ 22 fraction bits); use roundArray`);
    const saturate = options.saturate ?? format.saturate;
    const drop = 23 - format.manBits;
    const maxFiniteBits = f32Bits(format.maxFinite);
    const words = [
      drop,
      (1 << (drop - 1)) - 1,
      ~((1 << drop) - 1),
      (format.emin + 127) << 23,
      format.emax + 1 >= 128 ? 0x7f800000 : (format.emax + 1 + 127) << 23,
      maxFiniteBits,
      saturate ? maxFiniteBits : format.hasInf ? 0x7f800000 : 0x7fc00000,
      f32Bits(format.minSubnormal / 2),
      f32Bits(format.minSubnormal * 2 ** 23),
    ];
    new Int32Array(this.memory.buffer, this.#scalars, words.length).set(words);
    const at = this.#scalars;
    return this.#withIO(fn, [x], n, options.out, ([px], po) => {
      this.#elementwise(n, COST.cast, options.threads, (i0, i1) => ({ fn: FN_ID.cast_f32, args: [px!, po, at, i0, i1] }));
    });
  }

  /** q, k, v (B, NH, T, hs) from qkv (B, T, 3C): exact permutations (heads.ts). */
  splitHeads(qkv: Float32Array, B: number, T: number, NH: number, hs: number, outs: { q?: Float32Array; k?: Float32Array; v?: Float32Array; threads?: number } = {}): { q: Float32Array; k: Float32Array; v: Float32Array } {
    const fn = 'splitHeads';
    this.#checkAlive();
    checkDims(fn, { B, T, NH, hs });
    const n = B * T * NH * hs;
    checkArray(fn, 'qkv', qkv, 3 * n, `[B, T, 3C] = [${B}, ${T}, ${3 * NH * hs}]`);
    const [q, k, v] = this.#io(fn, [qkv], [{ name: 'q', n, out: outs.q }, { name: 'k', n, out: outs.k }, { name: 'v', n, out: outs.v }], ([px], [pq, pk, pv]) => {
      this.#rowsSplit(B * T, 3 * NH * hs * COST.copy, outs.threads, (r0, r1) => ({ fn: FN_ID.split_heads, args: [px!, pq, pk, pv, T, NH, hs, r0, r1] }));
    });
    return { q, k, v };
  }

  /** dqkv (B, T, 3C) from dq, dk, dv (B, NH, T, hs): the inverse permutation. */
  splitHeadsBackward(dq: Float32Array, dk: Float32Array, dv: Float32Array, B: number, T: number, NH: number, hs: number, options: CallOptions = {}): Float32Array {
    const fn = 'splitHeadsBackward';
    this.#checkAlive();
    checkDims(fn, { B, T, NH, hs });
    const n = B * T * NH * hs;
    for (const [name, a] of [['dq', dq], ['dk', dk], ['dv', dv]] as const) checkArray(fn, name, a, n, `[B, NH, T, hs] = [${B}, ${NH}, ${T}, ${hs}]`);
    return this.#withIO(fn, [dq, dk, dv], 3 * n, options.out, ([pq, pk, pv], po) => {
      this.#rowsSplit(B * T, 3 * NH * hs * COST.copy, options.threads, (r0, r1) => ({ fn: FN_ID.unsplit_heads, args: [pq!, pk!, pv!, po, T, NH, hs, r0, r1] }));
    });
  }

  /** (B, T, C) from y (B, NH, T, hs). */
  mergeHeads(y: Float32Array, B: number, T: number, NH: number, hs: number, options: CallOptions = {}): Float32Array {
    const fn = 'mergeHeads';
    this.#checkAlive();
    checkDims(fn, { B, T, NH, hs });
    const n = B * T * NH * hs;
    checkArray(fn, 'y', y, n, `[B, NH, T, hs] = [${B}, ${NH}, ${T}, ${hs}]`);
    return this.#withIO(fn, [y], n, options.out, ([py], po) => {
      this.#rowsSplit(B * T, NH * hs * COST.copy, options.threads, (r0, r1) => ({ fn: FN_ID.merge_heads, args: [py!, po, T, NH, hs, r0, r1] }));
    });
  }

  /** dy (B, NH, T, hs) from dout (B, T, C): the inverse of mergeHeads. */
  mergeHeadsBackward(dout: Float32Array, B: number, T: number, NH: number, hs: number, options: CallOptions = {}): Float32Array {
    const fn = 'mergeHeadsBackward';
    this.#checkAlive();
    checkDims(fn, { B, T, NH, hs });
    const n = B * T * NH * hs;
    checkArray(fn, 'dout', dout, n, `[B, T, C] = [${B}, ${T}, ${NH * hs}]`);
    return this.#withIO(fn, [dout], n, options.out, ([pd], po) => {
      this.#rowsSplit(B * T, NH * hs * COST.copy, options.threads, (r0, r1) => ({ fn: FN_ID.unmerge_heads, args: [pd!, po, T, NH, hs, r0, r1] }));
    });
  }

  /**
   * out (B, T, C) = wte[ids] + wpe[t]; ids (B·T) are validated token ids as
   * float32 (exact integers in [0, V)), wte (V, C), wpe (≥ T rows, C).
   */
  embedding(ids: Float32Array, wte: Float32Array, wpe: Float32Array, B: number, T: number, C: number, options: CallOptions = {}): Float32Array {
    const fn = 'embedding';
    this.#checkAlive();
    checkDims(fn, { B, T, C });
    checkArray(fn, 'ids', ids, B * T, `[B, T] = [${B}, ${T}]`);
    if (!(wte instanceof Float32Array) || wte.length % Math.max(C, 1) !== 0) throw new ArgumentError(`${fn}: 'wte' must be a Float32Array of shape [V, C] with C = ${C}`);
    if (!(wpe instanceof Float32Array) || wpe.length < T * C) throw new ArgumentError(`${fn}: 'wpe' must be a Float32Array with at least T·C = ${T * C} elements`);
    return this.#withIO(fn, [ids, wte, wpe], B * T * C, options.out, ([pi, pw, pp], po) => {
      this.#rowsSplit(B * T, C * COST.embedding, options.threads, (r0, r1) => ({ fn: FN_ID.embedding_fwd, args: [pi!, pw!, pp!, po, T, C, r0, r1] }));
    });
  }

  /**
   * dwte (V, C) and dwpe (maxT, C) from dout (B, T, C), accumulated over
   * positions in increasing order (embedding.ts's chains); zero elsewhere.
   */
  embeddingBackward(dout: Float32Array, ids: Float32Array, B: number, T: number, C: number, V: number, maxT: number, outs: { dwte?: Float32Array; dwpe?: Float32Array; threads?: number } = {}): { dwte: Float32Array; dwpe: Float32Array } {
    const fn = 'embeddingBackward';
    this.#checkAlive();
    checkDims(fn, { B, T, C, V, maxT });
    checkArray(fn, 'dout', dout, B * T * C, `[B, T, C] = [${B}, ${T}, ${C}]`);
    checkArray(fn, 'ids', ids, B * T, `[B, T] = [${B}, ${T}]`);
    const [dwte, dwpe] = this.#io(fn, [dout, ids], [{ name: 'dwte', n: V * C, out: outs.dwte }, { name: 'dwpe', n: maxT * C, out: outs.dwpe }], ([pd, pi], [pte, ppe]) => {
      this.#zero(pte, V * C);
      this.#zero(ppe, maxT * C);
      const parts = this.#parts(B * T * C * COST.embedding, this.#minElems, outs.threads);
      this.#parallel(split(C, parts, 4).map(([c0, c1]) => ({ fn: FN_ID.embedding_bwd, args: [pi!, pd!, pte, ppe, B * T, T, C, c0, c1] })));
    });
    return { dwte, dwpe };
  }

  /**
   * LayerNorm over rows of x (N, C) with layernorm.ts's shifted two-pass
   * variance on power-of-two-scaled rows: out (N, C), mean (N), rstd (N).
   */
  layerNorm(x: Float32Array, weight: Float32Array, bias: Float32Array, N: number, C: number, eps: number, outs: Partial<LayerNormOutputs> & { threads?: number } = {}): LayerNormOutputs {
    const fn = 'layerNorm';
    this.#checkAlive();
    checkDims(fn, { N, C });
    checkArray(fn, 'x', x, N * C, `[N, C] = [${N}, ${C}]`);
    checkArray(fn, 'weight', weight, C, `[C] = [${C}]`);
    checkArray(fn, 'bias', bias, C, `[C] = [${C}]`);
    const epsBits = f32Bits(eps);
    const [out, mean, rstd] = this.#io(fn, [x, weight, bias], [{ name: 'out', n: N * C, out: outs.out }, { name: 'mean', n: N, out: outs.mean }, { name: 'rstd', n: N, out: outs.rstd }], ([px, pw, pb], [po, pm, pr]) => {
      if (C === 0) {
        const f = this.#heap.f32;
        f.fill(NaN, pm >> 2, (pm >> 2) + N);
        f.fill(NaN, pr >> 2, (pr >> 2) + N);
        return;
      }
      this.#rowsSplit(N, C * COST.layerNorm, outs.threads, (r0, r1) => ({ fn: FN_ID.layernorm_fwd, args: [px!, pw!, pb!, po, pm, pr, C, epsBits, r0, r1] }));
    });
    return { out, mean, rstd };
  }

  /**
   * dx (N, C), dweight (C), dbias (C) from the cached mean and rstd (N);
   * the column sums in the shared 256-row chunk order (asm/layernorm.ts).
   */
  layerNormBackward(dout: Float32Array, x: Float32Array, weight: Float32Array, mean: Float32Array, rstd: Float32Array, N: number, C: number, outs: Partial<LayerNormGrads> & { threads?: number } = {}): LayerNormGrads {
    const fn = 'layerNormBackward';
    this.#checkAlive();
    checkDims(fn, { N, C });
    checkArray(fn, 'dout', dout, N * C, `[N, C] = [${N}, ${C}]`);
    checkArray(fn, 'x', x, N * C, `[N, C] = [${N}, ${C}]`);
    checkArray(fn, 'weight', weight, C, `[C] = [${C}]`);
    checkArray(fn, 'mean', mean, N, `[N] = [${N}]`);
    checkArray(fn, 'rstd', rstd, N, `[N] = [${N}]`);
    const [dx, dweight, dbias] = this.#io(fn, [dout, x, weight, mean, rstd], [{ name: 'dx', n: N * C, out: outs.dx }, { name: 'dweight', n: C, out: outs.dweight }, { name: 'dbias', n: C, out: outs.dbias }], ([pd, px, pw, pm, pr], [pdx, pdw, pdb]) => {
      const chunks = Math.ceil(N / SUM_CHUNK);
      if (chunks === 0 || C === 0) {
        this.#zero(pdw, C);
        this.#zero(pdb, C);
        return;
      }
      const partials = this.#heap.allocBytes(chunks * 2 * C * 4);
      try {
        const parts = this.#parts(N * C * COST.layerNorm, this.#minElems, outs.threads);
        // whole 256-row chunks per thread: each chunk's partial column sums are one thread's
        this.#parallel(split(N, parts, SUM_CHUNK).map(([r0, r1]) => ({ fn: FN_ID.layernorm_bwd_rows, args: [pd!, px!, pw!, pm!, pr!, pdx, partials, C, r0, r1] })));
        this.#exports.layernorm_bwd_reduce(partials, chunks, pdw, pdb, C, 0, C);
      } finally {
        this.#heap.release(partials);
      }
    });
    return { dx, dweight, dbias };
  }

  /**
   * Cross-entropy of logits (N, V) against coded targets (N): a class index,
   * or −1 for an ignored row. loss: one value ('mean', 'sum') or N ('none');
   * lse (N). cross-entropy.ts's evaluation (asm/crossentropy.ts).
   */
  crossEntropy(logits: Float32Array, targets: Float32Array, N: number, V: number, o: CrossEntropyArgs, outs: { loss?: Float32Array; lse?: Float32Array; threads?: number } = {}): { loss: Float32Array; lse: Float32Array } {
    const fn = 'crossEntropy';
    this.#checkAlive();
    checkDims(fn, { N, V });
    checkArray(fn, 'logits', logits, N * V, `[N, V] = [${N}, ${V}]`);
    checkArray(fn, 'targets', targets, N, `[N] = [${N}]`);
    const none = o.reduction === 'none';
    const eps = o.labelSmoothing;
    const scale = o.reduction === 'mean' ? 2 / o.count : 2;
    const sc = this.#heap.f32;
    const base = this.#scalars >> 2;
    [1 - eps, eps, 1 / V, scale].forEach((x, i) => (sc[base + i] = x));
    const at = this.#scalars;
    const [loss, lse] = this.#io(fn, [logits, targets], [{ name: 'loss', n: none ? N : 1, out: outs.loss }, { name: 'lse', n: N, out: outs.lse }], ([px, pt], [pl, pe]) => {
      const rows = none ? pl : this.#heap.allocBytes(N * 4);
      try {
        this.#rowsSplit(N, V * COST.crossEntropy, outs.threads, (r0, r1) => ({ fn: FN_ID.ce_fwd_rows, args: [px!, pt!, pe, rows, V, at, r0, r1] }));
        if (!none) {
          // 'mean' over no rows is 0/0, as PyTorch; otherwise the rows (≥ 0) in the chunk order
          this.#heap.f32[pl >> 2] = o.reduction === 'mean' && o.count === 0 ? NaN : this.#exports.sum_chunked(rows, N);
        }
      } finally {
        if (!none) this.#heap.release(rows);
      }
    });
    return { loss, lse };
  }

  /** dlogits (N, V) = g·(exp(x − lse) − y), ignored rows 0; dloss has one element ('mean', 'sum') or N ('none'). */
  crossEntropyBackward(dloss: Float32Array, logits: Float32Array, targets: Float32Array, lse: Float32Array, N: number, V: number, o: CrossEntropyArgs, options: CallOptions = {}): Float32Array {
    const fn = 'crossEntropyBackward';
    this.#checkAlive();
    checkDims(fn, { N, V });
    const none = o.reduction === 'none';
    checkArray(fn, 'dloss', dloss, none ? N : 1, none ? `[N] = [${N}]` : '[1]');
    checkArray(fn, 'logits', logits, N * V, `[N, V] = [${N}, ${V}]`);
    checkArray(fn, 'targets', targets, N, `[N] = [${N}]`);
    checkArray(fn, 'lse', lse, N, `[N] = [${N}]`);
    const eps = o.labelSmoothing;
    const gscale = o.reduction === 'mean' && o.count > 0 ? 1 / o.count : 1;
    const sc = this.#heap.f32;
    const base = this.#scalars >> 2;
    [gscale, 1 - eps + eps / V, eps / V].forEach((x, i) => (sc[base + i] = x));
    const at = this.#scalars;
    return this.#withIO(fn, [dloss, logits, targets, lse], N * V, options.out, ([pg, px, pt, pe], po) => {
      this.#rowsSplit(N, V * COST.crossEntropy, options.threads, (r0, r1) => ({ fn: FN_ID.ce_bwd_rows, args: [pg!, px!, pt!, pe!, po, V, none ? 1 : 0, at, r0, r1] }));
    });
  }

  /**
   * Fused attention (asm/attention.ts): out (B, NH, T, hs) and lse (B, NH, T)
   * from q (B, NH, T, hs), k and v (B, NH, S, hs); S ≥ 1 and hs ≥ 1 (the public
   * function answers the empty cases itself).
   */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, d: AttentionDimsArgs, o: AttentionArgs, outs: { out?: Float32Array; lse?: Float32Array; threads?: number } = {}): { out: Float32Array; lse: Float32Array } {
    const fn = 'attention';
    this.#checkAlive();
    const { B, NH, T, S, hs } = d;
    this.#attentionCheck(fn, q, k, v, d, o);
    const rowsTotal = B * NH * T;
    const [out, lse] = this.#io(fn, [q, k, v, o.mask?.data], [{ name: 'out', n: rowsTotal * hs, out: outs.out }, { name: 'lse', n: rowsTotal, out: outs.lse }], ([pq, pk, pv, pm], [po, pl]) => {
      const flops = 4 * rowsTotal * S * hs * (o.causal ? 0.5 : 1) * ATTENTION_FLOP_COST;
      const parts = this.#parts(flops, this.#minFlops, outs.threads);
      const ranges = split(rowsTotal, parts, 4);
      const wb = this.#exports.attn_work_bytes(S, hs);
      const work = ranges.map(() => this.#heap.allocBytes(wb));
      try {
        const [MB, MH, MT, MS] = o.mask?.strides ?? [0, 0, 0, 0];
        this.#parallel(ranges.map(([r0, r1], i) => ({
          fn: FN_ID.attn_fwd,
          args: [pq!, pk!, pv!, po, pl, pm ?? 0, o.mask?.kind ?? 0, MB, MH, MT, MS, NH, T, S, hs, o.causal ? 1 : 0, f32Bits(o.scale), r0, r1, work[i]],
        })));
      } finally {
        for (const w of work) this.#heap.release(w);
      }
    });
    return { out, lse };
  }

  /** dq (B, NH, T, hs), dk and dv (B, NH, S, hs) from dout and the forward's inputs, out and lse; threads split the heads. */
  attentionBackward(
    dout: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
    d: AttentionDimsArgs, o: AttentionArgs, outs: { dq?: Float32Array; dk?: Float32Array; dv?: Float32Array; threads?: number } = {},
  ): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
    const fn = 'attentionBackward';
    this.#checkAlive();
    const { B, NH, T, S, hs } = d;
    this.#attentionCheck(fn, q, k, v, d, o);
    checkArray(fn, 'dout', dout, B * NH * T * hs, `[B, NH, T, hs] = [${B}, ${NH}, ${T}, ${hs}]`);
    checkArray(fn, 'out', out, B * NH * T * hs, `[B, NH, T, hs] = [${B}, ${NH}, ${T}, ${hs}]`);
    checkArray(fn, 'lse', lse, B * NH * T, `[B, NH, T] = [${B}, ${NH}, ${T}]`);
    const [dq, dk, dv] = this.#io(fn, [dout, q, k, v, out, lse, o.mask?.data], [
      { name: 'dq', n: B * NH * T * hs, out: outs.dq },
      { name: 'dk', n: B * NH * S * hs, out: outs.dk },
      { name: 'dv', n: B * NH * S * hs, out: outs.dv },
    ], ([pg, pq, pk, pv, po, pl, pm], [pdq, pdk, pdv]) => {
      const flops = 10 * B * NH * T * S * hs * (o.causal ? 0.5 : 1) * ATTENTION_FLOP_COST;
      const parts = Math.min(B * NH, this.#parts(flops, this.#minFlops, outs.threads));
      const ranges = split(B * NH, parts, 1);
      const wb = this.#exports.attn_work_bytes(S, hs);
      const work = ranges.map(() => this.#heap.allocBytes(wb));
      try {
        const [MB, MH, MT, MS] = o.mask?.strides ?? [0, 0, 0, 0];
        this.#parallel(ranges.map(([h0, h1], i) => ({
          fn: FN_ID.attn_bwd,
          args: [pg!, pq!, pk!, pv!, po!, pl!, pdq, pdk, pdv, pm ?? 0, o.mask?.kind ?? 0, MB, MH, MT, MS, NH, T, S, hs, o.causal ? 1 : 0, f32Bits(o.scale), h0, h1, work[i]],
        })));
      } finally {
        for (const w of work) this.#heap.release(w);
      }
    });
    return { dq, dk, dv };
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
    if (tasks.length > 1) {
      this.#splitStats.jobs++;
      this.#splitStats.tasks += tasks.length;
      this.#splitStats.byWorkers += tasks.length - this.#pool.lastRunByCaller;
    }
  }

  #splitStats = { jobs: 0, tasks: 0, byWorkers: 0 };

  /**
   * Split jobs so far: how many, their tasks, and how many of those tasks a
   * worker ran (the caller runs what no worker claimed in time: on a machine
   * whose other cores are busy, most of them).
   */
  get splitStats(): { jobs: number; tasks: number; byWorkers: number } {
    return { ...this.#splitStats };
  }

  /**
   * Runs `body` with heap offsets of the inputs (undefined inputs give
   * undefined) and of the outputs, then returns the outputs: each `out` given
   * in the heap is written in place; any other is filled from a temporary, and
   * without `out` a fresh Float32Array is returned. Inputs outside the heap are
   * copied in; temporaries are freed even when the body throws.
   */
  #io(fn: string, inputs: (Float32Array | undefined)[], outs: OutSpec[], body: (ptrs: (number | undefined)[], pOut: number[]) => void): Float32Array[] {
    for (const o of outs) if (o.out !== undefined) checkArray(fn, o.name, o.out, o.n, `(${o.n} elements)`);
    const temps: number[] = [];
    const heap = this.#heap;
    try {
      const ptrs = inputs.map((x) => {
        if (x === undefined) return undefined;
        if (heap.inMemory(x)) return x.byteOffset;
        const off = heap.allocBytes(x.byteLength);
        temps.push(off);
        heap.f32.set(x, off >> 2);
        this.#copiedIn += x.byteLength;
        return off;
      });
      const pOut = outs.map((o) => {
        if (o.out !== undefined && heap.inMemory(o.out)) return o.out.byteOffset;
        const off = heap.allocBytes(o.n * 4);
        temps.push(off);
        return off;
      });
      body(ptrs, pOut);
      return outs.map((o, i) => {
        if (o.out !== undefined && heap.inMemory(o.out)) return o.out;
        const src = heap.f32.subarray(pOut[i] >> 2, (pOut[i] >> 2) + o.n);
        if (o.out !== undefined) {
          o.out.set(src);
          return o.out;
        }
        return src.slice();
      });
    } finally {
      for (const off of temps) heap.release(off);
    }
  }

  /** #io with one output. */
  /** Zeroes n floats at byte offset p of the heap (bulk-memory fill; see asm/maps.ts zero_bytes). */
  #zero(p: number, n: number): void {
    if (n > 0) this.#exports.zero_bytes(p, n * 4);
  }

  #withIO(fn: string, inputs: (Float32Array | undefined)[], nOut: number, out: Float32Array | undefined, body: (ptrs: (number | undefined)[], pOut: number) => void): Float32Array {
    return this.#io(fn, inputs, [{ name: 'out', n: nOut, out }], (p, [po]) => body(p, po))[0];
  }

  /** An element-wise kernel over n elements, split on vector boundaries once n·cost pays for the threads. */
  #elementwise(n: number, cost: number, limit: number | undefined, task: (i0: number, i1: number) => Task): void {
    if (n === 0) return;
    const parts = this.#parts(n * cost, this.#minElems, limit);
    this.#parallel(split(n, parts, 4).map(([i0, i1]) => task(i0, i1)));
  }

  /** A row kernel over `rows` rows of `perRow` cost units each, split on row boundaries. */
  #rowsSplit(rows: number, perRow: number, limit: number | undefined, task: (r0: number, r1: number) => Task): void {
    if (rows === 0) return;
    const parts = this.#parts(rows * perRow, this.#minElems, limit);
    this.#parallel(split(rows, parts, 1).map(([r0, r1]) => task(r0, r1)));
  }

  #attentionCheck(fn: string, q: Float32Array, k: Float32Array, v: Float32Array, d: AttentionDimsArgs, o: AttentionArgs): void {
    const { B, NH, T, S, hs } = d;
    checkDims(fn, { B, NH, T, S, hs });
    if (S < 1 || hs < 1) throw new ArgumentError(`${fn}: S = ${S} and hs = ${hs} must be ≥ 1 here (the public attention function answers empty key and head dimensions itself)`);
    checkArray(fn, 'q', q, B * NH * T * hs, `[B, NH, T, hs] = [${B}, ${NH}, ${T}, ${hs}]`);
    checkArray(fn, 'k', k, B * NH * S * hs, `[B, NH, S, hs] = [${B}, ${NH}, ${S}, ${hs}]`);
    checkArray(fn, 'v', v, B * NH * S * hs, `[B, NH, S, hs] = [${B}, ${NH}, ${S}, ${hs}]`);
    if (o.mask) {
      const st = o.mask.strides;
      if (st.length !== 4) throw new ArgumentError(`${fn}: mask strides must have 4 entries (b, h, t, j), got ${st.length}`);
      const last = (B - 1) * st[0] + (NH - 1) * st[1] + (T - 1) * st[2] + (S - 1) * st[3];
      if (!(o.mask.data instanceof Float32Array) || o.mask.data.length <= last) {
        throw new ArgumentError(`${fn}: the mask data (${o.mask.data?.length} elements) is too short for strides [${st.join(', ')}] over [B, NH, T, S] = [${B}, ${NH}, ${T}, ${S}]`);
      }
    }
  }

  #gemm(flags: number, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, ldc: number, bias: number, limit: number | undefined): void {
    if (M === 0 || N === 0) return;
    const parts = this.#parts(2 * M * N * K, this.#minFlops, limit);
    this.#parallel(this.#gemmTasks(flags, M, N, K, A, lda, B, ldb, C, ldc, bias, parts, 0));
  }

  /**
   * The tasks of one gemm split `parts` ways, using workspaces first..first+parts−1.
   * Each thread packs its share of one operand and all of the other, so the
   * split goes along the larger output dimension (rows when M ≥ N): the
   * duplicated packing is then of the smaller operand. A split needs a few
   * register tiles per thread in that dimension, else the other one is used.
   */
  #gemmTasks(flags: number, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, ldc: number, bias: number, parts: number, first: number): Task[] {
    if (M === 0 || N === 0) return [];
    while (this.#work.length < first + parts) this.#work.push(this.#heap.allocBytes(this.#exports.gemm_workspace_bytes()));
    const rowsFit = M >= parts * MR * 4;
    const colsFit = N >= parts * NR * 4;
    const byRows = parts === 1 || (rowsFit && (M >= N || !colsFit)) || !colsFit;
    const ranges = byRows ? split(M, parts, MR) : split(N, parts, NR);
    return ranges.map(([s, e], i) => ({
      fn: FN_ID.gemm,
      args: [flags, M, N, K, A, lda, B, ldb, C, ldc, bias, byRows ? s : 0, byRows ? e : M, byRows ? 0 : s, byRows ? N : e, this.#work[first + i]],
    }));
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
