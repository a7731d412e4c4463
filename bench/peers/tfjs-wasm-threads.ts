/**
 * Can @tensorflow/tfjs-backend-wasm use threads in Node? (Its own answer is no.)
 *
 * tfjs-wasm 4.22 decides between its SIMD build and its threaded-SIMD build
 * with the flag WASM_HAS_MULTITHREAD_SUPPORT, which flags_wasm.ts hard-wires
 * to false when IS_NODE ("Enable node support once this is resolved:
 * tfjs issue #3830"), so setThreadsCount(2) changes nothing and
 * getThreadsCount() reports 1. This probe forces the flag on and makes the
 * threaded build loadable in Node: Emscripten's pthread workers are created
 * from Blob URLs, which Node's Worker refuses, so Blob contents are written to
 * temporary files and the worker script gets the few globals the bundle's
 * factory expects (require$$0…, commonjsGlobal). It then reports what the
 * backend says and whether any pthread runs, and times a 512³ matMul with the
 * process's CPU time / wall time (≈2 when two threads work).
 *
 *   npx tsx bench/peers/tfjs-wasm-threads.ts   → JSON on stdout
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

interface PThreadLike {
  runningWorkers: unknown[];
  unusedWorkers: unknown[];
}

export interface ThreadsProbe {
  flagInNode: boolean;
  forcedBuild: string;
  threadsRequested: number;
  threadsReported?: number;
  pthreadWorkersAllocated?: number;
  pthreadWorkersRunning?: number;
  matmul512Ms?: number;
  cpuPerWall?: number;
  error?: string;
  conclusion: string;
}

async function probe(): Promise<ThreadsProbe> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tfjs-wasm-threads-'));
  const mainScript = path.join(dir, 'main.js');
  const NativeBlob = globalThis.Blob;
  class CapturingBlob extends NativeBlob {
    readonly text_: string;
    constructor(parts: ConstructorParameters<typeof Blob>[0], options?: ConstructorParameters<typeof Blob>[1]) {
      super(parts, options);
      this.text_ = (parts ?? []).map(String).join('');
      if (this.text_.startsWith('var WasmBackendModuleThreadedSimd')) writeFileSync(mainScript, this.text_);
    }
  }
  globalThis.Blob = CapturingBlob as unknown as typeof Blob;
  const nativeCreate = URL.createObjectURL.bind(URL);
  let n = 0;
  URL.createObjectURL = (blob: Blob) => {
    if (blob instanceof CapturingBlob) {
      const file = path.join(dir, `worker${n++}.js`);
      const shim =
        `globalThis.__filename = ${JSON.stringify(mainScript)}; globalThis.__dirname = ${JSON.stringify(dir)};` +
        `URL.createObjectURL = () => ${JSON.stringify(mainScript)}; URL.revokeObjectURL = () => {};` +
        `globalThis.require$$0 = require('fs'); globalThis.require$$1 = require('path'); globalThis.require$$3 = require('perf_hooks'); globalThis.require$$4 = require('os');` +
        `globalThis.commonjsGlobal = globalThis;\n`;
      writeFileSync(file, shim + blob.text_);
      return file;
    }
    return nativeCreate(blob);
  };
  const tf = await import('@tensorflow/tfjs-core');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep);
  const flagInNode = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(2);
  const result: ThreadsProbe = { flagInNode, forcedBuild: 'tfjs-backend-wasm-threaded-simd.wasm', threadsRequested: 2, conclusion: '' };
  try {
    await tf.setBackend('wasm');
    await tf.ready();
    const backend = tf.backend() as unknown as { wasm: { PThread?: PThreadLike } };
    result.threadsReported = wasm.getThreadsCount();
    result.pthreadWorkersAllocated = (backend.wasm.PThread?.unusedWorkers.length ?? 0) + (backend.wasm.PThread?.runningWorkers.length ?? 0);
    result.pthreadWorkersRunning = backend.wasm.PThread?.runningWorkers.length ?? 0;
    const a = tf.randomNormal([512, 512]);
    const b = tf.randomNormal([512, 512]);
    for (let i = 0; i < 3; i++) tf.dispose(tf.matMul(a, b));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const reps = 10;
    for (let i = 0; i < reps; i++) tf.dispose(tf.matMul(a, b));
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    result.matmul512Ms = wall / reps;
    result.cpuPerWall = (cpu.user + cpu.system) / 1000 / wall;
    result.conclusion =
      (result.threadsReported ?? 1) > 1 && (result.pthreadWorkersRunning ?? 0) > 0
        ? 'the threaded build runs with more than one thread when forced'
        : `forcing the threaded build loads it (${result.pthreadWorkersAllocated} pthread workers allocated) but its thread pool reports ${result.threadsReported} thread and no pthread runs: tfjs-wasm computes on one thread in Node`;
  } catch (e) {
    result.error = (e as Error).message;
    result.conclusion = `the threaded build does not initialise in Node: ${(e as Error).message}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

if (process.argv[1] && path.resolve(process.argv[1]).endsWith(path.join('peers', 'tfjs-wasm-threads.ts'))) {
  probe()
    .then((r) => process.stdout.write(JSON.stringify(r) + '\n'))
    .catch((e) => {
      process.stdout.write(JSON.stringify({ error: (e as Error).message, conclusion: 'probe failed' }) + '\n');
    })
    .finally(() => setTimeout(() => process.exit(0), 50).unref());
}
