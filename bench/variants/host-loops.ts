/**
 * Version 2 of the data-movement kernels on the CPU devices: plain loops over
 * the typed arrays, registered for one backend in this process only (the
 * dispatcher's registerKernel), against the library's version 1 (on the
 * wasm device: its gpu.js cpu-mode fallback; on webasm: gpu.js WebAssembly).
 * Each version is validated with the benchmark case's own check (the
 * kernel's FP64 reference and bound) and timed through the same runner.
 *
 *   residual2       out = a + b in one loop (fl(a + b) is the float32 sum: the bound's single rounding)
 *   residual2 bwd   da, db = two copies of dout (Float32Array.slice: memcpy)
 *   splitHeads2     each (b, t, part, h) row of hs contiguous floats copied with subarray/set
 *   embeddingBwd2   dwte[token] += dout row, dwpe[t] += dout row, in position order (one float32 rounding per add, as the bound)
 *   layerNorm2      per row in float64: shifted two-pass mean and variance, then the output (more accurate than the bound asks)
 *
 *   npx tsx bench/variants/host-loops.ts [--backend wasm|webasm] [--threads 1]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDevice, type BackendName } from '../../src/device.js';
import { registerKernel, type KernelImpl } from '../../src/dispatch.js';
import { errorModelFor } from '../../src/kernels/bounds.js';
import { Tensor } from '../../src/tensor.js';
import { GROUPS } from '../cases.js';
import type { BenchCase } from '../lib/case.js';
import { timeSuite, type Timing } from '../lib/harness.js';
import { toJson } from '../lib/results.js';

const f32 = (t: Tensor) => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));

const residual2: KernelImpl = (_d, { a, b }) => {
  const x = f32(a);
  const y = f32(b);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] + y[i];
  return { out: Tensor.fromHost(out, a.shape) };
};

const residualBackward2: KernelImpl = (_d, { dout }) => {
  const g = f32(dout);
  return { da: Tensor.fromHost(g.slice(), dout.shape), db: Tensor.fromHost(g.slice(), dout.shape) };
};

const splitHeads2: KernelImpl<{ B: number; T: number; NH: number; hs: number }> = (_d, { qkv }, { B, T, NH, hs }) => {
  const x = f32(qkv);
  const C = NH * hs;
  const parts = [new Float32Array(B * T * C), new Float32Array(B * T * C), new Float32Array(B * T * C)];
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let p = 0; p < 3; p++)
        for (let h = 0; h < NH; h++) {
          const src = (b * T + t) * 3 * C + p * C + h * hs;
          parts[p].set(x.subarray(src, src + hs), ((b * NH + h) * T + t) * hs);
        }
  const shape = [B, NH, T, hs];
  return { q: Tensor.fromHost(parts[0], shape), k: Tensor.fromHost(parts[1], shape), v: Tensor.fromHost(parts[2], shape) };
};

const embeddingBackward2: KernelImpl<{ B: number; T: number; C: number; V: number; maxT: number; ids: ArrayLike<number> }> = (_d, { dout }, { B, T, C, V, maxT, ids }) => {
  const g = f32(dout);
  const dwte = new Float32Array(V * C);
  const dwpe = new Float32Array(maxT * C);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const o = (b * T + t) * C;
      const e = ids[b * T + t] * C;
      const p = t * C;
      for (let c = 0; c < C; c++) {
        dwte[e + c] += g[o + c];
        dwpe[p + c] += g[o + c];
      }
    }
  return { dwte: Tensor.fromHost(dwte, [V, C]), dwpe: Tensor.fromHost(dwpe, [maxT, C]) };
};

const layerNorm2: KernelImpl<{ N: number; C: number; eps: number; shape: readonly number[] }> = (_d, { x, weight, bias }, a) => {
  const xs = f32(x);
  const w = f32(weight);
  const bb = f32(bias);
  const { N, C } = a;
  const eps = a.eps ?? 1e-5;
  const out = new Float32Array(N * C);
  const mean = new Float32Array(N);
  const rstd = new Float32Array(N);
  for (let r = 0; r < N; r++) {
    const o = r * C;
    const x0 = xs[o];
    let s = 0;
    let bad = false;
    for (let j = 0; j < C; j++) {
      const v = xs[o + j];
      if (!Number.isFinite(v)) bad = true;
      s += v - x0;
    }
    if (bad) {
      mean[r] = NaN;
      rstd[r] = NaN;
      out.fill(NaN, o, o + C);
      continue;
    }
    const md = s / C;
    let q = 0;
    for (let j = 0; j < C; j++) {
      const e = xs[o + j] - x0 - md;
      q += e * e;
    }
    const rs = 1 / Math.sqrt(q / C + eps);
    mean[r] = x0 + md;
    rstd[r] = rs;
    for (let j = 0; j < C; j++) out[o + j] = (xs[o + j] - x0 - md) * (q > 0 ? rs : 0) * w[j] + bb[j];
  }
  return { out: Tensor.fromHost(out, x.shape), mean: Tensor.fromHost(mean, x.shape.slice(0, -1)), rstd: Tensor.fromHost(rstd, x.shape.slice(0, -1)) };
};

const VARIANTS: Record<string, { kernel: string; phase: 'forward' | 'backward'; impl: KernelImpl<never> }> = {
  'residual.forward': { kernel: 'residual', phase: 'forward', impl: residual2 },
  'residual.backward': { kernel: 'residual', phase: 'backward', impl: residualBackward2 },
  'splitHeads.forward': { kernel: 'splitHeads', phase: 'forward', impl: splitHeads2 as KernelImpl<never> },
  'embedding.backward': { kernel: 'embedding', phase: 'backward', impl: embeddingBackward2 as KernelImpl<never> },
  'layerNorm.forward': { kernel: 'layerNorm', phase: 'forward', impl: layerNorm2 as KernelImpl<never> },
};

interface Row {
  case: string;
  version: string;
  ok: boolean;
  worstOfBound: number;
  timing?: Timing;
  message?: string;
}

async function main(): Promise<void> {
  const get = (n: string, d: string) => {
    const i = process.argv.indexOf(`--${n}`);
    return i >= 0 ? process.argv[i + 1] : d;
  };
  const backend = get('backend', 'wasm') as BackendName;
  const threads = Number(get('threads', '1'));
  const device = await createDevice({ backend, threads });
  const M = errorModelFor(device.backend);
  const rows: Row[] = [];
  const noFinish = async () => {};
  const cases: BenchCase[] = [];
  for (const g of GROUPS.filter((x) => ['layerNorm', 'extras'].includes(x.name))) cases.push(...(await g.make(noFinish, 'bench')));
  for (const [prefix, v] of Object.entries(VARIANTS)) {
    const c = cases.find((x) => x.id.startsWith(prefix + '.'));
    if (!c?.ours) continue;
    const entries: { name: string; fn: () => Promise<void> }[] = [];
    for (const version of ['v1 (library)', 'v2 (loop)']) {
      const restore = version.startsWith('v2') ? registerKernel({ kernel: v.kernel, phase: v.phase, backend: device.backend, impl: v.impl }) : () => {};
      const runner = await c.ours({ device, resident: true, sync: async () => {} });
      const res = c.check(await runner.once(), M);
      const ok = res.every((r) => r.ok);
      const row: Row = { case: c.id, version, ok, worstOfBound: Math.max(...res.map((r) => r.maxRatio)), message: ok ? undefined : res.find((r) => !r.ok)?.message };
      rows.push(row);
      console.log(`${c.id} ${version}: ${ok ? 'within the bound' : 'OUTSIDE the bound'} (worst ${row.worstOfBound.toPrecision(3)})`);
      if (!ok) console.log(row.message);
      // each version's timing needs its registration: time it now, in its own suite
      if (ok) {
        const { timings } = await timeSuite(`${c.id} ${version}`, [{ name: version, fn: () => runner.timed() }], { minSamples: 10, maxTime: 2 });
        row.timing = timings[version];
        entries.push({ name: version, fn: async () => {} });
        console.log(`  ${c.id.padEnd(34)} ${version.padEnd(14)} ${row.timing.medianMs.toFixed(2).padStart(9)} ms (${row.timing.p10Ms.toFixed(2)}–${row.timing.p90Ms.toFixed(2)}, n=${row.timing.samples})`);
      }
      restore();
    }
  }
  await device.destroy();
  const out = path.join('bench', 'results', `variants-host-loops-${backend}${threads > 1 ? `-${threads}t` : ''}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, toJson({ backend, threads, date: new Date().toISOString(), rows }));
  console.log(`wrote ${out}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref());
