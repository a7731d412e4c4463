/**
 * A pool of worker threads that run exports of the kernels module on one
 * shared WebAssembly.Memory, synchronised with Atomics on a control block in
 * that memory. The calling thread takes part in every job, so a pool of
 * `threads` runs on `threads − 1` workers plus the caller.
 *
 * Protocol (all offsets in the control block, Int32 slots):
 *   GEN    job generation; the caller bumps it and notifies to start a job,
 *          sets it to EXIT to stop the workers
 *   DONE   workers finished with the current job (the caller waits for it)
 *   ERROR  1 + index of a worker whose call threw (0: none)
 *   READY  workers that have instantiated the module
 *   SLOTS  per worker: function id (−1: nothing to do) and up to MAX_ARGS i32 arguments
 * A worker blocks in Atomics.wait between jobs, so an idle pool uses no CPU,
 * and every worker is unref()'d: an idle pool never keeps Node running.
 *
 * The workers run a small JavaScript source passed with `eval: true` rather
 * than a file: it works the same from src/ under tsx or vitest, from dist/
 * and from a bundle, with no path to resolve.
 */
import { Worker } from 'node:worker_threads';
import type { WasmMemory, WasmModule } from './wasm-api.js';

export const MAX_ARGS = 24;
const GEN = 0;
const DONE = 1;
const ERROR = 2;
const READY = 3;
const SLOTS = 16;
const SLOT_INTS = 32;
const EXIT = -1;

/** Bytes of control block the pool needs for `workers` workers. */
export function controlBytes(workers: number): number {
  return (SLOTS + workers * SLOT_INTS) * 4;
}

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, ctrl, index, names } = workerData;
const c = new Int32Array(memory.buffer, ctrl, ${SLOTS} + (index + 1) * ${SLOT_INTS});
const slot = ${SLOTS} + index * ${SLOT_INTS};
const exp = new WebAssembly.Instance(module, { env: { memory } }).exports;
const fns = names.map((n) => exp[n]);
Atomics.add(c, ${READY}, 1);
Atomics.notify(c, ${READY});
let gen = 0;
for (;;) {
  Atomics.wait(c, ${GEN}, gen);
  gen = Atomics.load(c, ${GEN});
  if (gen === ${EXIT}) break;
  const fn = c[slot];
  if (fn >= 0) {
    try {
      const argc = c[slot + 1];
      const args = [];
      for (let i = 0; i < argc; i++) args.push(c[slot + 2 + i]);
      fns[fn](...args);
    } catch (e) {
      Atomics.store(c, ${ERROR}, index + 1);
    }
  }
  Atomics.add(c, ${DONE}, 1);
  Atomics.notify(c, ${DONE});
}
`;

/** One participant's share of a job: an export (by index) and its i32 arguments. */
export interface Task {
  fn: number;
  args: readonly number[];
}

/** How long a synchronous start waits for the workers to instantiate the module. */
const START_TIMEOUT_MS = 30_000;

export class WorkerPool {
  readonly workers: number;
  #ctl: Int32Array;
  #threads: Worker[] = [];
  #started = false;
  #destroyed = false;
  #module: WasmModule;
  #memory: WasmMemory;
  #ctrlOffset: number;
  #names: readonly string[];

  /**
   * @param workers  worker threads (the caller is one more participant)
   * @param ctrlOffset  byte offset of a zeroed control block of controlBytes(workers) bytes in `memory`
   * @param names  export names; a Task's `fn` indexes this list
   */
  constructor(module: WasmModule, memory: WasmMemory, ctrlOffset: number, workers: number, names: readonly string[]) {
    this.workers = workers;
    this.#module = module;
    this.#memory = memory;
    this.#ctrlOffset = ctrlOffset;
    this.#names = names;
    this.#ctl = new Int32Array(memory.buffer, ctrlOffset, controlBytes(workers) / 4);
  }

  get started(): boolean {
    return this.#started;
  }

  /**
   * Starts the workers if they are not running and waits (blocking) until
   * each has instantiated the module: ~20–60 ms, once.
   */
  start(): void {
    if (this.#started || this.workers === 0) return;
    if (this.#destroyed) throw new Error('wasm worker pool: used after destroy()');
    this.#started = true;
    for (let i = 0; i < this.workers; i++) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module: this.#module, memory: this.#memory, ctrl: this.#ctrlOffset, index: i, names: this.#names },
      });
      w.unref();
      w.on('error', () => Atomics.store(this.#ctl, ERROR, i + 1));
      this.#threads.push(w);
    }
    const t0 = Date.now();
    let ready: number;
    while ((ready = Atomics.load(this.#ctl, READY)) < this.workers) {
      if (Date.now() - t0 > START_TIMEOUT_MS) throw new Error(`wasm worker pool: only ${ready} of ${this.workers} workers started within ${START_TIMEOUT_MS} ms`);
      Atomics.wait(this.#ctl, READY, ready, 100);
    }
  }

  /**
   * Runs tasks[0] on the calling thread and tasks[1..] on workers 0.. at the
   * same time; returns when all are done. `call` runs a task on the caller.
   * tasks.length − 1 must not exceed the number of workers.
   */
  run(tasks: readonly Task[], call: (t: Task) => void): void {
    const n = tasks.length - 1;
    if (n > this.workers) throw new Error(`wasm worker pool: ${n} worker tasks for ${this.workers} workers`);
    if (n === 0) {
      call(tasks[0]);
      return;
    }
    this.start();
    const c = this.#ctl;
    for (let w = 0; w < this.workers; w++) {
      const slot = SLOTS + w * SLOT_INTS;
      const t = tasks[w + 1];
      if (t === undefined) {
        c[slot] = -1;
        continue;
      }
      if (t.args.length > MAX_ARGS) throw new Error(`wasm worker pool: ${t.args.length} arguments, at most ${MAX_ARGS}`);
      c[slot] = t.fn;
      c[slot + 1] = t.args.length;
      for (let i = 0; i < t.args.length; i++) c[slot + 2 + i] = t.args[i];
    }
    Atomics.store(c, DONE, 0);
    Atomics.store(c, ERROR, 0);
    const gen = (Atomics.load(c, GEN) + 1) & 0x3fffffff;
    Atomics.store(c, GEN, gen);
    Atomics.notify(c, GEN);
    let failure: unknown;
    try {
      call(tasks[0]);
    } catch (e) {
      failure = e;
    }
    // every worker acknowledges every generation (idle ones too), so the next job starts clean
    let done: number;
    while ((done = Atomics.load(c, DONE)) < this.workers) Atomics.wait(c, DONE, done);
    if (failure !== undefined) throw failure;
    const err = Atomics.load(c, ERROR);
    if (err !== 0) throw new Error(`wasm worker pool: worker ${err - 1} failed in ${this.#names[tasks[err]?.fn ?? 0]}`);
  }

  /** Stops the workers and waits for them to exit. Idempotent. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (!this.#started) return;
    Atomics.store(this.#ctl, GEN, EXIT);
    Atomics.notify(this.#ctl, GEN);
    await Promise.all(this.#threads.map((w) => new Promise<void>((resolve) => {
      // ref'd again so the event loop stays alive until the 'exit' event (an
      // unref'd worker would let Node end with this promise still pending)
      w.ref();
      // a worker that does not leave its loop by itself (it should) is stopped
      const timer = setTimeout(() => void w.terminate(), 1000);
      w.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    })));
    this.#threads = [];
  }
}
