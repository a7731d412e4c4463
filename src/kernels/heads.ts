/**
 * Head layout for attention: splitHeads and mergeHeads, forward and backward.
 *
 *   splitHeads(qkv (B, T, 3C), NH) → q, k, v each (B, NH, T, hs), hs = C/NH
 *     q[b, h, t, d] = qkv[b, t, 0·C + h·hs + d]
 *     k[b, h, t, d] = qkv[b, t, 1·C + h·hs + d]
 *     v[b, h, t, d] = qkv[b, t, 2·C + h·hs + d]
 *   mergeHeads(y (B, NH, T, hs)) → (B, T, C),  out[b, t, h·hs + d] = y[b, h, t, d]
 *
 * The backward of a permutation is the inverse permutation: splitHeads'
 * backward is a merge of (dq, dk, dv) into dqkv, mergeHeads' backward is a split.
 *
 * Contract: pure data movement. Every value, NaN payloads aside, arrives
 * unchanged, so the bound is zero: outputs must equal the reference exactly
 * (NaN matching NaN). C must be divisible by NH; empty dimensions give empty outputs.
 */
import type { Device } from '../device.js';
import { registerKernel, runKernel } from '../dispatch.js';
import { ArgumentError, checkDimension, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { idiv } from './gpujs/index-math.js';
import { checkRank, checkShape, emptyLike, f64, out64 } from './shapes.js';

interface Dims {
  B: number;
  T: number;
  NH: number;
  hs: number;
}

// ---------------------------------------------------------------------------
// FP64 reference
// ---------------------------------------------------------------------------

/** (B, T, 3C) → three (B, NH, T, hs). `part` 0, 1, 2 selects q, k, v. */
export function splitHeadsRef(qkv: Float64Array, { B, T, NH, hs }: Dims, part: number): Float64Array {
  const C = NH * hs;
  const out = new Float64Array(B * NH * T * hs);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++)
      for (let t = 0; t < T; t++)
        for (let d = 0; d < hs; d++) out[((b * NH + h) * T + t) * hs + d] = qkv[(b * T + t) * 3 * C + part * C + h * hs + d];
  return out;
}

/** (B, NH, T, hs) → (B, T, C). */
export function mergeHeadsRef(y: Float64Array, { B, T, NH, hs }: Dims): Float64Array {
  const C = NH * hs;
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++)
      for (let t = 0; t < T; t++)
        for (let d = 0; d < hs; d++) out[(b * T + t) * C + h * hs + d] = y[((b * NH + h) * T + t) * hs + d];
  return out;
}

/** Inverse of mergeHeads: (B, T, C) → (B, NH, T, hs). */
export function unmergeHeadsRef(x: Float64Array, { B, T, NH, hs }: Dims): Float64Array {
  const C = NH * hs;
  const out = new Float64Array(B * NH * T * hs);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++)
      for (let t = 0; t < T; t++)
        for (let d = 0; d < hs; d++) out[((b * NH + h) * T + t) * hs + d] = x[(b * T + t) * C + h * hs + d];
  return out;
}

/** Inverse of splitHeads: three (B, NH, T, hs) → (B, T, 3C). */
export function unsplitHeadsRef(q: Float64Array, k: Float64Array, v: Float64Array, { B, T, NH, hs }: Dims): Float64Array {
  const C = NH * hs;
  const out = new Float64Array(B * T * 3 * C);
  const parts = [q, k, v];
  for (let p = 0; p < 3; p++)
    for (let b = 0; b < B; b++)
      for (let h = 0; h < NH; h++)
        for (let t = 0; t < T; t++)
          for (let d = 0; d < hs; d++) out[(b * T + t) * 3 * C + p * C + h * hs + d] = parts[p][((b * NH + h) * T + t) * hs + d];
  return out;
}

// ---------------------------------------------------------------------------
// gpu.js kernels: one thread per output element, gathering its source
// ---------------------------------------------------------------------------

interface HeadsThis {
  thread: { x: number };
  constants: { T: number; NH: number; hs: number; part: number };
}

function splitKernel(this: HeadsThis, qkv: number[]): number {
  // i = ((b·NH + h)·T + t)·hs + d, decomposed with exact integer division
  const i = this.thread.x;
  const bht = idiv(i, this.constants.hs);
  const d = i - bht * this.constants.hs;
  const bh = idiv(bht, this.constants.T);
  const t = bht - bh * this.constants.T;
  const b = idiv(bh, this.constants.NH);
  const h = bh - b * this.constants.NH;
  const C = this.constants.NH * this.constants.hs;
  return qkv[(b * this.constants.T + t) * 3 * C + this.constants.part * C + h * this.constants.hs + d];
}

function mergeKernel(this: HeadsThis, y: number[]): number {
  // i = (b·T + t)·C + h·hs + d
  const i = this.thread.x;
  const C = this.constants.NH * this.constants.hs;
  const bt = idiv(i, C);
  const c = i - bt * C;
  const b = idiv(bt, this.constants.T);
  const t = bt - b * this.constants.T;
  const h = idiv(c, this.constants.hs);
  const d = c - h * this.constants.hs;
  return y[((b * this.constants.NH + h) * this.constants.T + t) * this.constants.hs + d];
}

/** (B, T, C) → (B, NH, T, hs): the source of thread (b, h, t, d) is x[b, t, h·hs + d]. */
function unmergeKernel(this: HeadsThis, x: number[]): number {
  const i = this.thread.x;
  const bht = idiv(i, this.constants.hs);
  const d = i - bht * this.constants.hs;
  const bh = idiv(bht, this.constants.T);
  const t = bht - bh * this.constants.T;
  const b = idiv(bh, this.constants.NH);
  const h = bh - b * this.constants.NH;
  const C = this.constants.NH * this.constants.hs;
  return x[(b * this.constants.T + t) * C + h * this.constants.hs + d];
}

/** Three (B, NH, T, hs) → (B, T, 3C). */
function unsplitKernel(this: HeadsThis, q: number[], k: number[], v: number[]): number {
  // i = (b·T + t)·3C + p·C + h·hs + d
  const i = this.thread.x;
  const C = this.constants.NH * this.constants.hs;
  const bt = idiv(i, 3 * C);
  const c3 = i - bt * 3 * C;
  const b = idiv(bt, this.constants.T);
  const t = bt - b * this.constants.T;
  const p = idiv(c3, C);
  const c = c3 - p * C;
  const h = idiv(c, this.constants.hs);
  const d = c - h * this.constants.hs;
  const src = ((b * this.constants.NH + h) * this.constants.T + t) * this.constants.hs + d;
  if (p == 0) {
    return q[src];
  }
  if (p == 1) {
    return k[src];
  }
  return v[src];
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

registerKernel<Dims>({
  kernel: 'splitHeads',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { qkv }, dims) => {
    const x = f64(qkv);
    const shape = [dims.B, dims.NH, dims.T, dims.hs];
    return { q: out64(splitHeadsRef(x, dims, 0), shape), k: out64(splitHeadsRef(x, dims, 1), shape), v: out64(splitHeadsRef(x, dims, 2), shape) };
  },
});
registerKernel<Dims>({
  kernel: 'splitHeads',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { qkv }, { B, T, NH, hs }) => {
    const rt = d.gpujs!;
    const n = B * NH * T * hs;
    const shape = [B, NH, T, hs];
    const run = (part: number) => rt.run({ name: 'heads.split', fn: splitKernel, outputs: n, constants: { T, NH, hs, part } }, [qkv], shape);
    return { q: await run(0), k: await run(1), v: await run(2) };
  },
});
registerKernel<Dims>({
  kernel: 'splitHeads',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dq, dk, dv }, dims) => ({ dqkv: out64(unsplitHeadsRef(f64(dq), f64(dk), f64(dv), dims), [dims.B, dims.T, 3 * dims.NH * dims.hs]) }),
});
registerKernel<Dims>({
  kernel: 'splitHeads',
  phase: 'backward',
  backend: 'gpujs',
  impl: async (d, { dq, dk, dv }, { B, T, NH, hs }) => ({
    dqkv: await d.gpujs!.run({ name: 'heads.unsplit', fn: unsplitKernel, outputs: B * T * 3 * NH * hs, constants: { T, NH, hs, part: 0 } }, [dq, dk, dv], [B, T, 3 * NH * hs]),
  }),
});
registerKernel<Dims>({
  kernel: 'mergeHeads',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { y }, dims) => ({ out: out64(mergeHeadsRef(f64(y), dims), [dims.B, dims.T, dims.NH * dims.hs]) }),
});
registerKernel<Dims>({
  kernel: 'mergeHeads',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { y }, { B, T, NH, hs }) => ({
    out: await d.gpujs!.run({ name: 'heads.merge', fn: mergeKernel, outputs: B * T * NH * hs, constants: { T, NH, hs, part: 0 } }, [y], [B, T, NH * hs]),
  }),
});
registerKernel<Dims>({
  kernel: 'mergeHeads',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dout }, dims) => ({ dy: out64(unmergeHeadsRef(f64(dout), dims), [dims.B, dims.NH, dims.T, dims.hs]) }),
});
registerKernel<Dims>({
  kernel: 'mergeHeads',
  phase: 'backward',
  backend: 'gpujs',
  impl: async (d, { dout }, { B, T, NH, hs }) => ({
    dy: await d.gpujs!.run({ name: 'heads.unmerge', fn: unmergeKernel, outputs: B * NH * T * hs, constants: { T, NH, hs, part: 0 } }, [dout], [B, NH, T, hs]),
  }),
});

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

function headDims(fn: string, x: Tensor, NH: number, C: number): number {
  checkDimension(fn, 'NH', NH);
  if (NH === 0 || C % NH !== 0) {
    throw new ArgumentError(`${fn}: C = ${C} (from ${fmtShape(x.shape)}) must be divisible by NH = ${NH}`);
  }
  return C / NH;
}

/**
 * Splits the fused q|k|v projection into per-head tensors.
 *
 * @param qkv (B, T, 3C)
 * @param NH number of heads; C must be divisible by NH
 * @returns q, k, v each (B, NH, T, hs)
 * @example
 * const { q, k, v } = await splitHeads(dev, qkv, 4); // qkv (2, 8, 3·64) → (2, 4, 8, 16) each
 */
export async function splitHeads(device: Device, qkv: Tensor, NH: number): Promise<{ q: Tensor; k: Tensor; v: Tensor }> {
  checkRank('splitHeads', 'qkv', qkv, 3, ['B', 'T', '3C']);
  const [B, T, C3] = qkv.shape;
  if (C3 % 3 !== 0) throw new ArgumentError(`splitHeads: the last dimension of 'qkv' ${fmtShape(qkv.shape, ['B', 'T', '3C'])} must be 3·C`);
  const hs = headDims('splitHeads', qkv, NH, C3 / 3);
  if (B * T * C3 === 0) {
    const e = () => emptyLike(device.info.precision, [B, NH, T, hs]);
    return { q: e(), k: e(), v: e() };
  }
  const o = await runKernel(device, 'splitHeads', 'forward', { qkv }, { B, T, NH, hs });
  return { q: o.q, k: o.k, v: o.v };
}

/**
 * Backward of splitHeads: reassembles (dq, dk, dv) into dqkv.
 *
 * @param dq (B, NH, T, hs), dk and dv the same
 * @returns dqkv (B, T, 3C)
 *
 * @example
 * const dqkv = await splitHeadsBackward(dev, dq, dk, dv); // (B, T, 3C)
 */
export async function splitHeadsBackward(device: Device, dq: Tensor, dk: Tensor, dv: Tensor): Promise<Tensor> {
  checkRank('splitHeadsBackward', 'dq', dq, 4, ['B', 'NH', 'T', 'hs']);
  const [B, NH, T, hs] = dq.shape;
  checkShape('splitHeadsBackward', 'dk', dk, dq.shape, ['B', 'NH', 'T', 'hs']);
  checkShape('splitHeadsBackward', 'dv', dv, dq.shape, ['B', 'NH', 'T', 'hs']);
  if (dq.size === 0) return emptyLike(device.info.precision, [B, T, 3 * NH * hs]);
  return (await runKernel(device, 'splitHeads', 'backward', { dq, dk, dv }, { B, T, NH, hs })).dqkv;
}

/**
 * Concatenates the heads back into channels.
 *
 * @param y (B, NH, T, hs)
 * @returns (B, T, C) with C = NH·hs
 *
 * @example
 * const y = await mergeHeads(dev, att); // (2, 4, 8, 16) → (2, 8, 64)
 */
export async function mergeHeads(device: Device, y: Tensor): Promise<Tensor> {
  checkRank('mergeHeads', 'y', y, 4, ['B', 'NH', 'T', 'hs']);
  const [B, NH, T, hs] = y.shape;
  if (y.size === 0) return emptyLike(device.info.precision, [B, T, NH * hs]);
  return (await runKernel(device, 'mergeHeads', 'forward', { y }, { B, T, NH, hs })).out;
}

/**
 * Backward of mergeHeads: splits the channel gradient back into heads.
 *
 * @param dout (B, T, C)
 * @param NH number of heads
 * @returns dy (B, NH, T, hs)
 *
 * @example
 * const datt = await mergeHeadsBackward(dev, dy, 4); // (2, 8, 64) → (2, 4, 8, 16)
 */
export async function mergeHeadsBackward(device: Device, dout: Tensor, NH: number): Promise<Tensor> {
  checkRank('mergeHeadsBackward', 'dout', dout, 3, ['B', 'T', 'C']);
  const [B, T, C] = dout.shape;
  const hs = headDims('mergeHeadsBackward', dout, NH, C);
  if (dout.size === 0) return emptyLike(device.info.precision, [B, NH, T, hs]);
  return (await runKernel(device, 'mergeHeads', 'backward', { dout }, { B, T, NH, hs })).dy;
}


