/**
 * What the one dispatcher (src/dispatch.ts runKernel) costs, without hooks,
 * with an empty hook and with the TraceRecorder (statistics off and on).
 *
 * Two measurements:
 *   1. The fixed cost per call, on a kernel that does nothing ('bench.noop',
 *      registered here for this process only; its output is its 1-element
 *      input): 2000 awaited calls per benchmark op, reported per call in µs.
 *      'direct' awaits the implementation without the dispatcher — the floor.
 *   2. The cost on a real kernel: softmax (1024, 4096) on the device given
 *      (webgpu by default, inputs resident), with no hook, an empty hook and
 *      the TraceRecorder with statistics on (which computes NaN/Inf counts,
 *      max |x| and float16 headroom of every output: on the device for a
 *      resident tensor, on the host otherwise).
 *
 *   npx tsx bench/dispatch.bench.ts [--backend webgpu] [--mode quick|full] [--out bench/results/raw/dispatch.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDevice, type BackendName, type Device } from '../src/device.js';
import { loadGpuJs } from '../src/backends/gpujs.js';
import { addHook, registerKernel, runKernel, type KernelImpl } from '../src/dispatch.js';
import { softmax } from '../src/kernels/softmax.js';
import { Tensor } from '../src/tensor.js';
import { TraceRecorder } from '../src/trace/recorder.js';
import { logits } from './lib/inputs.js';
import { timeSuite } from './lib/harness.js';
import { type DispatchResult, toJson } from './lib/results.js';

const CALLS = 2000;

const noop: KernelImpl = (_d, { x }) => ({ y: x });

interface WebGpuContextLike {
  acquire(): Promise<{ device: { queue: { onSubmittedWorkDone(): Promise<void> } } }>;
}

async function withHooks(kind: 'none' | 'empty' | 'recorder' | 'recorder-stats', fn: () => Promise<void>): Promise<void> {
  let remove = () => {};
  if (kind === 'empty') remove = addHook(() => {});
  else if (kind === 'recorder') remove = new TraceRecorder({ stats: false }).attach();
  else if (kind === 'recorder-stats') remove = new TraceRecorder({ stats: true }).attach();
  try {
    await fn();
  } finally {
    remove();
  }
}

export async function measureDispatch(backend: string, mode: 'quick' | 'full'): Promise<{ backend: string; results: DispatchResult[] }> {
  const device: Device = await createDevice({ backend: backend as BackendName });
  const opts = mode === 'quick' ? { minSamples: 5, maxTime: 0.5 } : { minSamples: 15, maxTime: 3 };
  const results: DispatchResult[] = [];
  try {
    // 1. fixed cost per call
    const removeA = registerKernel({ kernel: 'bench.noop', phase: 'forward', backend: 'reference', impl: noop });
    const removeB = registerKernel({ kernel: 'bench.noop', phase: 'forward', backend: 'gpujs', impl: noop });
    const x = Tensor.fromHost(new Float32Array(1), [1]);
    const inputs = { x };
    const loop = (f: () => unknown) => async () => {
      for (let i = 0; i < CALLS; i++) await f();
    };
    // hooks must not leak from one entry to the next: time each in its own suite
    const entries: [string, string, () => Promise<void>, string][] = [
      ['direct', 'none', loop(() => noop(device, inputs, {})), 'the implementation awaited without the dispatcher'],
      ['runKernel, no hook', 'none', loop(() => runKernel(device, 'bench.noop', 'forward', inputs, {})), 'registry lookup and call'],
      ['runKernel, empty hook', 'empty', loop(() => runKernel(device, 'bench.noop', 'forward', inputs, {})), 'adds timing, the scope lookup (AsyncLocalStorage) and the event'],
      ['runKernel, TraceRecorder (stats off)', 'recorder', loop(() => runKernel(device, 'bench.noop', 'forward', inputs, {})), 'summary rows per kernel and scope'],
      ['runKernel, TraceRecorder (stats on)', 'recorder-stats', loop(() => runKernel(device, 'bench.noop', 'forward', inputs, {})), 'plus statistics of the 1-element output'],
    ];
    for (const [name, kind, fn, detail] of entries) {
      await withHooks(kind as 'none', async () => {
        const { timings } = await timeSuite(`dispatch: ${name}`, [{ name, fn }], opts);
        const t = timings[name];
        const per = (ms: number) => (ms * 1000) / CALLS;
        results.push({ name: `no-op kernel: ${name}`, us: per(t.medianMs), p10: per(t.p10Ms), p90: per(t.p90Ms), detail });
      });
    }
    removeA();
    removeB();

    // 2. a real kernel
    const N = 1024;
    const V = 4096;
    const host = Tensor.fromHost(logits(N, V, 42), [N, V]);
    const xr = await device.upload(host);
    let sync = async () => {};
    if (device.backend === 'webgpu') {
      const ctx = (loadGpuJs().WebGPUContext as unknown as WebGpuContextLike).acquire();
      sync = async () => (await ctx).device.queue.onSubmittedWorkDone();
    }
    const call = async () => {
      const y = await softmax(device, xr);
      await sync();
      y.dispose();
    };
    await call();
    for (const [name, kind] of [
      ['no hook', 'none'],
      ['empty hook', 'empty'],
      ['TraceRecorder (stats on)', 'recorder-stats'],
    ] as const) {
      await withHooks(kind, async () => {
        await call();
        const { timings } = await timeSuite(`dispatch: softmax ${name}`, [{ name, fn: call }], opts);
        const t = timings[name];
        results.push({
          name: `softmax (1024, 4096) on ${device.backend}: ${name}`,
          us: t.medianMs * 1000,
          p10: t.p10Ms * 1000,
          p90: t.p90Ms * 1000,
          detail: device.backend === 'webgpu' ? 'input resident; statistics computed on the device' : 'statistics computed on the host',
        });
      });
    }
    if (xr !== host) xr.dispose();
  } finally {
    await device.destroy();
  }
  return { backend: device.backend, results };
}

async function main(): Promise<void> {
  const get = (n: string, d: string) => {
    const i = process.argv.indexOf(`--${n}`);
    return i >= 0 ? process.argv[i + 1] : d;
  };
  const backend = get('backend', 'webgpu');
  const mode = get('mode', 'quick') === 'full' ? 'full' : 'quick';
  const out = get('out', path.join('bench', 'results', 'raw', 'dispatch.json'));
  const r = await measureDispatch(backend, mode);
  for (const x of r.results) console.log(`  ${x.name.padEnd(64)} ${x.us.toFixed(x.us < 100 ? 3 : 0).padStart(10)} µs  (${x.p10.toFixed(x.us < 100 ? 3 : 0)}–${x.p90.toFixed(x.us < 100 ? 3 : 0)})`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, toJson(r));
}

if (process.argv[1] && path.resolve(process.argv[1]).endsWith(path.join('bench', 'dispatch.bench.ts'))) {
  main()
    .catch((e) => {
      console.error(e);
      process.exitCode = 1;
    })
    .finally(() => setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref());
}
