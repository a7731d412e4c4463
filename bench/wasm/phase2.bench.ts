/**
 * Phase-2 kernels at the shapes of the default GPT step (tiny: B = 16, T = 64,
 * C = 64, NH = 4, hs = 16, V = 27, MLP 256) and at the attention size,
 * on heap-resident inputs and outputs (as the device runs them), one thread
 * and two, interleaved: every round calls each variant once, and the table
 * reports the minimum and the median per variant (other jobs share this
 * 2-core machine; the minimum is the least disturbed run).
 *
 *   npx tsx bench/wasm/phase2.bench.ts [rounds=40] [filter]
 *
 * Each kernel is validated before timing against its FP64 reference within
 * the shared bound (the same check as test/wasm), on the benchmark's own inputs.
 */
import os from 'node:os';
import { WASM_SIMD_MODEL, wasmColsumDepth, wasmGemmDepth } from '../../src/backends/wasm/error-model.js';
import type { ErrorModel } from '../../src/kernels/bounds.js';
import { WasmRuntime } from '../../src/backends/wasm/runtime.js';
import { attentionBound, attentionRef } from '../../src/kernels/attention.js';
import { geluBound, geluRef } from '../../src/kernels/gelu.js';
import { layerNormBound, layerNormRef } from '../../src/kernels/layernorm.js';
import { matmulBound, matmulRef } from '../../src/kernels/matmul.js';
import { compareWithAllowed } from '../../src/testing/compare.js';
import { generate, widen } from '../../src/testing/values.js';

const rounds = Number(process.argv[2] ?? 40);
const filter = process.argv[3];

const rt = await WasmRuntime.create({ threads: 2 });
rt.startWorkers();
/** The wasm device's model, as src/backends/wasm/register.ts declares it (gemm's own summation depth). */
const MODEL: ErrorModel = { ...WASM_SIMD_MODEL, dotDepth: (K) => wasmGemmDepth(K, false), colSumDepth: wasmColsumDepth };

function heap(x: Float32Array): Float32Array {
  const v = rt.alloc(x.length, false);
  v.set(x);
  return v;
}
const normal = (seed: number, n: number, scale = 1) => heap(generate({ seed, profile: 'normal', scale, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 }, 1, n));

interface Case {
  name: string;
  /** Work for the throughput column: FLOP or elements. */
  work: number;
  unit: 'GFLOP/s' | 'Gelem/s';
  run: (threads: number) => void;
  check?: () => string;
}

const B = 16, T = 64, C = 64, NH = 4, hs = 16, V = 27, N = B * T;
const cases: Case[] = [];

// matmuls of the step (x·Wᵀ + b, and the backward's three products)
for (const [name, K, Nout] of [['c_attn', C, 3 * C], ['attn.c_proj', C, C], ['c_fc', C, 4 * C], ['mlp.c_proj', 4 * C, C], ['lm_head', C, V]] as const) {
  const a = normal(1, N * K);
  const w = normal(2, Nout * K, 0.1);
  const bias = normal(3, Nout);
  const out = rt.alloc(N * Nout, false);
  const dout = normal(4, N * Nout);
  const outs = { da: rt.alloc(N * K, false), db: rt.alloc(Nout * K, false), dbias: rt.alloc(Nout, false) };
  cases.push({
    name: `matmul fwd ${name} ${N}×${K}×${Nout}`,
    work: 2 * N * K * Nout,
    unit: 'GFLOP/s',
    run: (threads) => void rt.matmul(a, w, N, K, Nout, { transB: true, bias, out, threads }),
    check: () => {
      rt.matmul(a, w, N, K, Nout, { transB: true, bias, out });
      const ref = matmulRef(widen(a), widen(w), N, K, Nout, true, widen(bias));
      const b = matmulBound(MODEL, widen(a), widen(w), N, K, Nout, true, widen(bias), ref);
      return verdict(out, ref, b.allowed);
    },
  });
  cases.push({
    name: `matmul bwd ${name} ${N}×${K}×${Nout}`,
    work: 4 * N * K * Nout,
    unit: 'GFLOP/s',
    run: (threads) => void rt.matmulBackward(dout, a, w, N, K, Nout, { transB: true, bias: true, threads, outs }),
  });
}

{
  const x = normal(5, N * 4 * C, 2);
  const dy = normal(6, N * 4 * C);
  const y = rt.alloc(N * 4 * C, false);
  for (const form of ['tanh', 'none'] as const) {
    cases.push({
      name: `gelu fwd ${form} ${N}×${4 * C}`,
      work: N * 4 * C,
      unit: 'Gelem/s',
      run: (threads) => void rt.gelu(x, form, { out: y, threads }),
      check: () => {
        rt.gelu(x, form, { out: y });
        const ref = geluRef(widen(x), form);
        return verdict(y, ref, geluBound(WASM_SIMD_MODEL, widen(x), ref, form).allowed);
      },
    });
    cases.push({ name: `gelu bwd ${form} ${N}×${4 * C}`, work: N * 4 * C, unit: 'Gelem/s', run: (threads) => void rt.geluBackward(dy, x, form, { out: y, threads }) });
  }
}

{
  const x = normal(7, N * C, 3);
  const w = normal(8, C);
  const b = normal(9, C);
  const outs = { out: rt.alloc(N * C, false), mean: rt.alloc(N, false), rstd: rt.alloc(N, false) };
  const dout = normal(10, N * C);
  const gouts = { dx: rt.alloc(N * C, false), dweight: rt.alloc(C, false), dbias: rt.alloc(C, false) };
  cases.push({
    name: `layerNorm fwd ${N}×${C}`,
    work: N * C,
    unit: 'Gelem/s',
    run: (threads) => void rt.layerNorm(x, w, b, N, C, 1e-5, { ...outs, threads }),
    check: () => {
      rt.layerNorm(x, w, b, N, C, 1e-5, outs);
      const ref = layerNormRef(widen(x), widen(w), widen(b), N, C, 1e-5);
      return verdict(outs.out, ref.out, layerNormBound(WASM_SIMD_MODEL, widen(x), widen(w), N, C, 1e-5, ref).out);
    },
  });
  cases.push({ name: `layerNorm bwd ${N}×${C}`, work: N * C, unit: 'Gelem/s', run: (threads) => void rt.layerNormBackward(dout, x, w, outs.mean, outs.rstd, N, C, { ...gouts, threads }) });
  const x2 = normal(11, N * C);
  const o = rt.alloc(N * C, false);
  cases.push({ name: `residual fwd ${N}×${C}`, work: N * C, unit: 'Gelem/s', run: (threads) => void rt.add(x, x2, { out: o, threads }) });
}

for (const [label, b, nh, t, h] of [['GPT', B, NH, T, hs], ['issue', 4, 12, 256, 64]] as const) {
  const dims = { B: b, NH: nh, T: t, S: t, hs: h };
  const n = b * nh * t * h;
  const q = normal(12, n);
  const k = normal(13, n);
  const v = normal(14, n);
  const dout = normal(15, n);
  const outs = { out: rt.alloc(n, false), lse: rt.alloc(b * nh * t, false) };
  const gouts = { dq: rt.alloc(n, false), dk: rt.alloc(n, false), dv: rt.alloc(n, false) };
  const args = { causal: true, scale: 1 / Math.sqrt(h) };
  const flops = 4 * b * nh * t * t * h * 0.5;
  cases.push({
    name: `attention fwd causal ${label} B=${b} NH=${nh} T=${t} hs=${h}`,
    work: flops,
    unit: 'GFLOP/s',
    run: (threads) => void rt.attention(q, k, v, dims, args, { ...outs, threads }),
    check: () => {
      rt.attention(q, k, v, dims, args, outs);
      const o = { causal: true, scale: args.scale, float32Scores: true };
      const ref = attentionRef(widen(q), widen(k), widen(v), dims, o);
      return verdict(outs.out, ref.out, attentionBound(WASM_SIMD_MODEL, widen(q), widen(k), widen(v), dims, o, ref).out.allowed);
    },
  });
  cases.push({ name: `attention bwd causal ${label} B=${b} NH=${nh} T=${t} hs=${h}`, work: 2.5 * flops, unit: 'GFLOP/s', run: (threads) => void rt.attentionBackward(dout, q, k, v, outs.out, outs.lse, dims, args, { ...gouts, threads }) });
  {
    const qkv = normal(16, b * t * 3 * nh * h);
    const so = { q: rt.alloc(n, false), k: rt.alloc(n, false), v: rt.alloc(n, false) };
    cases.push({ name: `splitHeads ${label}`, work: 3 * n, unit: 'Gelem/s', run: (threads) => void rt.splitHeads(qkv, b, t, nh, h, { ...so, threads }) });
  }
}

function verdict(actual: Float32Array, ref: Float64Array, allowed: Float64Array): string {
  const r = compareWithAllowed(actual, ref, allowed, { float32: true });
  if (!r.ok) throw new Error(`validation failed: max error/allowed ${r.maxRatio}`);
  return `ok (${r.maxRatio.toExponential(1)} of bound)`;
}

const selected = cases.filter((c) => !filter || c.name.includes(filter));
const checks = new Map<string, string>();
for (const c of selected) checks.set(c.name, c.check ? c.check() : '—');
const times = new Map<string, number[]>();
for (const c of selected) for (const th of [1, 2]) times.set(`${c.name}|${th}`, []);
const load0 = os.loadavg()[0];
for (let r = 0; r < rounds; r++) {
  for (const c of selected) {
    for (const th of [1, 2]) {
      const t0 = performance.now();
      c.run(th);
      times.get(`${c.name}|${th}`)!.push(performance.now() - t0);
    }
  }
}
const load1 = os.loadavg()[0];
const stat = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], med: s[Math.floor(s.length / 2)] };
};
console.log(`# ${rounds} interleaved rounds, load ${load0.toFixed(1)} → ${load1.toFixed(1)}, ${os.cpus()[0]?.model?.trim()}`);
console.log('| kernel | 1 thread min (median) ms | 2 threads min (median) ms | throughput at min, 1T / 2T | validation |');
console.log('|---|---|---|---|---|');
for (const c of selected) {
  const a = stat(times.get(`${c.name}|1`)!);
  const b = stat(times.get(`${c.name}|2`)!);
  const scale = c.unit === 'GFLOP/s' ? 1e-6 : 1e-6;
  console.log(`| ${c.name} | ${a.min.toFixed(3)} (${a.med.toFixed(3)}) | ${b.min.toFixed(3)} (${b.med.toFixed(3)}) | ${((c.work / a.min) * scale).toFixed(2)} / ${((c.work / b.min) * scale).toFixed(2)} ${c.unit} | ${checks.get(c.name)} |`);
}
await rt.destroy();
