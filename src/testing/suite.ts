/**
 * The shared kernel suite: checks written once, run on every backend.
 *
 * A `KernelCheck` is a named property (or a fixed edge case) that drives one
 * kernel on a device and compares it with the FP64 reference within the
 * kernel's derived bound. The vitest files, `npx stable-kernels check` and
 * the "the suite can fail" tests all run these same objects.
 */
import fc from 'fast-check';
import type { Device } from '../device.js';
import type { Phase } from '../dispatch.js';
import { errorModelFor, type Bound, type ErrorModel } from '../kernels/bounds.js';
import type { Tensor } from '../tensor.js';
import { compareWithAllowed, describeFailure, sameBits } from './compare.js';

export interface AccuracyEntry {
  backend: string;
  kernel: string;
  phase: Phase;
  output: string;
  model: string;
  /** Largest error/allowed seen (< 1 means within the bound). */
  maxRatio: number;
  /** Largest relative error over elements with |ref| ≥ 1e-30. */
  maxRel: number;
  /** Largest distance in float32 ULPs from the rounded reference. */
  maxUlp: number;
  /** Elements compared. */
  elements: number;
}

/** Collects the accuracy each backend reached, for ACCURACY.md and `check`. */
export class AccuracyRecorder {
  readonly entries = new Map<string, AccuracyEntry>();

  record(e: Omit<AccuracyEntry, 'elements' | 'maxRatio' | 'maxRel' | 'maxUlp'> & { maxRatio: number; maxRel: number; maxUlp: number; elements: number }): void {
    const key = `${e.backend}|${e.kernel}|${e.phase}|${e.output}`;
    const prev = this.entries.get(key);
    if (!prev) {
      this.entries.set(key, { ...e });
      return;
    }
    prev.maxRatio = Math.max(prev.maxRatio, e.maxRatio);
    prev.maxRel = Math.max(prev.maxRel, e.maxRel);
    prev.maxUlp = Math.max(prev.maxUlp, e.maxUlp);
    prev.elements += e.elements;
  }

  toJSON(): AccuracyEntry[] {
    return [...this.entries.values()];
  }
}

export interface CheckContext {
  device: Device;
  model: ErrorModel;
  seed: number;
  numRuns: number;
  /** Shrink counterexamples (slow on GPU backends; off when a failure is expected). */
  shrink: boolean;
  recorder?: AccuracyRecorder;
}

export interface KernelCheck {
  /** e.g. 'softmax.forward: within bound of the FP64 reference' */
  id: string;
  kernel: string;
  phase: Phase;
  /** Runs in CI by default. */
  defaultRuns: number;
  run(ctx: CheckContext): Promise<void>;
}

/**
 * A check context for a device: its backend's error model, a seed, a run count, shrinking, and an optional accuracy recorder.
 *
 * @example
 * const ctx = makeContext(dev, { numRuns: 50 });
 * for (const check of allChecks.softmax) await check.run(ctx);
 */
export function makeContext(device: Device, o: Partial<Omit<CheckContext, 'device'>> = {}): CheckContext {
  return {
    device,
    model: o.model ?? errorModelFor(device.backend),
    seed: o.seed ?? 20261204,
    numRuns: o.numRuns ?? 20,
    shrink: o.shrink ?? true,
    recorder: o.recorder,
  };
}

/**
 * Runs a fast-check async property with the context's seed and run count.
 *
 * @example
 * await property(ctx, matrixArb(), async ({ N, L, spec }) => {
 *   // run the kernel on generate(spec, N, L), compare with the reference, throw on failure
 * });
 */
export async function property<T>(ctx: CheckContext, arb: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>): Promise<void> {
  const details = await fc.check(
    fc.asyncProperty(arb, async (v) => {
      await predicate(v);
    }),
    { seed: ctx.seed, numRuns: ctx.numRuns, endOnFailure: !ctx.shrink },
  );
  if (details.failed) {
    // the kernel's own message (worst element, values, bound) first, then how to replay it
    const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(
      `${cause}\n  counterexample: ${fc.stringify(details.counterexample)}\n  replay: seed ${details.seed}, path "${details.counterexamplePath}" (FUZZ_SEED=${details.seed}); ${details.numRuns} runs, shrunk ${details.numShrinks} times`,
    );
  }
}

/**
 * Compares a device output with the FP64 reference under a bound, records the
 * accuracy reached and throws a readable error on failure.
 *
 * @example
 * await expectWithinBound(ctx, { kernel: 'softmax', phase: 'forward', output: 'y' }, y, ref, softmaxBound(ctx.model, x64, N, V, ref));
 */
export async function expectWithinBound(
  ctx: CheckContext,
  where: { kernel: string; phase: Phase; output: string },
  actual: Tensor,
  expected: Float64Array,
  bound: Bound,
): Promise<void> {
  const values = await actual.read();
  const float32 = ctx.device.info.precision === 'float32';
  const r = compareWithAllowed(values, expected, bound.allowed, { float32 });
  ctx.recorder?.record({
    backend: ctx.device.backend,
    kernel: where.kernel,
    phase: where.phase,
    output: where.output,
    model: ctx.model.name,
    maxRatio: r.maxRatio,
    maxRel: r.maxRel,
    maxUlp: r.maxUlp,
    elements: r.count,
  });
  if (!r.ok) {
    throw new Error(describeFailure(`${where.kernel}.${where.phase} '${where.output}' on ${ctx.device.backend}`, r, actual.shape, bound.note));
  }
}

/** Snapshots host tensors, runs `fn`, and throws if any input changed (NaN payloads included).
 *
 * @example
 * const y = await withUnmutatedInputs({ x }, () => softmax(dev, x)); // throws if x changed
 */
export async function withUnmutatedInputs<R>(inputs: Record<string, Tensor>, fn: () => Promise<R>): Promise<R> {
  const before = Object.entries(inputs).map(([name, t]) => [name, t.hostData?.slice()] as const);
  const result = await fn();
  for (const [name, copy] of before) {
    const now = inputs[name].hostData;
    if (copy && now && !sameBits(copy, now)) throw new Error(`input '${name}' was mutated by the kernel`);
  }
  return result;
}
