/**
 * Two threads against one, for the phase-1 cases, on heap views (no copies):
 *
 *   npx tsx bench/wasm/scaling.bench.ts
 *
 * The calls alternate (one thread, two threads, one, …) so both see the same
 * interference from other jobs; the minimum of each is the least disturbed
 * time, the median what a busy machine gives. On a 2-core machine the second
 * thread only helps while no other process holds the second core: the load
 * average is printed with each row. Also prints the fixed cost of a split
 * (an empty job on both threads). Writes bench/wasm/results/scaling.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WasmRuntime } from '../../src/backends/wasm/runtime.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = 40;

interface Case {
  name: string;
  work: number;
  unit: 'GFLOP/s' | 'GB/s';
  run: (threads: number) => number;
  free: () => void;
}

function matmulCase(rt: WasmRuntime, M: number, K: number, N: number): Case {
  const a = rt.alloc(M * K);
  const b = rt.alloc(K * N);
  const c = rt.alloc(M * N);
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(i) * 2;
  for (let i = 0; i < b.length; i++) b[i] = Math.cos(i) * 2;
  return {
    name: `matmul ${M}×${K}×${N}`,
    work: 2 * M * K * N,
    unit: 'GFLOP/s',
    run: (threads) => rt.matmul(a, b, M, K, N, { out: c, threads })[7],
    free: () => [a, b, c].forEach((v) => rt.free(v)),
  };
}

function softmaxCase(rt: WasmRuntime, N: number, V: number): Case {
  const x = rt.alloc(N * V);
  const y = rt.alloc(N * V);
  // logits with 1 % masked entries, as in phase1.bench.ts
  for (let i = 0; i < x.length; i++) x[i] = i % 97 === 0 ? -Infinity : Math.sin(i) * 6;
  return {
    name: `softmax ${N}×${V}`,
    work: 2 * N * V * 4,
    unit: 'GB/s',
    run: (threads) => rt.softmax(x, N, V, { out: y, threads })[7],
    free: () => [x, y].forEach((v) => rt.free(v)),
  };
}

async function main(): Promise<void> {
  const rt = await WasmRuntime.create({ threads: 2 });
  const overheadUs = rt.measureSplitOverhead(500);
  console.log(`split overhead (empty job on 2 threads): ${overheadUs.toFixed(1)} µs`);
  const cases = [matmulCase(rt, 512, 512, 512), matmulCase(rt, 1024, 768, 3072), softmaxCase(rt, 1024, 4096), softmaxCase(rt, 64, 50304)];
  const rows = [];
  let sink = 0;
  for (const c of cases) {
    const load = os.loadavg()[0];
    const times: Record<number, number[]> = { 1: [], 2: [] };
    for (let i = 0; i < 3; i++) sink += c.run(1) + c.run(2);
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of [1, 2]) {
        const t0 = performance.now();
        sink += c.run(t);
        times[t].push(performance.now() - t0);
      }
    }
    const stat = (a: number[]) => {
      const s = a.slice().sort((p, q) => p - q);
      return { min: s[0], median: s[s.length >> 1] };
    };
    const one = stat(times[1]);
    const two = stat(times[2]);
    const rate = (ms: number) => c.work / (ms / 1e3) / 1e9;
    const row = { case: c.name, load, oneMinMs: one.min, oneMedianMs: one.median, twoMinMs: two.min, twoMedianMs: two.median, unit: c.unit, oneBest: rate(one.min), twoBest: rate(two.min) };
    rows.push(row);
    console.log(
      `${c.name.padEnd(22)} load ${load.toFixed(1)}  1T min ${one.min.toFixed(2)} med ${one.median.toFixed(2)} ms (${rate(one.min).toFixed(1)} ${c.unit})  ` +
        `2T min ${two.min.toFixed(2)} med ${two.median.toFixed(2)} ms (${rate(two.min).toFixed(1)} ${c.unit})  speed-up ${(one.min / two.min).toFixed(2)}×`,
    );
    c.free();
  }
  await rt.destroy();
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'scaling.json'), JSON.stringify({ date: new Date().toISOString(), cpus: `${os.cpus()[0]?.model?.trim()} × ${os.cpus().length}`, overheadUs, rows }, null, 2));
  if (sink === 42.4242) console.log('');
}

await main();
