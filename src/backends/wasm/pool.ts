/**
 * A pool of worker threads that run exports of the kernels module on one
 * shared WebAssembly.Memory, synchronised with Atomics on a control block in
 * that memory. The calling thread takes part in every job.
 *
 * A job is a list of independent tasks (an export and its i32 arguments,
 * typically one range of rows each). Tasks are claimed, not assigned: the
 * caller and every awake worker take the next unclaimed task from a shared
 * counter until none is left, and the caller returns once every task has
 * completed. A worker that the operating system has not yet scheduled (on a
 * 2-core machine shared with other jobs a woken thread can wait a whole time
 * slice) therefore never holds the caller up: the caller runs the tasks
 * itself and the late worker, when it wakes, finds nothing left. Results do
 * not depend on who runs a task (each output element is computed by the same
 * operations whatever the split), so they are the same bits either way.
 *
 * Protocol (Int32 slots of the control block):
 *   GEN    job generation; the caller bumps it and notifies to start a job,
 *          sets it to EXIT to stop the workers
 *   NEXT   (generation mod 2^15) << 16 | index of the next unclaimed task;
 *          a claim is a compare-and-swap on it, so a claim made for an older
 *          job fails (its generation tag no longer matches)
 *   NTASK  tasks in the current job
 *   DONE   tasks completed (the caller waits for DONE = NTASK)
 *   ERROR  1 + index of the first task that threw in a worker (0: none)
 *   READY  workers that have instantiated the module
 *   TASKS  MAX_TASKS descriptors: function id, argument count, MAX_ARGS arguments
 * A claimed task cannot complete the job without running, so its arguments
 * stay valid while its claimant reads them. A worker blocks in Atomics.wait
 * between jobs, so an idle pool uses no CPU, and every worker is unref()'d: an
 * idle pool never keeps Node running.
 *
 * The workers run a small JavaScript source passed with `eval: true` rather
 * than a file: it works the same from src/ under tsx or vitest, from dist/
 * and from a bundle, with no path to resolve.
 */
import { Worker } from 'node:worker_threads';
import type { WasmMemory, WasmModule } from './wasm-api.js';

export const MAX_ARGS = 24;
/** Tasks per job. */
export const MAX_TASKS = 64;
const GEN = 0;
const NEXT = 1;
const NTASK = 2;
const DONE = 3;
const ERROR = 4;
const READY = 5;
const TASKS = 16;
const TASK_INTS = 2 + MAX_ARGS;
const EXIT = -1;

/** Bytes of control block the pool needs (independent of the worker count). */
export function controlBytes(_workers: number): number {
  return (TASKS + MAX_TASKS * TASK_INTS) * 4;
}

/**
 * Claims and runs tasks of generation `gen` until none is left; returns the
 * number run. Shared by the workers (as source text) and the caller.
 */
const CLAIM_LOOP = `
function runTasks(c, gen, call) {
  const tag = (gen & 0x7fff) << 16;
  let ran = 0;
  for (;;) {
    const v = Atomics.load(c, ${NEXT});
    if ((v & 0x7fff0000) !== tag) return ran;
    const i = v & 0xffff;
    if (i >= Atomics.load(c, ${NTASK})) return ran;
    if (Atomics.compareExchange(c, ${NEXT}, v, v + 1) !== v) continue;
    const at = ${TASKS} + i * ${TASK_INTS};
    try {
      call(c[at], c, at + 2, c[at + 1], i);
    } catch (e) {
      Atomics.compareExchange(c, ${ERROR}, 0, i + 1);
    }
    ran++;
    Atomics.add(c, ${DONE}, 1);
    Atomics.notify(c, ${DONE});
  }
}
`;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, ctrl, names } = workerData;
const c = new Int32Array(memory.buffer, ctrl, ${TASKS} + ${MAX_TASKS} * ${TASK_INTS});
const exp = new WebAssembly.Instance(module, { env: { memory } }).exports;
const fns = names.map((n) => exp[n]);
${CLAIM_LOOP}
const args = [];
function call(fn, c, at, argc) {
  args.length = argc;
  for (let k = 0; k < argc; k++) args[k] = c[at + k];
  fns[fn](...args);
}
Atomics.add(c, ${READY}, 1);
Atomics.notify(c, ${READY});
let gen = 0;
for (;;) {
  Atomics.wait(c, ${GEN}, gen);
  gen = Atomics.load(c, ${GEN});
  if (gen === ${EXIT}) break;
  runTasks(c, gen, call);
}
`;

// the caller's copy of the claim loop, compiled from the same text as the workers'
const runTasks = new Function(`${CLAIM_LOOP}; return runTasks;`)() as (
  c: Int32Array,
  gen: number,
  call: (fn: number, c: Int32Array, at: number, argc: number, index: number) => void,
) => number;

/** One task of a job: an export (by index) and its i32 arguments. */
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
  #gen = 0;
  /** Tasks of the last job that the caller ran itself (the rest ran on workers). */
  lastRunByCaller = 0;

  /**
   * @param workers  worker threads (the caller is one more participant)
   * @param ctrlOffset  byte offset of a zeroed control block of controlBytes() bytes in `memory`
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
        workerData: { module: this.#module, memory: this.#memory, ctrl: this.#ctrlOffset, names: this.#names },
      });
      w.unref();
      w.on('error', () => Atomics.store(this.#ctl, ERROR, -1));
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
   * Runs the tasks on the calling thread and on whichever workers wake in
   * time; returns when all are done. `call` runs a task on the caller. A
   * single task, or a pool without workers, runs on the caller directly.
   */
  run(tasks: readonly Task[], call: (t: Task) => void): void {
    if (tasks.length > MAX_TASKS) throw new Error(`wasm worker pool: ${tasks.length} tasks, at most ${MAX_TASKS}`);
    if (tasks.length <= 1 || this.workers === 0) {
      for (const t of tasks) call(t);
      this.lastRunByCaller = tasks.length;
      return;
    }
    this.start();
    const c = this.#ctl;
    for (let i = 0; i < tasks.length; i++) {
      const t = tasks[i];
      if (t.args.length > MAX_ARGS) throw new Error(`wasm worker pool: ${t.args.length} arguments, at most ${MAX_ARGS}`);
      const at = TASKS + i * TASK_INTS;
      c[at] = t.fn;
      c[at + 1] = t.args.length;
      for (let k = 0; k < t.args.length; k++) c[at + 2 + k] = t.args[k];
    }
    const gen = (this.#gen = (this.#gen + 1) & 0x3fffffff);
    Atomics.store(c, NTASK, tasks.length);
    Atomics.store(c, DONE, 0);
    Atomics.store(c, ERROR, 0);
    Atomics.store(c, NEXT, (gen & 0x7fff) << 16);
    Atomics.store(c, GEN, gen);
    Atomics.notify(c, GEN);
    let failure: unknown;
    let ran = 0;
    try {
      ran = runTasks(c, gen, (_fn, _c, _at, _argc, i) => {
        try {
          call(tasks[i]);
        } catch (e) {
          failure ??= e;
        }
      });
    } finally {
      // every claimed task completes (a worker's failure is recorded, not thrown)
      let done: number;
      while ((done = Atomics.load(c, DONE)) < tasks.length) Atomics.wait(c, DONE, done);
    }
    this.lastRunByCaller = ran;
    if (failure !== undefined) throw failure;
    const err = Atomics.load(c, ERROR);
    if (err > 0) throw new Error(`wasm worker pool: a worker failed in ${this.#names[tasks[err - 1]?.fn ?? 0]}`);
    if (err < 0) throw new Error('wasm worker pool: a worker thread died');
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
