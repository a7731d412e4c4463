/**
 * softmax, logSoftmax and logSumExp over the last axis, forward and backward.
 *
 * Sizes: (1024, 4096) — an attention-sized row — and (64, 50304) — GPT-2's
 * padded vocabulary, few long rows. Memory-bound: bytes = every input read
 * once + every output written once, float32.
 * Inputs: logits.ts outliers, plus an all −Inf row and a NaN row (NaN rows by
 * contract, checked exactly). Backward: dy ~ activations, y from the FP64
 * forward rounded to float32 (what a forward pass would hand over).
 */
import {
  logSoftmax,
  logSoftmaxBackward,
  logSoftmaxBackwardBound,
  logSoftmaxBackwardRef,
  logSoftmaxBound,
  logSoftmaxRef,
  logSumExp,
  logSumExpBound,
  logSumExpRef,
  softmax,
  softmaxBackward,
  softmaxBackwardBound,
  softmaxBackwardRef,
  softmaxBound,
  softmaxRef,
} from '../../src/kernels/softmax.js';
import { activations, logits } from '../lib/inputs.js';
import { type BenchCase, host, hostRunner, cachedLazy, cachedPerModel, oursRunner, tfjsRunner, verdict } from '../lib/case.js';
import type { Finish } from '../lib/tfjs.js';

interface RowsData {
  N: number;
  V: number;
  x: Float32Array;
  x64: Float64Array;
}

export const SOFTMAX_SIZES: { N: number; V: number; quick: boolean }[] = [
  { N: 1024, V: 4096, quick: true },
  { N: 64, V: 50304, quick: true },
];

function rowsData(N: number, V: number, seed: number): () => RowsData {
  return cachedLazy(`softmax.${N}x${V}.${seed}.data`, () => {
    const x = logits(N, V, seed, { maskedRow: true, nanRow: true });
    return { N, V, x, x64: Float64Array.from(x) };
  });
}

const sizeOf = (N: number, V: number) => `(${N}, ${V})`;
const idOf = (k: string, p: string, N: number, V: number) => `${k}.${p}.${N}x${V}`;

/** Straightforward loops: max, Σexp, normalise, in float64 arithmetic over float32 storage. */
function softmaxLoop(x: Float32Array, N: number, V: number, log: boolean): Float32Array {
  const y = new Float32Array(N * V);
  for (let r = 0; r < N; r++) {
    const o = r * V;
    let m = -Infinity;
    for (let j = 0; j < V; j++) if (x[o + j] > m) m = x[o + j];
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(x[o + j] - m);
    if (log) {
      const ls = Math.log(s);
      for (let j = 0; j < V; j++) y[o + j] = x[o + j] - m - ls;
    } else {
      const inv = 1 / s;
      for (let j = 0; j < V; j++) y[o + j] = Math.exp(x[o + j] - m) * inv;
    }
  }
  return y;
}

function lseLoop(x: Float32Array, N: number, V: number): Float32Array {
  const out = new Float32Array(N);
  for (let r = 0; r < N; r++) {
    const o = r * V;
    let m = -Infinity;
    for (let j = 0; j < V; j++) if (x[o + j] > m) m = x[o + j];
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(x[o + j] - m);
    out[r] = m + Math.log(s);
  }
  return out;
}

export function softmaxCases(finish: Finish, sizes = SOFTMAX_SIZES): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const { N, V, quick } of sizes) {
    const key = (n: string) => `softmax.${N}x${V}.${n}`;
    const data = rowsData(N, V, 1000 + N);
    const ref = cachedLazy(key('ref'), () => softmaxRef(data().x64, N, V));
    const bound = cachedPerModel(key('bound'), (M) => softmaxBound(M, data().x64, N, V, ref()));
    cases.push({
      id: idOf('softmax', 'forward', N, V),
      kernel: 'softmax',
      phase: 'forward',
      size: sizeOf(N, V),
      metric: 'GB/s',
      work: 2 * N * V * 4,
      workNote: 'read x, write y (float32)',
      quick,
      data,
      check: (out, M) => [verdict('y', out.y, ref(), bound(M), M, [N, V])],
      ours: (ctx, d = data()) => oursRunner(ctx, { x: host(d.x, [N, V]) }, ['x'], async ({ x }) => ({ y: await softmax(ctx.device, x) })),
      tfjs: (tf, d = data()) => {
        const x = tf.tensor2d(d.x, [N, V]);
        return tfjsRunner(tf, () => ({ y: tf.softmax(x) }), finish, [x]);
      },
      loop: (d = data()) => hostRunner(() => ({ y: softmaxLoop(d.x, N, V, false) })),
    });

    // backward: y is the float32 rounding of the exact forward, dy has outliers
    const bdata = cachedLazy(key('bdata'), () => {
      const d = data();
      const y = Float32Array.from(ref());
      const dy = activations(N * V, 2000 + N);
      return { ...d, y, dy, y64: Float64Array.from(y), dy64: Float64Array.from(dy) };
    });
    const bref = cachedLazy(key('bref'), () => softmaxBackwardRef(bdata().dy64, bdata().y64, N, V));
    const bbound = cachedPerModel(key('bbound'), (M) => softmaxBackwardBound(M, bdata().dy64, bdata().y64, N, V, bref()));
    cases.push({
      id: idOf('softmax', 'backward', N, V),
      kernel: 'softmax',
      phase: 'backward',
      size: sizeOf(N, V),
      metric: 'GB/s',
      work: 3 * N * V * 4,
      workNote: 'read y, dy; write dx',
      quick,
      data: bdata,
      check: (out, M) => [verdict('dx', out.dx, bref(), bbound(M), M, [N, V])],
      ours: (ctx, d = bdata()) =>
        oursRunner(ctx, { dy: host(d.dy, [N, V]), y: host(d.y, [N, V]) }, ['dy', 'y'], async ({ dy, y }) => ({ dx: await softmaxBackward(ctx.device, dy, y) })),
      tfjs: (tf, d = bdata()) => {
        const y = tf.tensor2d(d.y, [N, V]);
        const dy = tf.tensor2d(d.dy, [N, V]);
        return tfjsRunner(tf, () => ({ dx: tf.mul(y, tf.sub(dy, tf.sum(tf.mul(y, dy), -1, true))) }), finish, [y, dy]);
      },
      loop: (d = bdata()) =>
        hostRunner(() => {
          const dx = new Float32Array(N * V);
          for (let r = 0; r < N; r++) {
            const o = r * V;
            let c = 0;
            for (let j = 0; j < V; j++) c += d.y[o + j] * d.dy[o + j];
            for (let j = 0; j < V; j++) dx[o + j] = d.y[o + j] * (d.dy[o + j] - c);
          }
          return { dx };
        }),
    });

    // logSoftmax and logSumExp forward (full mode: same data)
    const lref = cachedLazy(key('lref'), () => logSoftmaxRef(data().x64, N, V));
    const lbound = cachedPerModel(key('lbound'), (M) => logSoftmaxBound(M, data().x64, N, V, lref()));
    cases.push({
      id: idOf('logSoftmax', 'forward', N, V),
      kernel: 'logSoftmax',
      phase: 'forward',
      size: sizeOf(N, V),
      metric: 'GB/s',
      work: 2 * N * V * 4,
      workNote: 'read x, write y',
      quick: false,
      data,
      check: (out, M) => [verdict('y', out.y, lref(), lbound(M), M, [N, V])],
      ours: (ctx, d = bdata()) => oursRunner(ctx, { x: host(d.x, [N, V]) }, ['x'], async ({ x }) => ({ y: await logSoftmax(ctx.device, x) })),
      tfjs: (tf, d = bdata()) => {
        const x = tf.tensor2d(d.x, [N, V]);
        return tfjsRunner(tf, () => ({ y: tf.logSoftmax(x) }), finish, [x]);
      },
      loop: (d = bdata()) => hostRunner(() => ({ y: softmaxLoop(d.x, N, V, true) })),
    });
    const sref = cachedLazy(key('sref'), () => logSumExpRef(data().x64, N, V));
    const sbound = cachedPerModel(key('sbound'), (M) => logSumExpBound(M, data().x64, N, V, sref()));
    cases.push({
      id: idOf('logSumExp', 'forward', N, V),
      kernel: 'logSumExp',
      phase: 'forward',
      size: sizeOf(N, V),
      metric: 'GB/s',
      work: N * V * 4 + N * 4,
      workNote: 'read x, write lse',
      quick: false,
      data,
      check: (out, M) => [verdict('lse', out.lse, sref(), sbound(M), M, [N])],
      ours: (ctx, d = bdata()) => oursRunner(ctx, { x: host(d.x, [N, V]) }, ['x'], async ({ x }) => ({ lse: await logSumExp(ctx.device, x) })),
      tfjs: (tf, d = bdata()) => {
        const x = tf.tensor2d(d.x, [N, V]);
        return tfjsRunner(tf, () => ({ lse: tf.logSumExp(x, -1) }), finish, [x]);
      },
      loop: (d = bdata()) => hostRunner(() => ({ lse: lseLoop(d.x, N, V) })),
    });

    // logSoftmax backward
    const lbdata = cachedLazy(key('lbdata'), () => {
      const d = data();
      const y = Float32Array.from(lref());
      const dy = activations(N * V, 3000 + N);
      return { ...d, y, dy, y64: Float64Array.from(y), dy64: Float64Array.from(dy) };
    });
    const lbref = cachedLazy(key('lbref'), () => logSoftmaxBackwardRef(lbdata().dy64, lbdata().y64, N, V));
    const lbbound = cachedPerModel(key('lbbound'), (M) => logSoftmaxBackwardBound(M, lbdata().dy64, lbdata().y64, N, V, lbref()));
    cases.push({
      id: idOf('logSoftmax', 'backward', N, V),
      kernel: 'logSoftmax',
      phase: 'backward',
      size: sizeOf(N, V),
      metric: 'GB/s',
      work: 3 * N * V * 4,
      workNote: 'read y, dy; write dx',
      quick: false,
      data: lbdata,
      check: (out, M) => [verdict('dx', out.dx, lbref(), lbbound(M), M, [N, V])],
      ours: (ctx, d = lbdata()) =>
        oursRunner(ctx, { dy: host(d.dy, [N, V]), y: host(d.y, [N, V]) }, ['dy', 'y'], async ({ dy, y }) => ({ dx: await logSoftmaxBackward(ctx.device, dy, y) })),
      tfjs: (tf, d = lbdata()) => {
        const y = tf.tensor2d(d.y, [N, V]);
        const dy = tf.tensor2d(d.dy, [N, V]);
        return tfjsRunner(tf, () => ({ dx: tf.sub(dy, tf.mul(tf.exp(y), tf.sum(dy, -1, true))) }), finish, [y, dy]);
      },
      loop: (d = lbdata()) =>
        hostRunner(() => {
          const dx = new Float32Array(N * V);
          for (let r = 0; r < N; r++) {
            const o = r * V;
            let S = 0;
            for (let j = 0; j < V; j++) S += d.dy[o + j];
            for (let j = 0; j < V; j++) dx[o + j] = d.dy[o + j] - Math.exp(d.y[o + j]) * S;
          }
          return { dx };
        }),
    });
  }
  return cases;
}
