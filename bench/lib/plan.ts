/**
 * Which subject runs which case, and how many samples each gets.
 *
 * Full mode (`npm run bench:full`): every case on every subject, both webgpu
 * figures everywhere, 5–10 samples after a warm-up call.
 *
 * Quick mode (`npm run bench`, under 5 minutes on 2 cores): every case marked
 * quick runs, each on at least one of our backends and the fast peers, with
 * 3 samples and the validation call serving as the warm-up:
 *   - headline cases (softmax and cross-entropy (1024, 4096), LayerNorm,
 *     GELU, forward and backward): every subject;
 *   - the other light cases: the fast subjects (webgpu, webasm-2t, wasm,
 *     tfjs-wasm, the loop);
 *   - the O(n³) cases (matmul, attention): webasm-2t and wasm (our fastest
 *     there), tfjs-wasm-1t; webgpu, tfjs-cpu, tfjs-wasm-2t and the loop on
 *     the small ones (matmul 512³, attention forward) — one call of theirs
 *     on the large ones takes seconds to tens of seconds;
 *   - tfjs-wasm-2t (single-threaded in Node, see tfjs.ts) on the headline
 *     cases and the goals only;
 *   - webgpu's upload-and-readback figure on the headline cases only.
 */
import type { BenchCase } from './case.js';
import type { TimingOptions } from './harness.js';
import type { Variant } from './results.js';

export type Mode = 'quick' | 'full';

const HEADLINE = new Set([
  'softmax.forward.1024x4096',
  'softmax.backward.1024x4096',
  'crossEntropy.forward.1024x4096',
  'crossEntropy.backward.1024x4096',
  'layerNorm.forward.4096x768',
  'layerNorm.backward.4096x768',
  'gelu.forward.erf.4M',
  'gelu.backward.erf.4M',
  'gpt.step.default',
]);
/** Every quick case. (tfjs-wasm-2t computes on one thread in Node, like tfjs-wasm-1t: quick mode shows it on the headline and issue-goal cases.) */
const QUICK_EVERYTHING = new Set(['webasm-2t', 'wasm', 'wasm-2t', 'tfjs-wasm-1t']);
/** Every light quick case, and the heavy ones listed in HEAVY_SMALL. */
const QUICK_LIGHT = new Set(['webgpu', 'ts-loop']);
const HEAVY_SMALL: Record<string, readonly string[]> = {
  webgpu: ['matmul.forward.512x512x512', 'attention.forward.4x12x256x64'],
  'ts-loop': ['matmul.forward.512x512x512', 'attention.forward.4x12x256x64'],
  'tfjs-cpu': ['matmul.forward.512x512x512'],
  'tfjs-wasm-2t': ['matmul.forward.512x512x512', 'attention.forward.4x12x256x64'],
};

/** Undefined when the subject runs the case in this mode, else why not. */
export function skipReason(c: BenchCase, subject: string, mode: Mode): string | undefined {
  if (mode === 'full') return undefined;
  if (!c.quick) return 'full mode only';
  if (QUICK_EVERYTHING.has(subject) || HEADLINE.has(c.id) || HEAVY_SMALL[subject]?.includes(c.id)) return undefined;
  if (c.heavy) return 'O(n³) case on a slow subject: full mode only';
  if (QUICK_LIGHT.has(subject)) return undefined;
  return 'slow subject: headline cases only in quick mode';
}

/** Whether a variant of a case is timed in this mode. */
export function runsVariant(c: BenchCase, variant: Variant, mode: Mode): boolean {
  return mode === 'full' || variant !== 'io' || HEADLINE.has(c.id);
}

/** Whether a warm-up call precedes the samples (quick mode lets the validation call warm up). */
export function warmUp(mode: Mode): boolean {
  return mode === 'full';
}

/** Samples for a case whose single call took `ms`. */
export function timingOptions(ms: number, mode: Mode): TimingOptions {
  if (mode === 'quick') {
    if (ms > 1000) return { minSamples: 2, maxTime: 0 };
    return { minSamples: 3, maxTime: 0.15 };
  }
  if (ms > 3000) return { minSamples: 3, maxTime: 0 };
  if (ms > 500) return { minSamples: 5, maxTime: 3 };
  return { minSamples: 10, maxTime: 3 };
}
