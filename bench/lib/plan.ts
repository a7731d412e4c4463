/**
 * Which subject runs which case, and how many samples each gets.
 *
 * Full mode (`npm run bench:full`): every case on every subject, both webgpu
 * figures everywhere, 5–10 samples after a warm-up call.
 *
 * Quick mode (`npm run bench`, under 5 minutes on 2 cores): every case marked
 * quick runs, each on at least one of our backends and the fast peers, with
 * 2–3 samples and the validation call serving as the warm-up:
 *   - headline cases (softmax and cross-entropy (1024, 4096), LayerNorm,
 *     GELU, forward and backward; the GPT step): every subject;
 *   - every quick case: our fastest CPU backend (wasm with 2 threads; gpu.js
 *     webasm with 2 threads where the wasm device is not there) and
 *     tfjs-wasm-1t;
 *   - the other light cases: webgpu, wasm (1 thread) and the loop;
 *   - matmul 512³ and attention forward (the issue's goals) also on webgpu,
 *     tfjs-cpu, tfjs-wasm-2t and the loop; the large O(n³) cases, where one
 *     call of a slow subject takes seconds to tens of seconds, only on the
 *     fastest subjects;
 *   - tfjs-wasm-2t (single-threaded in Node, see tfjs.ts) on the headline
 *     cases and the issue's goals;
 *   - webgpu's upload-and-readback figure on the headline cases.
 */
import { BACKENDS } from '../../src/device.js';
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
const ISSUE_GOALS = ['matmul.forward.512x512x512', 'attention.forward.4x12x256x64'];

const HAS_WASM = (BACKENDS as readonly string[]).includes('wasm');
/** Every quick case. */
const QUICK_EVERYTHING = new Set([HAS_WASM ? 'wasm-2t' : 'webasm-2t', 'tfjs-wasm-1t']);
/** Every light quick case. */
const QUICK_LIGHT = new Set(['webgpu', 'ts-loop', ...(HAS_WASM ? ['wasm'] : [])]);
/** The issue's goal cases besides the headline ones. */
const GOALS_TOO = new Set(['webgpu', 'ts-loop', 'tfjs-cpu', 'tfjs-wasm-2t', ...(HAS_WASM ? ['wasm'] : [])]);

/** Undefined when the subject runs the case in this mode, else why not. */
export function skipReason(c: BenchCase, subject: string, mode: Mode): string | undefined {
  if (mode === 'full') return undefined;
  if (!c.quick) return 'full mode only';
  if (QUICK_EVERYTHING.has(subject) || HEADLINE.has(c.id)) return undefined;
  if (ISSUE_GOALS.includes(c.id) && GOALS_TOO.has(subject)) return undefined;
  if (c.heavy || c.id.startsWith('matmul.') || c.id.startsWith('attention.')) return 'O(n³) case on a slower subject: full mode only';
  if (QUICK_LIGHT.has(subject)) return undefined;
  return 'slower subject: headline cases only in quick mode';
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
