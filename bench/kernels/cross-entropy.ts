/**
 * crossEntropy (fused log-softmax + NLL, reduction 'mean'), forward and backward.
 *
 * Sizes as softmax: (1024, 4096) and (64, 50304). Memory-bound: forward reads
 * the logits and the targets once and writes lse and the loss; backward reads
 * logits, targets and lse and writes dlogits.
 * Inputs: logits.ts outliers (no masked or NaN rows: one NaN row would make the
 * mean NaN and the check of the other rows meaningless); targets never point
 * at a −Inf logit. Backward uses the float32 rounding of the exact lse, dloss = 1.
 *
 * The tfjs formulation is the one a tfjs user writes for class-index targets
 * without materialising a one-hot matrix in the forward pass:
 *   lse = logSumExp(x), loss = mean(lse − gather(x, t));
 * backward: (exp(x − lse) − oneHot(t))·dloss/N.
 */
import { crossEntropy, crossEntropyBackward, crossEntropyBackwardBound, crossEntropyBackwardRef, crossEntropyBound, crossEntropyRef } from '../../src/kernels/cross-entropy.js';
import { logSumExpBound } from '../../src/kernels/softmax.js';
import { logits, targets } from '../lib/inputs.js';
import { type BenchCase, host, hostRunner, cachedLazy, cachedPerModel, oursRunner, tfjsRunner, verdict } from '../lib/case.js';
import type { Finish } from '../lib/tfjs.js';

export const CROSS_ENTROPY_SIZES: { N: number; V: number; quick: boolean }[] = [
  { N: 1024, V: 4096, quick: true },
  { N: 64, V: 50304, quick: true },
];
const CONFIG = { ignoreIndex: -100, labelSmoothing: 0, reduction: 'mean' as const };

export function crossEntropyCases(finish: Finish, sizes = CROSS_ENTROPY_SIZES): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const { N, V, quick } of sizes) {
    const key = (n: string) => `crossEntropy.${N}x${V}.${n}`;
    const data = cachedLazy(key('data'), () => {
      const x = logits(N, V, 4000 + N);
      const t = targets(x, N, V, 4100 + N);
      const x64 = Float64Array.from(x);
      const flat = new Int32Array(N);
      for (let r = 0; r < N; r++) flat[r] = r * V + t[r];
      return { x, t, x64, flat };
    });
    const ref = cachedLazy(key('ref'), () => crossEntropyRef(data().x64, data().t, N, V, CONFIG));
    const lossBound = cachedPerModel(key('lossBound'), (M) => crossEntropyBound(M, data().x64, data().t, N, V, CONFIG, ref().loss));
    const lseBound = cachedPerModel(key('lseBound'), (M) => logSumExpBound(M, data().x64, N, V, ref().lse));
    const size = `(${N}, ${V})`;
    cases.push({
      id: `crossEntropy.forward.${N}x${V}`,
      kernel: 'crossEntropy',
      phase: 'forward',
      size,
      metric: 'GB/s',
      work: N * V * 4 + N * 4 + N * 4 + 4,
      workNote: 'read logits and targets, write lse and the loss',
      quick,
      data,
      check: (out, M) => [verdict('loss', out.loss, ref().loss, lossBound(M), M), verdict('lse', out.lse, ref().lse, lseBound(M), M, [N])],
      ours: (ctx, d = data()) =>
        oursRunner(ctx, { x: host(d.x, [N, V]), t: host(d.t, [N]) }, ['x'], async ({ x, t }) => {
          const r = await crossEntropy(ctx.device, x, t);
          return { loss: r.loss, lse: r.lse };
        }),
      tfjs: (tf, d = data()) => {
        const x = tf.tensor2d(d.x, [N, V]);
        const flat = tf.tensor1d(d.flat, 'int32');
        return tfjsRunner(
          tf,
          () => {
            const lse = tf.logSumExp(x, -1);
            const picked = tf.gather(tf.reshape(x, [N * V]), flat);
            return { loss: tf.mean(tf.sub(lse, picked)), lse };
          },
          finish,
          [x, flat],
        );
      },
      loop: (d = data()) =>
        hostRunner(() => {
          const lse = new Float32Array(N);
          let sum = 0;
          for (let r = 0; r < N; r++) {
            const o = r * V;
            let m = -Infinity;
            for (let j = 0; j < V; j++) if (d.x[o + j] > m) m = d.x[o + j];
            let s = 0;
            for (let j = 0; j < V; j++) s += Math.exp(d.x[o + j] - m);
            lse[r] = m + Math.log(s);
            sum += Math.log(s) + (m - d.x[o + d.t[r]]);
          }
          return { loss: Float32Array.of(sum / N), lse };
        }),
    });

    const bdata = cachedLazy(key('bdata'), () => {
      const d = data();
      const lse = Float32Array.from(ref().lse);
      return { ...d, lse, lse64: Float64Array.from(lse) };
    });
    const dloss = Float64Array.of(1);
    const bref = cachedLazy(key('bref'), () => crossEntropyBackwardRef(dloss, bdata().x64, bdata().t, bdata().lse64, N, V, CONFIG));
    const bbound = cachedPerModel(key('bbound'), (M) => crossEntropyBackwardBound(M, dloss, bdata().x64, bdata().t, bdata().lse64, N, V, CONFIG, bref()));
    cases.push({
      id: `crossEntropy.backward.${N}x${V}`,
      kernel: 'crossEntropy',
      phase: 'backward',
      size,
      metric: 'GB/s',
      work: 2 * N * V * 4 + 2 * N * 4,
      workNote: 'read logits, targets, lse; write dlogits',
      quick,
      data: bdata,
      check: (out, M) => [verdict('dlogits', out.dlogits, bref(), bbound(M), M, [N, V])],
      ours: (ctx, d = bdata()) =>
        oursRunner(
          ctx,
          { x: host(d.x, [N, V]), t: host(d.t, [N]), lse: host(d.lse, [N]), dloss: host(Float32Array.of(1), []) },
          ['x', 'lse'],
          async ({ x, t, lse, dloss: g }) => ({ dlogits: await crossEntropyBackward(ctx.device, g, x, t, lse) }),
        ),
      tfjs: (tf, d = bdata()) => {
        const x = tf.tensor2d(d.x, [N, V]);
        const t = tf.tensor1d(d.t, 'int32');
        const lse = tf.tensor2d(d.lse, [N, 1]);
        return tfjsRunner(tf, () => ({ dlogits: tf.mul(tf.sub(tf.exp(tf.sub(x, lse)), tf.oneHot(t, V)), 1 / N) }), finish, [x, t, lse]);
      },
      loop: (d = bdata()) =>
        hostRunner(() => {
          const dx = new Float32Array(N * V);
          const g = 1 / N;
          for (let r = 0; r < N; r++) {
            const o = r * V;
            for (let j = 0; j < V; j++) dx[o + j] = g * Math.exp(d.x[o + j] - d.lse[r]);
            dx[o + d.t[r]] -= g;
          }
          return { dlogits: dx };
        }),
    });
  }
  return cases;
}
