/**
 * Timing with benny (benchmark.js underneath).
 *
 * Every entry is an async function (a deferred benchmark): benchmark.js
 * starts the clock, calls it, and stops the clock when its promise resolves,
 * so the work has to be finished inside the promise:
 *   - host backends (webasm, cpu, reference, tfjs-cpu, tfjs-wasm, the loop)
 *     compute synchronously or in worker threads that the call awaits;
 *   - webgpu (ours and tfjs-webgpu) submits GPU commands and returns before
 *     they run on a real GPU, so each timed call ends with
 *     `await device.queue.onSubmittedWorkDone()`, which per the WebGPU spec
 *     resolves only after every command submitted so far has completed
 *     (tfjs-webgpu first flushes its pending command encoder with
 *     submitQueue()). No element is read back in the resident figure; the
 *     "upload + readback" figure reads every output back instead.
 *
 * benny probes a case function once while preparing the suite (it calls it
 * to find out whether it returns a promise) without awaiting it; `entry()`
 * makes that probe a no-op, so no stray call overlaps the timed ones.
 *
 * Figures: benchmark.js keeps one sample per measurement cycle (the mean of
 * `count` calls; slow calls give count = 1), and we report the median and
 * the 10th–90th percentiles of those samples, in milliseconds per call, plus
 * how much CPU the process got while it ran (CPU time / wall time over the
 * suite) — on a machine shared with other work this shows contention.
 */
import os from 'node:os';
import b from 'benny';

export interface Timing {
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  meanMs: number;
  minMs: number;
  samples: number;
  /** benchmark.js relative margin of error of the mean, in %. */
  rme: number;
  /** Process CPU time / wall time while the suite ran (≈ threads busy; < 1 for one thread means it shared a core). */
  cpuPerWall: number;
  /** 1-minute load average when the suite started. */
  load: number;
}

export interface TimingOptions {
  minSamples: number;
  /** Seconds. */
  maxTime: number;
  /** Seconds a measurement cycle lasts at least (benchmark.js repeats fast calls to reach it; default 0.05). */
  minTime?: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = (sorted.length - 1) * p;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

/** A benny case function whose first (un-awaited probe) call does nothing. */
function entry(fn: () => Promise<void>): () => () => Promise<void> {
  let probed = false;
  const inner = async () => {
    if (!probed) {
      probed = true;
      return;
    }
    await fn();
  };
  return () => inner;
}

/**
 * Times each entry in one benny suite. Returns the timings by entry name and
 * benny's summary (for the JSON and chart files).
 */
export async function timeSuite(
  name: string,
  entries: { name: string; fn: () => Promise<void> }[],
  options: TimingOptions,
): Promise<{ timings: Record<string, Timing>; summary: Awaited<ReturnType<typeof b.suite>> }> {
  const load = os.loadavg()[0];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // benny announces every suite on stdout; the workers print their own line per result
  const log = console.log;
  console.log = (...args: unknown[]) => {
    if (!(typeof args[0] === 'string' && args[0].startsWith('Running "'))) log(...args);
  };
  let summary: Awaited<ReturnType<typeof b.suite>>;
  try {
    summary = await b.suite(
      name,
      ...entries.map((e) => b.add(e.name, entry(e.fn))),
      b.configure({ cases: { minSamples: options.minSamples, maxTime: options.maxTime, minTime: options.minTime ?? 0.05, initCount: 1, delay: 0.002 } }),
    );
  } finally {
    console.log = log;
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuPerWall = (cpu.user + cpu.system) / 1000 / wall;
  const timings: Record<string, Timing> = {};
  for (const r of summary.results) {
    const ms = r.details.sampleResults.map((s) => s * 1000).sort((x, y) => x - y);
    timings[r.name] = {
      medianMs: percentile(ms, 0.5),
      p10Ms: percentile(ms, 0.1),
      p90Ms: percentile(ms, 0.9),
      meanMs: r.details.mean * 1000,
      minMs: ms[0],
      samples: ms.length,
      rme: r.margin,
      cpuPerWall,
      load,
    };
  }
  return { timings, summary };
}

/** Wall time of one awaited call, in ms (for planning how many samples to take). */
export async function timeOnce(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}
