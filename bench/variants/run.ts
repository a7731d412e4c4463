/**
 * Measures the numbered kernel versions in bench/variants/ against the
 * library's, on one backend, each validated first with the benchmark case's
 * own check (the library's FP64 reference and bound), then timed with benny.
 *
 *   npx tsx bench/variants/run.ts --backend webgpu|webasm|cpu [--threads 2] [--only softmax|attention|matmul|floor]
 *
 * Writes bench/results/variants-<backend>[-<threads>t].json; bench/NOTES.md
 * quotes the figures.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDevice, type BackendName, type Device } from '../../src/device.js';
import { loadGpuJs } from '../../src/backends/gpujs.js';
import { errorModelFor } from '../../src/kernels/bounds.js';
import { gelu } from '../../src/kernels/gelu.js';
import { Tensor } from '../../src/tensor.js';
import type { BenchCase, HostOutputs } from '../lib/case.js';
import { timeSuite, type Timing } from '../lib/harness.js';
import { activations, logits, matrix } from '../lib/inputs.js';
import { toJson } from '../lib/results.js';
import { softmaxCases } from '../kernels/softmax.js';
import { attentionCases } from '../kernels/attention.js';
import { matmulCases } from '../kernels/matmul.js';
import { SOFTMAX_VERSIONS } from './softmax.js';
import { ATTENTION_VERSIONS } from './attention.js';
import { MATMUL_VERSIONS, copy1 } from './matmul.js';

interface Row {
  group: string;
  version: string;
  ok: boolean;
  worstOfBound: number;
  timing?: Timing;
  message?: string;
}

const get = (n: string, d: string) => {
  const i = process.argv.indexOf(`--${n}`);
  return i >= 0 ? process.argv[i + 1] : d;
};

async function main(): Promise<void> {
  const backend = get('backend', 'webgpu') as BackendName;
  const threads = Number(get('threads', '1'));
  const only = get('only', '');
  const device: Device = await createDevice({ backend, threads });
  const M = errorModelFor(device.backend);
  let sync = async () => {};
  if (device.backend === 'webgpu') {
    const ctx = (loadGpuJs().WebGPUContext as unknown as { acquire(): Promise<{ device: { queue: { onSubmittedWorkDone(): Promise<void> } } }> }).acquire();
    sync = async () => (await ctx).device.queue.onSubmittedWorkDone();
  }
  const noFinish = async () => {};
  const rows: Row[] = [];
  const opts = { minSamples: 5, maxTime: 2 };

  /** Validates every version with `check`, then times them in one suite. */
  async function compare(group: string, check: BenchCase['check'], versions: Record<string, () => Promise<Tensor[]>>, names: (outs: Tensor[]) => Record<string, Tensor>) {
    const entries: { name: string; fn: () => Promise<void> }[] = [];
    for (const [version, run] of Object.entries(versions)) {
      const outs = await run();
      const host: HostOutputs = {};
      for (const [k, t] of Object.entries(names(outs))) host[k] = await t.read();
      for (const t of outs) t.dispose();
      const res = check(host, M);
      const ok = res.every((r) => r.ok);
      const row: Row = { group, version, ok, worstOfBound: Math.max(...res.map((r) => r.maxRatio)), message: ok ? undefined : res.find((r) => !r.ok)?.message };
      rows.push(row);
      console.log(`${group} ${version}: ${ok ? 'within the bound' : 'OUTSIDE the bound — not timed'} (worst ${row.worstOfBound.toPrecision(3)} of the bound)`);
      if (!ok) {
        console.log(row.message);
        continue;
      }
      entries.push({
        name: version,
        fn: async () => {
          const o = await run();
          await sync();
          for (const t of o) t.dispose();
        },
      });
    }
    const { timings } = await timeSuite(group, entries, opts);
    for (const e of entries) {
      const row = rows.find((r) => r.group === group && r.version === e.name)!;
      row.timing = timings[e.name];
      console.log(`  ${group.padEnd(28)} ${e.name.padEnd(12)} ${row.timing.medianMs.toFixed(2).padStart(9)} ms (${row.timing.p10Ms.toFixed(2)}–${row.timing.p90Ms.toFixed(2)}, n=${row.timing.samples})`);
    }
  }

  if (!only || only === 'softmax') {
    for (const [N, V] of [
      [1024, 4096],
      [64, 50304],
    ]) {
      const c = softmaxCases(noFinish, [{ N, V, quick: true }])[0];
      const x = await device.upload(Tensor.fromHost(logits(N, V, 1000 + N, { maskedRow: true, nanRow: true }), [N, V]));
      const versions = Object.fromEntries(Object.entries(SOFTMAX_VERSIONS).map(([k, f]) => [k, () => f(device, x, N, V)]));
      await compare(`softmax.forward.${N}x${V}`, c.check, versions, (o) => ({ y: o[0] }));
      x.dispose();
    }
  }
  if (!only || only === 'attention') {
    const shape = { B: 4, NH: 12, T: 256, hs: 64 };
    const c = attentionCases(noFinish, shape)[0];
    const n = shape.B * shape.NH * shape.T * shape.hs;
    const dims = [shape.B, shape.NH, shape.T, shape.hs];
    const [q, k, v] = await Promise.all([7000, 7001, 7002].map((s) => device.upload(Tensor.fromHost(activations(n, s), dims))));
    const versions = Object.fromEntries(Object.entries(ATTENTION_VERSIONS).map(([name, f]) => [name, () => f(device, q, k, v, shape)]));
    await compare('attention.forward.4x12x256x64', c.check, versions, (o) => ({ out: o[0], lse: o[1] }));
    for (const t of [q, k, v]) t.dispose();
  }
  if (!only || only === 'matmul') {
    const s = { M: 512, K: 512, N: 512 };
    const c = matmulCases(noFinish, [{ ...s, transB: false, bias: false, label: '512x512x512', size: '512³', quick: true }])[0];
    const a = await device.upload(Tensor.fromHost(matrix(s.M, s.K, 1, 6000 + s.M), [s.M, s.K]));
    const b = await device.upload(Tensor.fromHost(matrix(s.K, s.N, s.K, 6100 + s.N), [s.K, s.N]));
    const versions = Object.fromEntries(Object.entries(MATMUL_VERSIONS).map(([name, f]) => [name, () => f(device, a, b, s.M, s.K, s.N)]));
    await compare('matmul.forward.512x512x512', c.check, versions, (o) => ({ c: o[0] }));
    a.dispose();
    b.dispose();
  }
  if (!only || only === 'floor') {
    // two sizes separate the fixed cost of a launch from the cost per element
    for (const n of [786432, 4 * 1024 * 1024]) {
      const xh = activations(n, 5000, { scale: 3 });
      const x = await device.upload(Tensor.fromHost(xh, [n]));
      const exact: BenchCase['check'] = (out) => {
        let bad = 0;
        for (let i = 0; i < n; i++) if (!Object.is(out.y[i], xh[i]) && !(out.y[i] !== out.y[i] && xh[i] !== xh[i]) && xh[i] !== 0) bad++;
        return [{ output: 'y', ok: bad === 0, compared: n, maxRatio: bad, maxRel: 0, maxUlp: 0, message: bad ? `${bad} values differ` : undefined }];
      };
      const group = `elementwise floor (${n})`;
      await compare(group, exact, { copy1: async () => [await copy1(device, x)] }, (o) => ({ y: o[0] }));
      if (n > 1e6) {
        // GELU is timed beside the floor only (its own check is the benchmark case's)
        const { timings } = await timeSuite('gelu beside the floor', [{ name: 'gelu', fn: async () => { const y = await gelu(device, x); await sync(); y.dispose(); } }], opts);
        rows.push({ group, version: 'gelu (library, erf)', ok: true, worstOfBound: 0, timing: timings.gelu });
        console.log(`  ${group.padEnd(28)} ${'gelu'.padEnd(12)} ${timings.gelu.medianMs.toFixed(2).padStart(9)} ms`);
      }
      x.dispose();
    }
  }
  await device.destroy();
  const tag = `${backend}${threads > 1 ? `-${threads}t` : ''}`;
  const out = path.join('bench', 'results', `variants-${tag}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, toJson({ backend: tag, adapter: device.info.adapter, date: new Date().toISOString(), rows }));
  console.log(`wrote ${out}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref());
