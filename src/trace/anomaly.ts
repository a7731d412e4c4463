/**
 * Anomaly mode: find the kernel call where a NaN or Inf was first created.
 *
 *   await detectAnomalies(async () => {
 *     await model.forward(...); await model.backward(...);
 *   }, { overflow: 'float16' });
 *
 * While `fn` runs, every kernel call (forward and backward, any backend) is
 * checked as it returns. The first call whose output holds a NaN or ±Inf
 * throws a `NonFiniteError` naming the kernel, phase, scope path, output,
 * the first bad index, the input values around it, and whether this kernel
 * **created** the value (all its inputs were finite) or only **propagated**
 * it (an input already held one — then this is the first kernel that saw a
 * value fed in from outside, because any earlier kernel producing it would
 * have thrown first).
 *
 * With `overflow: 'float16'` (or any format) it also stops at the first
 * output that would overflow that format when stored in it, with the factor
 * by which it overflows.
 *
 * Unlike PyTorch's anomaly mode this covers the forward pass too; unlike
 * tfjs's debug mode it throws with provenance instead of printing.
 */
import { addHook, type KernelEvent } from '../dispatch.js';
import { resolveFormat, type FloatFormat, type FormatLike } from '../precision/formats.js';
import type { Tensor } from '../tensor.js';
import { unravel } from '../testing/compare.js';
import { nonFiniteCount, tensorStats } from './stats.js';

export interface InputContext {
  name: string;
  shape: readonly number[];
  /** NaN + ±Inf values in this input. */
  nonFinite: number;
  /** Largest finite |x| in this input. */
  maxAbs: number;
  /** Which elements `values` shows, e.g. 'flat 40..44' or 'row [3]'. */
  where: string;
  values: number[];
}

export interface AnomalyDetails {
  kernel: string;
  phase: string;
  scope: string;
  path: string;
  backend: string;
  output: string;
  outputShape: readonly number[];
  /** First offending element, flat and as a multi-index. */
  index: number;
  multiIndex: number[];
  value: number;
  /** true: every input was finite, this kernel made the NaN/Inf. false: an input already held one. */
  created: boolean;
  /** For propagated values: the inputs that already held NaN/Inf. */
  sources: string[];
  inputs: InputContext[];
}

export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
  constructor(readonly details: AnomalyDetails) {
    super(formatAnomaly(details));
  }
}

export interface OverflowDetails {
  kernel: string;
  phase: string;
  path: string;
  output: string;
  format: string;
  /** max|x| / format max: 3.2 means "would overflow by 3.2×". */
  factor: number;
  count: number;
  maxAbs: number;
}

export class FormatOverflowError extends Error {
  override name = 'FormatOverflowError';
  constructor(readonly details: OverflowDetails) {
    super(
      `${details.kernel} (${details.phase}) at ${details.path}: output '${details.output}' would overflow ${details.format} by ${details.factor.toPrecision(3)}× ` +
        `(max |x| = ${details.maxAbs.toPrecision(6)}, ${details.count} value(s) above the ${details.format} range)`,
    );
  }
}

function formatAnomaly(d: AnomalyDetails): string {
  const lines = [
    `${d.value} ${d.created ? 'created' : 'propagated'} by ${d.kernel} (${d.phase}) at ${d.path} on ${d.backend}`,
    `  output '${d.output}' ${JSON.stringify(d.outputShape)} first bad element [${d.multiIndex.join(', ')}] (flat ${d.index})`,
    d.created ? '  every input was finite: this kernel created the value' : `  already non-finite in input(s): ${d.sources.join(', ')}`,
  ];
  for (const i of d.inputs) {
    lines.push(`  input '${i.name}' ${JSON.stringify(i.shape)}: ${i.nonFinite} non-finite, max |x| ${i.maxAbs}; ${i.where}: [${i.values.map((v) => +v.toPrecision(6)).join(', ')}]`);
  }
  return lines.join('\n');
}

/** The input values a reader needs to see around an output element. */
async function inputContext(name: string, t: Tensor, outShape: readonly number[], outIndex: number): Promise<Omit<InputContext, 'nonFinite' | 'maxAbs'>> {
  const data = t.hostData ?? (await t.read());
  const around = (center: number, label: string) => {
    const lo = Math.max(0, center - 3);
    const hi = Math.min(data.length, center + 4);
    return { name, shape: t.shape, where: `${label} ${lo}..${hi - 1}`, values: Array.from(data.subarray(lo, hi)) };
  };
  if (data.length === 0) return { name, shape: t.shape, where: 'empty', values: [] };
  const sizeOut = outShape.reduce((a, b) => a * b, 1);
  if (t.size === sizeOut) return around(outIndex, 'flat');
  // same leading dimension as the output (rows of logits, tokens, ...): show that row
  const mi = unravel(outIndex, outShape);
  if (t.shape.length >= 1 && outShape.length >= 1 && t.shape[0] === outShape[0]) {
    const rowLen = t.size / t.shape[0];
    const start = mi[0] * rowLen;
    // show the row's largest-magnitude stretch: that is usually where the trouble is
    let arg = start;
    for (let i = start; i < start + rowLen; i++) if (!(Math.abs(data[i]) <= Math.abs(data[arg]))) arg = i;
    const v = around(arg, `row [${mi[0]}] around its largest |x|, flat`);
    return v;
  }
  let arg = 0;
  for (let i = 0; i < data.length; i++) if (!(Math.abs(data[i]) <= Math.abs(data[arg]))) arg = i;
  return around(arg, 'around its largest |x|, flat');
}

export interface AnomalyOptions {
  /** Also stop at the first output that would overflow this storage format. */
  overflow?: FormatLike;
  /** Check backward-phase calls too (default true). */
  backward?: boolean;
}

async function inspect(e: KernelEvent, format: FloatFormat | undefined): Promise<void> {
  for (const [outName, out] of Object.entries(e.outputs)) {
    const s = await tensorStats(e.device, out, format);
    if (nonFiniteCount(s) > 0) {
      const data = out.hostData ?? (await out.read());
      let index = 0;
      while (index < data.length && Number.isFinite(data[index])) index++;
      const inputs: InputContext[] = [];
      const sources: string[] = [];
      for (const [inName, t] of Object.entries(e.inputs)) {
        const is = await tensorStats(e.device, t);
        const nf = nonFiniteCount(is);
        if (nf > 0) sources.push(inName);
        inputs.push({ ...(await inputContext(inName, t, out.shape, index)), nonFinite: nf, maxAbs: is.maxAbs });
      }
      throw new NonFiniteError({
        kernel: e.kernel,
        phase: e.phase,
        scope: e.scope,
        path: e.path,
        backend: e.device.backend,
        output: outName,
        outputShape: out.shape,
        index,
        multiIndex: unravel(index, out.shape),
        value: data[index],
        created: sources.length === 0,
        sources,
        inputs,
      });
    }
    if (format && s.target && s.target.overflow > 0) {
      throw new FormatOverflowError({
        kernel: e.kernel,
        phase: e.phase,
        path: e.path,
        output: outName,
        format: format.name,
        factor: s.maxAbs / format.maxFinite,
        count: s.target.overflow,
        maxAbs: s.maxAbs,
      });
    }
  }
}

/**
 * Runs `fn` with anomaly detection on every kernel call; rethrows the first
 * anomaly as a `NonFiniteError` (or `FormatOverflowError`).
 *
 * @example
 * try {
 *   await detectAnomalies(() => scope('head', () => logSoftmax(dev, x)), { overflow: 'float16' });
 * } catch (e) {
 *   if (e instanceof NonFiniteError) console.log(e.details.path, e.details.created); // 'head.logSoftmax' true
 * }
 */
export async function detectAnomalies<R>(fn: () => Promise<R>, options: AnomalyOptions = {}): Promise<R> {
  const format = options.overflow !== undefined ? resolveFormat('detectAnomalies', options.overflow, 'overflow') : undefined;
  const checkBackward = options.backward ?? true;
  const remove = addHook(async (e) => {
    if (e.phase === 'backward' && !checkBackward) return;
    await inspect(e, format);
  });
  try {
    return await fn();
  } finally {
    remove();
  }
}
