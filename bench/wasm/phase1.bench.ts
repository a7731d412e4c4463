/**
 * Phase 1 of the wasm backend against its peers: matmul 512³ and
 * (1024×768)·(768×3072), softmax (1024, 4096) and (64, 50304).
 *
 *   npx tsx bench/wasm/phase1.bench.ts           # full run (a few minutes), writes RESULTS-phase1.md
 *   npx tsx bench/wasm/phase1.bench.ts --quick   # shorter sampling, same cases
 *
 * Implementations per case:
 *   wasm 2T / 1T      WasmRuntime (src/backends/wasm/runtime.ts) with 2 threads or 1
 *     resident        operands and result in heap views (alloc()): no copies
 *     copy            plain Float32Arrays in, a fresh Float32Array out (copies counted)
 *   tfjs-wasm 1T      @tensorflow/tfjs-backend-wasm 4.22, SIMD build; in Node it runs
 *                     single-threaded (WASM_HAS_MULTITHREAD_SUPPORT is false under Node and
 *                     forcing it makes the backend fail to initialise: measured, see NOTES.md)
 *     resident        tensors already in the backend, the op and dispose (result not read)
 *     +read           the op and dataSync() of its result
 *   tfjs-cpu          @tensorflow/tfjs-backend-cpu (JavaScript), op + dataSync()
 *   ts loop           a plain TypeScript loop over Float32Array (i-k-j matmul; 3-pass softmax)
 *
 * Every implementation's result is first checked against a float64 reference
 * within a bound (ours: the bounds its tests enforce; peers: the
 * order-independent γ(K + 1)·Σ|a b| for matmul, the shared softmax bound with
 * the loose GPU-spec error model for softmax); a failure is reported in the
 * table and the case is still timed. Inputs carry outliers. Each timed call's
 * result is consumed (a checksum element is read) so nothing is optimised away.
 *
 * Throughput: matmul 2·M·K·N FLOP; softmax bytes read + written once,
 * 2·N·V·4 B. The ceilings beside them are measured in the same run: a 64 MiB
 * Float32Array copy (read + write) for bandwidth, and our best matmul as the
 * attainable compute rate.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import b from 'benny';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { WASM_SIMD_MODEL, wasmGemmDepth } from '../../src/backends/wasm/error-model.js';
import { WasmRuntime } from '../../src/backends/wasm/runtime.js';
import { GPU_SPEC_MODEL, gamma, F32_U } from '../../src/kernels/bounds.js';
import { softmaxBound, softmaxRef } from '../../src/kernels/softmax.js';
import { Rng } from '../../src/random.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const RESULTS_DIR = join(here, 'results');

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/** N(0, 1) with 0.1 % outliers of ±1000 and 0.5 % exact zeros. */
function matrixValues(seed: number, n: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = rng.uniform();
    x[i] = p < 0.001 ? (rng.uniform() < 0.5 ? -1000 : 1000) : p < 0.006 ? 0 : rng.normal();
  }
  return x;
}

/** Logits N(0, 3²) with outliers: 0.1 % at +40, 1 % masked (−Inf), 0.1 % at −1e4. */
function logitValues(seed: number, n: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = rng.uniform();
    x[i] = p < 0.001 ? 40 : p < 0.011 ? -Infinity : p < 0.012 ? -1e4 : 3 * rng.normal();
  }
  return x;
}

// ---------------------------------------------------------------------------
// References and checks
// ---------------------------------------------------------------------------

/** c = a·b in float64 and Σ_k |a_ik b_kj| per element (i-k-j order). */
function matmulRef64(a: Float32Array, bm: Float32Array, M: number, K: number, N: number): { c: Float64Array; s: Float64Array } {
  const c = new Float64Array(M * N);
  const s = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const aik = a[i * K + k];
      const ab = Math.abs(aik);
      const row = k * N;
      const out = i * N;
      for (let j = 0; j < N; j++) {
        c[out + j] += aik * bm[row + j];
        s[out + j] += ab * Math.abs(bm[row + j]);
      }
    }
  }
  return { c, s };
}

/** Largest |got − ref|/allowed; > 1 fails. NaN must match NaN. */
function worstRatio(got: ArrayLike<number>, ref: Float64Array, allowed: (i: number) => number): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const g = got[i];
    if (Number.isNaN(r) || Number.isNaN(g)) {
      if (Number.isNaN(r) !== Number.isNaN(g)) return Infinity;
      continue;
    }
    if (!Number.isFinite(r) || !Number.isFinite(g)) {
      if (r !== g) return Infinity;
      continue;
    }
    const e = Math.abs(g - r);
    if (e === 0) continue;
    worst = Math.max(worst, e / allowed(i));
  }
  return worst;
}

// ---------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------

async function useTf(backend: 'wasm' | 'cpu'): Promise<void> {
  await tf.setBackend(backend);
  await tf.ready();
}

/** A plain TypeScript matmul, i-k-j order (the inner loop streams rows of b and c). */
function tsMatmul(a: Float32Array, bm: Float32Array, M: number, K: number, N: number): Float32Array {
  const c = new Float32Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const aik = a[i * K + k];
      const row = k * N;
      const out = i * N;
      for (let j = 0; j < N; j++) c[out + j] += aik * bm[row + j];
    }
  }
  return c;
}

/** A plain TypeScript softmax: max, Σ exp, scale (three passes per row). */
function tsSoftmax(x: Float32Array, N: number, V: number): Float32Array {
  const y = new Float32Array(N * V);
  for (let r = 0; r < N; r++) {
    const o = r * V;
    let m = -Infinity;
    let nan = false;
    for (let j = 0; j < V; j++) {
      const v = x[o + j];
      if (v !== v) nan = true;
      else if (v > m) m = v;
    }
    if (nan || !Number.isFinite(m)) {
      y.fill(NaN, o, o + V);
      continue;
    }
    let s = 0;
    for (let j = 0; j < V; j++) {
      const e = Math.exp(x[o + j] - m);
      y[o + j] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let j = 0; j < V; j++) y[o + j] *= inv;
  }
  return y;
}

// ---------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------

interface Impl {
  name: string;
  /** Peers are what the ratio is taken against. */
  peer: boolean;
  /** Runs once and returns the result for validation. */
  result: () => Promise<ArrayLike<number>> | ArrayLike<number>;
  /** The timed body; returns a value that is consumed. */
  run: () => number;
  setup?: () => Promise<void>;
  /** Slow implementations get fewer samples. */
  slow?: boolean;
}

interface Row {
  kase: string;
  impl: string;
  peer: boolean;
  valid: string;
  medianMs: number;
  minMs: number;
  rme: number;
  samples: number;
  throughput: number;
  unit: string;
  /** 1-minute load average when the case started: other jobs on the machine. */
  load: number;
  /** Minimum time in the interleaved rounds (fast implementations only). */
  interleavedMs?: number;
}

let sink = 0;

async function timeCase(kase: string, impls: Impl[], work: number, unit: 'GFLOP/s' | 'GB/s', check: (got: ArrayLike<number>, impl: Impl) => number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const im of impls) {
    const load = os.loadavg()[0];
    await im.setup?.();
    const ratio = check(await im.result(), im);
    const valid = ratio <= 1 ? `ok (${ratio.toExponential(1)} of bound)` : `FAILED (${ratio === Infinity ? 'non-finite mismatch' : `${ratio.toExponential(2)}× bound`})`;
    let summary: Awaited<ReturnType<typeof b.suite>> | undefined;
    const options = quick ? { minSamples: im.slow ? 1 : 5, maxTime: im.slow ? 0.1 : 1 } : { minSamples: im.slow ? 2 : 10, maxTime: im.slow ? 1 : 4 };
    summary = await b.suite(
      `${kase} — ${im.name}`,
      b.add(im.name, () => {
        sink += im.run();
      }, options),
      b.cycle(() => undefined),
      b.save({ folder: RESULTS_DIR, file: `${kase} ${im.name}`.replace(/[^\w.-]+/g, '_'), format: 'json', details: true }),
    );
    const r = summary.results[0];
    const medianMs = r.details.median * 1e3;
    const row: Row = {
      kase,
      impl: im.name,
      peer: im.peer,
      valid,
      medianMs,
      minMs: r.details.min * 1e3,
      rme: r.details.relativeMarginOfError,
      samples: r.samples,
      throughput: work / (medianMs / 1e3) / 1e9,
      unit,
      load,
    };
    console.log(`${kase.padEnd(26)} ${im.name.padEnd(26)} median ${medianMs.toFixed(2).padStart(9)} ms  min ${row.minMs.toFixed(2).padStart(9)} ms  ±${row.rme.toFixed(1)}%  ${row.throughput.toFixed(2)} ${unit}  ${valid}`);
    rows.push(row);
  }
  return rows;
}

/**
 * Interleaved timing: the fast implementations are called in turn, one call
 * each per round, and each keeps its minimum. Every implementation sees the
 * same interference from other jobs, so the ratios hold on a busy machine
 * where benny's back-to-back suites do not.
 */
async function interleaved(impls: Impl[], rows: Row[], rounds: number, setup?: () => Promise<void>): Promise<void> {
  await setup?.();
  const best = impls.map(() => Infinity);
  for (let r = 0; r < rounds; r++) {
    impls.forEach((im, i) => {
      const t0 = performance.now();
      sink += im.run();
      best[i] = Math.min(best[i], performance.now() - t0);
    });
  }
  impls.forEach((im, i) => {
    const row = rows.find((x) => x.impl === im.name);
    if (row) row.interleavedMs = best[i];
    console.log(`  interleaved min ${im.name.padEnd(26)} ${best[i].toFixed(2)} ms`);
  });
}

// ---------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------

async function matmulCase(rt: WasmRuntime, M: number, K: number, N: number): Promise<Row[]> {
  const kase = `matmul ${M}×${K}×${N}`;
  const a = matrixValues(M * 7 + K, M * K);
  const bm = matrixValues(N * 13 + K, K * N);
  const ref = matmulRef64(a, bm, M, K, N);
  const ra = rt.alloc(M * K);
  const rb = rt.alloc(K * N);
  const rc = rt.alloc(M * N);
  ra.set(a);
  rb.set(bm);
  // ours: the bound its tests enforce; peers: any summation order of K products, γ(K + 1)
  const ours = gamma(wasmGemmDepth(K, false), WASM_SIMD_MODEL.u);
  const any = gamma(K + 1, F32_U);
  const check = (got: ArrayLike<number>, im: Impl) => worstRatio(got, ref.c, (i) => 1.01 * (im.peer ? any : ours) * ref.s[i] + (K + 2) * 2 ** -149);
  let ta: tf.Tensor | undefined;
  let tb: tf.Tensor | undefined;
  const tfSetup = (backend: 'wasm' | 'cpu') => async () => {
    ta?.dispose();
    tb?.dispose();
    await useTf(backend);
    ta = tf.tensor2d(a, [M, K]);
    tb = tf.tensor2d(bm, [K, N]);
  };
  const impls: Impl[] = [
    { name: 'wasm 2T resident', peer: false, result: () => rt.matmul(ra, rb, M, K, N, { out: rc }), run: () => rt.matmul(ra, rb, M, K, N, { out: rc })[7] },
    { name: 'wasm 2T copy', peer: false, result: () => rt.matmul(a, bm, M, K, N), run: () => rt.matmul(a, bm, M, K, N)[7] },
    { name: 'wasm 1T resident', peer: false, result: () => rt.matmul(ra, rb, M, K, N, { out: rc, threads: 1 }), run: () => rt.matmul(ra, rb, M, K, N, { out: rc, threads: 1 })[7] },
    {
      name: 'tfjs-wasm 1T resident',
      peer: true,
      setup: tfSetup('wasm'),
      result: () => tf.matMul(ta!, tb!).dataSync(),
      run: () => {
        const c = tf.matMul(ta!, tb!);
        c.dispose();
        return c.size;
      },
    },
    {
      name: 'tfjs-wasm 1T +read',
      peer: true,
      result: () => tf.matMul(ta!, tb!).dataSync(),
      run: () => {
        const c = tf.matMul(ta!, tb!);
        const v = c.dataSync()[7];
        c.dispose();
        return v;
      },
    },
    {
      name: 'tfjs-cpu +read',
      peer: true,
      slow: true,
      setup: tfSetup('cpu'),
      result: () => tf.matMul(ta!, tb!).dataSync(),
      run: () => {
        const c = tf.matMul(ta!, tb!);
        const v = c.dataSync()[7];
        c.dispose();
        return v;
      },
    },
    { name: 'ts loop', peer: true, slow: true, result: () => tsMatmul(a, bm, M, K, N), run: () => tsMatmul(a, bm, M, K, N)[7] },
  ];
  const rows = await timeCase(kase, impls, 2 * M * K * N, 'GFLOP/s', check);
  await interleaved(impls.filter((im) => !im.slow && !im.name.startsWith('tfjs-cpu')), rows, quick ? 5 : 20, tfSetup('wasm'));
  ta?.dispose();
  tb?.dispose();
  for (const v of [ra, rb, rc]) rt.free(v);
  return rows;
}

async function softmaxCase(rt: WasmRuntime, N: number, V: number): Promise<Row[]> {
  const kase = `softmax ${N}×${V}`;
  const x = logitValues(N + V, N * V);
  const x64 = Float64Array.from(x);
  const ref = softmaxRef(x64, N, V);
  const boundOurs = softmaxBound(WASM_SIMD_MODEL, x64, N, V, ref).allowed;
  const boundPeer = softmaxBound(GPU_SPEC_MODEL, x64, N, V, ref).allowed;
  const check = (got: ArrayLike<number>, im: Impl) => worstRatio(got, ref, (i) => (im.peer ? boundPeer : boundOurs)[i]);
  const rx = rt.alloc(N * V);
  const ry = rt.alloc(N * V);
  rx.set(x);
  let tx: tf.Tensor | undefined;
  const tfSetup = (backend: 'wasm' | 'cpu') => async () => {
    tx?.dispose();
    await useTf(backend);
    tx = tf.tensor2d(x, [N, V]);
  };
  const impls: Impl[] = [
    { name: 'wasm 2T resident', peer: false, result: () => rt.softmax(rx, N, V, { out: ry }), run: () => rt.softmax(rx, N, V, { out: ry })[7] },
    { name: 'wasm 2T copy', peer: false, result: () => rt.softmax(x, N, V), run: () => rt.softmax(x, N, V)[7] },
    { name: 'wasm 1T resident', peer: false, result: () => rt.softmax(rx, N, V, { out: ry, threads: 1 }), run: () => rt.softmax(rx, N, V, { out: ry, threads: 1 })[7] },
    {
      name: 'tfjs-wasm 1T resident',
      peer: true,
      setup: tfSetup('wasm'),
      result: () => tf.softmax(tx!).dataSync(),
      run: () => {
        const y = tf.softmax(tx!);
        y.dispose();
        return y.size;
      },
    },
    {
      name: 'tfjs-wasm 1T +read',
      peer: true,
      result: () => tf.softmax(tx!).dataSync(),
      run: () => {
        const y = tf.softmax(tx!);
        const v = y.dataSync()[7];
        y.dispose();
        return v;
      },
    },
    {
      name: 'tfjs-cpu +read',
      peer: true,
      setup: tfSetup('cpu'),
      result: () => tf.softmax(tx!).dataSync(),
      run: () => {
        const y = tf.softmax(tx!);
        const v = y.dataSync()[7];
        y.dispose();
        return v;
      },
    },
    { name: 'ts loop', peer: true, result: () => tsSoftmax(x, N, V), run: () => tsSoftmax(x, N, V)[7] },
  ];
  const rows = await timeCase(kase, impls, 2 * N * V * 4, 'GB/s', check);
  await interleaved(impls.filter((im) => im.name.startsWith('wasm') || im.name.startsWith('tfjs-wasm')), rows, quick ? 10 : 40, tfSetup('wasm'));
  tx?.dispose();
  rt.free(rx);
  rt.free(ry);
  return rows;
}

/** Memory bandwidth of this run: a 64 MiB Float32Array copy, bytes read + written. */
function copyBandwidth(): number {
  const n = 1 << 24;
  const src = new Float32Array(n).fill(1);
  const dst = new Float32Array(n);
  let best = Infinity;
  for (let r = 0; r < 20; r++) {
    const t0 = performance.now();
    dst.set(src);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * n * 4) / (best / 1e3) / 1e9;
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

function report(rows: Row[], copyGBs: number, seconds: number, loadAtStart: number[]): string {
  const cpus = os.cpus();
  const cases = [...new Set(rows.map((r) => r.kase))];
  const peakGflops = Math.max(...rows.filter((r) => r.unit === 'GFLOP/s').map((r) => r.throughput));
  const lines: string[] = [];
  for (const kase of cases) {
    const rs = rows.filter((r) => r.kase === kase);
    const bestPeer = rs.filter((r) => r.peer && r.valid.startsWith('ok')).sort((x, y) => x.medianMs - y.medianMs)[0];
    const bestPeerI = rs.filter((r) => r.peer && r.valid.startsWith('ok') && r.interleavedMs !== undefined).sort((x, y) => x.interleavedMs! - y.interleavedMs!)[0];
    for (const r of rs) {
      const ratio = bestPeer ? (bestPeer.medianMs / r.medianMs).toFixed(2) + '×' : '—';
      const ceiling = r.unit === 'GB/s' ? `${((100 * r.throughput) / copyGBs).toFixed(0)} % of copy` : `${((100 * r.throughput) / peakGflops).toFixed(0)} % of best`;
      const best = (r.throughput * r.medianMs) / r.minMs;
      const inter = r.interleavedMs !== undefined ? `${r.interleavedMs.toFixed(2)}${bestPeerI ? ` (${(bestPeerI.interleavedMs! / r.interleavedMs).toFixed(2)}×)` : ''}` : '—';
      lines.push(`| ${kase} | ${r.impl} | ${r.medianMs.toFixed(2)} | ${r.minMs.toFixed(2)} | ±${r.rme.toFixed(1)} % (${r.samples}) | ${r.throughput.toFixed(2)} (${best.toFixed(2)}) ${r.unit} | ${ratio} | ${inter} | ${ceiling} | ${r.load.toFixed(1)} | ${r.valid} |`);
    }
  }
  return `# wasm backend, phase 1: benchmark results

Generated by \`npx tsx bench/wasm/phase1.bench.ts${quick ? ' --quick' : ''}\` in ${seconds.toFixed(0)} s on ${new Date().toISOString().slice(0, 10)}.

Machine: ${cpus[0]?.model?.trim()} × ${cpus.length} cores (${os.arch()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB), Node ${process.version}, load average (1, 5, 15 min) at start ${loadAtStart.map((l) => l.toFixed(1)).join(' ')}.
Measured ceilings in this run: memory copy ${copyGBs.toFixed(1)} GB/s (64 MiB Float32Array.set, read + write); compute: best matmul here ${peakGflops.toFixed(1)} GFLOP/s
(float32 FMA peak of this machine kind: ~229 GFLOP/s; wasm SIMD has no FMA, so 128-bit mul + add is at most half of that).

Columns: median and minimum wall time per call; relative margin of error of the mean and sample count (benny/benchmark.js);
throughput at the median (and at the minimum time) (matmul 2·M·K·N FLOP, softmax 2·N·V·4 bytes); speed relative to the
fastest valid peer at the median (> 1× is faster); minimum time over interleaved rounds (each implementation called in turn,
so all see the same interference) and its ratio to the fastest peer there; share of the ceiling; 1-minute load average when
the row started (other jobs: on 2 cores, a load above ~1 means the second thread shares a core); validation against the
float64 reference before timing.

| case | implementation | median ms | min ms | spread (samples) | throughput | vs best peer | interleaved min ms (vs best peer) | ceiling | load | validation |
|---|---|---|---|---|---|---|---|---|---|---|
${lines.join('\n')}

Notes
- "resident": operands already where the implementation computes (our heap views from \`alloc()\`, tfjs tensors); "copy"/"+read": the
  copies in and out of the wasm heap (ours) or the readback (\`dataSync\`, tfjs) are inside the timing.
- tfjs-wasm runs single-threaded in Node (see bench/wasm/NOTES.md); tfjs-cpu is JavaScript on one thread.
- Targets (issue 8): matmul 1024×768×3072 ≥ 50 GFLOP/s with two threads; softmax (1024×4096) ≥ 10 GB/s.
- This machine is shared with other jobs; the load average above says how busy it was. Minimum times are the least disturbed.
`;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const loadAtStart = os.loadavg();
  const require = createRequire(import.meta.url);
  setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
  mkdirSync(RESULTS_DIR, { recursive: true });
  const rt = await WasmRuntime.create({ threads: 2 });
  rt.startWorkers();
  const copyGBs = copyBandwidth();
  console.log(`memory copy: ${copyGBs.toFixed(1)} GB/s`);
  const rows: Row[] = [];
  rows.push(...(await matmulCase(rt, 512, 512, 512)));
  rows.push(...(await matmulCase(rt, 1024, 768, 3072)));
  rows.push(...(await softmaxCase(rt, 1024, 4096)));
  rows.push(...(await softmaxCase(rt, 64, 50304)));
  await rt.destroy();
  const md = report(rows, copyGBs, (performance.now() - t0) / 1e3, loadAtStart);
  writeFileSync(join(RESULTS_DIR, 'phase1.json'), JSON.stringify({ date: new Date().toISOString(), quick, copyGBs, rows }, null, 2));
  if (!quick) writeFileSync(join(here, 'RESULTS-phase1.md'), md);
  console.log(md);
  if (sink === 42.4242) console.log('');
}

await main();
