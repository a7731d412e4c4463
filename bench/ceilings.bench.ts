/**
 * The machine's memory-bandwidth ceiling, measured in the same run as the
 * kernels (the compute ceiling is the best matmul of the run; report.ts takes
 * it from the kernel results).
 *
 *   copy, 1 thread    Float32Array.prototype.set of 64 MiB into another 64 MiB array
 *   copy, 2 threads   the same split over two worker_threads on halves of a
 *                     SharedArrayBuffer, started together; wall time of the slower
 *   wasm memory.copy  a 64 MiB bulk-memory copy inside one WebAssembly memory
 *                     (a hand-assembled 3-instruction module), 1 thread
 * GB/s counts bytes read + bytes written (2 × 64 MiB per copy), the same
 * convention as the kernels' figures. 64 MiB is far beyond the caches.
 *
 *   npx tsx bench/ceilings.bench.ts [--out bench/results/raw/ceilings.json] [--mode quick|full]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { timeSuite } from './lib/harness.js';
import { type CeilingResult, toJson } from './lib/results.js';

const BYTES = 64 * 1024 * 1024;
const N = BYTES / 4;

interface WasmApi {
  Memory: new (d: { initial: number; maximum?: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * (module (import "e" "m" (memory 2048))
 *   (func (export "copy") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy))
 */
const COPY_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type: (i32 i32 i32) -> ()
  0x02, 0x09, 0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x00, 0x80, 0x10, // import "e" "m" memory min 2048
  0x03, 0x02, 0x01, 0x00, // func 0 has type 0
  0x07, 0x08, 0x01, 0x04, 0x63, 0x6f, 0x70, 0x79, 0x00, 0x00, // export "copy" func 0
  0x0a, 0x0e, 0x01, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0a, 0x00, 0x00, 0x0b, // body
]);

const WORKER_SRC = `
const { parentPort, workerData } = require('node:worker_threads');
const src = new Float32Array(workerData.src, workerData.off * 4, workerData.n);
const dst = new Float32Array(workerData.dst, workerData.off * 4, workerData.n);
parentPort.on('message', (m) => {
  if (m === 'stop') { parentPort.close(); return; }
  dst.set(src);
  parentPort.postMessage(dst[workerData.n >> 1]);
});
`;

export async function measureCeilings(mode: 'quick' | 'full'): Promise<CeilingResult[]> {
  const opts = mode === 'quick' ? { minSamples: 8, maxTime: 0.5 } : { minSamples: 20, maxTime: 3 };
  const src = new Float32Array(N);
  for (let i = 0; i < N; i++) src[i] = i;
  const dst = new Float32Array(N);

  const mem = new WA.Memory({ initial: 2048 });
  const inst = new WA.Instance(new WA.Module(COPY_MODULE), { e: { m: mem } });
  const wasmCopy = inst.exports.copy as (d: number, s: number, n: number) => void;
  new Float32Array(mem.buffer, 0, N).set(src);
  wasmCopy(BYTES, 0, BYTES);
  if (new Float32Array(mem.buffer, BYTES, N)[N - 1] !== N - 1) throw new Error('ceilings: wasm memory.copy check failed');

  const sSrc = new SharedArrayBuffer(BYTES);
  const sDst = new SharedArrayBuffer(BYTES);
  new Float32Array(sSrc).set(src);
  const half = N / 2;
  const workers = [0, 1].map((w) => new Worker(WORKER_SRC, { eval: true, workerData: { src: sSrc, dst: sDst, off: w * half, n: half } }));
  const roundTrip = () => Promise.all(workers.map((w) => new Promise<unknown>((res) => (w.once('message', res), w.postMessage('go')))));
  await roundTrip();

  const { timings } = await timeSuite(
    'ceilings: memory copy',
    [
      { name: 'copy 1 thread', fn: async () => void dst.set(src) },
      { name: 'copy 2 threads', fn: async () => void (await roundTrip()) },
      { name: 'wasm memory.copy', fn: async () => wasmCopy(BYTES, 0, BYTES) },
    ],
    opts,
  );
  for (const w of workers) w.postMessage('stop');
  if (dst[N - 1] !== N - 1) throw new Error('ceilings: copy check failed');
  const gbps = (ms: number) => (2 * BYTES) / (ms / 1000) / 1e9;
  return [
    { name: 'copy 1 thread', gbps: gbps(timings['copy 1 thread'].medianMs), threads: 1, detail: 'Float32Array.set, 64 MiB → 64 MiB' },
    { name: 'copy 2 threads', gbps: gbps(timings['copy 2 threads'].medianMs), threads: 2, detail: 'two worker_threads, 32 MiB each, SharedArrayBuffer' },
    { name: 'wasm memory.copy', gbps: gbps(timings['wasm memory.copy'].medianMs), threads: 1, detail: 'bulk-memory memory.copy, 64 MiB' },
  ];
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--out');
  const out = i >= 0 ? process.argv[i + 1] : path.join('bench', 'results', 'raw', 'ceilings.json');
  const m = process.argv.indexOf('--mode');
  const mode = m >= 0 && process.argv[m + 1] === 'full' ? 'full' : 'quick';
  const res = await measureCeilings(mode);
  for (const r of res) console.log(`  ${r.name.padEnd(20)} ${r.gbps.toFixed(1).padStart(6)} GB/s  (${r.detail})`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, toJson(res));
}

if (process.argv[1] && path.resolve(process.argv[1]).endsWith(path.join('bench', 'ceilings.bench.ts'))) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
