/**
 * GPT training step of the default model ('tiny', fp32, B = 16, T = 64) on one
 * backend, with a per-kernel breakdown of where the step's time goes.
 *
 *   npx tsx bench/wasm/gpt-step.ts [backend=wasm] [steps=30] [threads]
 *
 * Runs `new Trainer({...}).trainStep()` as src/cli/train.ts does (same data
 * source, optimiser and defaults), warms up, then times `steps` steps. A
 * second pass of the same number of steps runs under a
 * `TraceRecorder({ stats: false })` and sums each kernel's `ms` (phase apart),
 * so the hook's own cost does not enter the headline tokens/s. The rest of a
 * step (gradient accumulation on the host, clipping, NaN scan, data) is the
 * step time minus the kernels' sum: reported as "outside kernels".
 *
 * Prints one JSON line at the end (for RESULTS-phase2.md), with the 1-minute
 * load average at start and end: other jobs share this 2-core machine.
 */
import os from 'node:os';
import { createDevice, type BackendName } from '../../src/device.js';
import { MarkovStream } from '../../src/model/data.js';
import { MODEL_SIZES } from '../../src/model/params.js';
import { DEFAULT_OPTIM, Trainer } from '../../src/model/train.js';
import { TraceRecorder } from '../../src/trace/recorder.js';

const backend = (process.argv[2] ?? 'wasm') as BackendName;
const steps = Number(process.argv[3] ?? 30);
const threads = process.argv[4] !== undefined ? Number(process.argv[4]) : undefined;
const B = 16;
const T = 64;
const SEED = 1;

const load0 = os.loadavg()[0];
const device = await createDevice({ backend, ...(threads !== undefined ? { threads } : {}) });
try {
  const data = new MarkovStream(SEED);
  const size = MODEL_SIZES.tiny;
  const config = { V: data.tokenizer.vocabSize, maxT: size.maxT, L: size.L, NH: size.NH, C: size.C };
  const trainer = new Trainer({
    device,
    config,
    precision: 'fp32',
    data,
    B,
    T,
    seed: SEED,
    optim: { ...DEFAULT_OPTIM, totalSteps: 600 },
  });
  const warm = Math.max(3, Math.min(10, Math.ceil(steps / 5)));
  const losses: number[] = [];
  for (let i = 0; i < warm; i++) losses.push((await trainer.trainStep()).loss);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const info = await trainer.trainStep();
    losses.push(info.loss);
    times.push(info.ms);
  }
  // per-kernel breakdown, on further steps
  const rec = new TraceRecorder({ stats: false });
  const stop = rec.attach();
  const traced: number[] = [];
  for (let i = 0; i < steps; i++) traced.push((await trainer.trainStep()).ms);
  stop();
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const r of rec.summary()) {
    const k = `${r.kernel} ${r.phase}`;
    const e = byKernel.get(k) ?? { ms: 0, calls: 0 };
    e.ms += r.ms;
    e.calls += r.calls;
    byKernel.set(k, e);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const min = sorted[0];
  const tracedMedianStep = [...traced].sort((a, b) => a - b)[Math.floor(traced.length / 2)];
  const perStep = [...byKernel.entries()].map(([k, e]) => ({ kernel: k, ms: e.ms / steps, calls: e.calls / steps })).sort((a, b) => b.ms - a.ms);
  const kernelMs = perStep.reduce((s, e) => s + e.ms, 0);
  const tracedMean = traced.reduce((s, x) => s + x, 0) / traced.length;
  console.log(`${device}: ${steps} steps of B=${B} T=${T} (tiny, fp32)`);
  console.log(`step median ${median.toFixed(2)} ms (min ${min.toFixed(2)}), ${Math.round((B * T) / (median / 1000))} tokens/s; loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)}`);
  console.log(`traced steps: mean ${tracedMean.toFixed(2)} ms (median ${tracedMedianStep.toFixed(2)}); kernels ${kernelMs.toFixed(2)} ms, outside kernels ${(tracedMean - kernelMs).toFixed(2)} ms`);
  for (const e of perStep) console.log(`  ${e.kernel.padEnd(28)} ${e.ms.toFixed(3).padStart(8)} ms  (${e.calls} calls)`);
  const load1 = os.loadavg()[0];
  console.log(JSON.stringify({ backend, threads: device.info.threads, B, T, steps, medianMs: median, minMs: min, tokensPerSecond: (B * T) / (median / 1000), kernelMs, outsideMs: tracedMean - kernelMs, perStep, load: [load0, load1], firstLoss: losses[0], lastLoss: losses[losses.length - 1] }));
} finally {
  await device.destroy();
}
