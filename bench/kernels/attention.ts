/**
 * Causal scaled dot-product attention, forward and backward, B = 4, NH = 12,
 * T = S = 256, hs = 64 (GPT-2 small's heads on 1024 tokens).
 *
 * FLOPs are counted as the dense matrix products, causal or not, as the issue's
 * figure for tfjs (≈350 ms ≈ 2.3 GFLOP/s) does: forward q·kᵀ and P·v,
 * 4·B·NH·T²·hs = 0.81 GFLOP; backward dv, dP, dq and dk, 8·B·NH·T²·hs (a
 * recomputation of the scores is not counted). tfjs has no fused attention:
 * its users write scores → softmax → P·v with batched matMul, which is what
 * runs here, with an additive (T, T) mask of −Inf above the diagonal, and
 * explicit tf.transpose rather than matMul's transpose flags (faster on
 * tfjs-wasm, see matmul.ts).
 *
 * Validation: every head is independent, so the check runs the FP64
 * reference and the bound on 4 of the 48 (batch, head) slices (first, last
 * and two between), all T rows of each.
 */
import { attention, attentionBackward, attentionBackwardBound, attentionBackwardRef, attentionBound, attentionRef, type AttentionRefOptions } from '../../src/kernels/attention.js';
import type { ErrorModel } from '../../src/kernels/bounds.js';
import { F64_U } from '../../src/kernels/bounds.js';
import { activations } from '../lib/inputs.js';
import { type BenchCase, host, hostRunner, cachedLazy, cachedPerModel, oursRunner, spread, takeRows, tfjsRunner, verdict } from '../lib/case.js';
import type { Finish } from '../lib/tfjs.js';

export interface AttentionDims4 {
  B: number;
  NH: number;
  T: number;
  hs: number;
}

export const ATTENTION_DIMS: AttentionDims4 = { B: 4, NH: 12, T: 256, hs: 64 };

export function attentionCases(finish: Finish, dims = ATTENTION_DIMS): BenchCase[] {
  const { B, NH, T, hs } = dims;
  const key = (n: string) => `attention.${B}x${NH}x${T}x${hs}.${n}`;
  const BH = B * NH;
  const SCALE = 1 / Math.sqrt(hs);
  const HEADS = spread(BH, Math.min(4, BH));
  const SUB = { B: 1, NH: HEADS.length, T, S: T, hs };

  function refOptions(M: ErrorModel): AttentionRefOptions {
    return { causal: true, scale: SCALE, float32Scores: M.uStore > F64_U };
  }

  /** The sampled heads of a (B, NH, T, hs) array, as (1, |HEADS|, T, hs). */
  const heads = (x: ArrayLike<number>) => takeRows(x, T * hs, HEADS);
  const headsLse = (x: ArrayLike<number>) => takeRows(x, T, HEADS);

  function loopForward(q: Float32Array, k: Float32Array, v: Float32Array) {
    const out = new Float32Array(BH * T * hs);
    const lse = new Float32Array(BH * T);
    const s = new Float64Array(T);
    const acc = new Float64Array(hs);
    for (let bh = 0; bh < BH; bh++)
      for (let t = 0; t < T; t++) {
        const qo = (bh * T + t) * hs;
        let m = -Infinity;
        for (let j = 0; j <= t; j++) {
          const ko = (bh * T + j) * hs;
          let d = 0;
          for (let c = 0; c < hs; c++) d += q[qo + c] * k[ko + c];
          s[j] = d * SCALE;
          if (s[j] > m) m = s[j];
        }
        let l = 0;
        acc.fill(0);
        for (let j = 0; j <= t; j++) {
          const p = Math.exp(s[j] - m);
          l += p;
          const vo = (bh * T + j) * hs;
          for (let c = 0; c < hs; c++) acc[c] += p * v[vo + c];
        }
        for (let c = 0; c < hs; c++) out[qo + c] = acc[c] / l;
        lse[bh * T + t] = m + Math.log(l);
      }
    return { out, lse };
  }

  function loopBackward(dout: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array) {
    const dq = new Float32Array(BH * T * hs);
    const dk = new Float32Array(BH * T * hs);
    const dv = new Float32Array(BH * T * hs);
    for (let bh = 0; bh < BH; bh++)
      for (let t = 0; t < T; t++) {
        const qo = (bh * T + t) * hs;
        let D = 0;
        for (let c = 0; c < hs; c++) D += dout[qo + c] * out[qo + c];
        for (let j = 0; j <= t; j++) {
          const ko = (bh * T + j) * hs;
          let sc = 0;
          let dp = 0;
          for (let c = 0; c < hs; c++) {
            sc += q[qo + c] * k[ko + c];
            dp += dout[qo + c] * v[ko + c];
          }
          const p = Math.exp(sc * SCALE - lse[bh * T + t]);
          const ds = p * (dp - D) * SCALE;
          for (let c = 0; c < hs; c++) {
            dv[ko + c] += p * dout[qo + c];
            dq[qo + c] += ds * k[ko + c];
            dk[ko + c] += ds * q[qo + c];
          }
        }
      }
    return { dq, dk, dv };
  }


  const shape = [B, NH, T, hs];
  const size = `B=${B}, NH=${NH}, T=${T}, hs=${hs}, causal`;
  const data = cachedLazy(key('data'), () => {
    const n = BH * T * hs;
    const q = activations(n, 7000);
    const k = activations(n, 7001);
    const v = activations(n, 7002);
    const dout = activations(n, 7003);
    return { q, k, v, dout };
  });
  const sub = cachedLazy(key('sub'), () => {
    const d = data();
    return { q: heads(d.q), k: heads(d.k), v: heads(d.v), dout: heads(d.dout) };
  });
  const fref = cachedPerModel(key('fref'), (M) => attentionRef(sub().q, sub().k, sub().v, SUB, refOptions(M)));
  const fbound = cachedPerModel(key('fbound'), (M) => attentionBound(M, sub().q, sub().k, sub().v, SUB, refOptions(M), fref(M)));
  // the backward's out and lse: the float32 rounding of the FP64 forward of every head
  const fwdAll = cachedLazy(key('fwdAll'), () => {
    const d = data();
    const r = attentionRef(Float64Array.from(d.q), Float64Array.from(d.k), Float64Array.from(d.v), { B, NH, T, S: T, hs }, { causal: true, scale: SCALE, float32Scores: true });
    return { out: Float32Array.from(r.out), lse: Float32Array.from(r.lse) };
  });
  const bref = cachedPerModel(key('bref'), (M) => {
    const f = fwdAll();
    const s = sub();
    return attentionBackwardRef(s.dout, s.q, s.k, s.v, heads(f.out), headsLse(f.lse), SUB, refOptions(M));
  });
  const bbound = cachedPerModel(key('bbound'), (M) => {
    const f = fwdAll();
    const s = sub();
    return attentionBackwardBound(M, s.dout, s.q, s.k, s.v, heads(f.out), headsLse(f.lse), SUB, refOptions(M), bref(M));
  });
  const tfMask = (tf: import('../lib/case.js').Tf) => {
    const m = new Float32Array(T * T);
    for (let t = 0; t < T; t++) for (let j = t + 1; j < T; j++) m[t * T + j] = -Infinity;
    return tf.tensor2d(m, [T, T]);
  };
  const note = `${HEADS.length} of ${BH} heads`;
  return [
    {
      id: `attention.forward.${B}x${NH}x${T}x${hs}`,
      kernel: 'attention',
      phase: 'forward',
      size,
      metric: 'GFLOP/s',
      work: 4 * BH * T * T * hs,
      workNote: '4·B·NH·T²·hs (q·kᵀ and P·v, dense)',
      quick: true,
      heavy: true,
      data,
      check: (out, M) => [verdict(`out (${note})`, heads(out.out), fref(M).out, fbound(M).out, M), verdict(`lse (${note})`, headsLse(out.lse), fref(M).lse, fbound(M).lse, M)],
      ours: (ctx, d = data()) =>
        oursRunner(ctx, { q: host(d.q, shape), k: host(d.k, shape), v: host(d.v, shape) }, ['q', 'k', 'v'], async ({ q, k, v }) => {
          const r = await attention(ctx.device, q, k, v, { causal: true });
          return { out: r.out, lse: r.lse };
        }),
      tfjs: (tf, d = data()) => {
        const q = tf.tensor4d(d.q, [B, NH, T, hs]);
        const k = tf.tensor4d(d.k, [B, NH, T, hs]);
        const v = tf.tensor4d(d.v, [B, NH, T, hs]);
        const mask = tfMask(tf);
        return tfjsRunner(
          tf,
          () => {
            const s = tf.add(tf.mul(tf.matMul(q, tf.transpose(k, [0, 1, 3, 2])), SCALE), mask);
            const lse = tf.logSumExp(s, -1, true);
            const p = tf.exp(tf.sub(s, lse));
            return { out: tf.matMul(p, v), lse: tf.reshape(lse, [B, NH, T]) };
          },
          finish,
          [q, k, v, mask],
        );
      },
      loop: (d = data()) => hostRunner(() => loopForward(d.q, d.k, d.v)),
    },
    {
      id: `attention.backward.${B}x${NH}x${T}x${hs}`,
      kernel: 'attention',
      phase: 'backward',
      size,
      metric: 'GFLOP/s',
      work: 8 * BH * T * T * hs,
      workNote: '8·B·NH·T²·hs (dv, dP, dq, dk, dense; recomputed scores not counted)',
      quick: true,
      heavy: true,
      data,
      check: (out, M) => {
        const r = bref(M);
        const bb = bbound(M);
        return [verdict(`dq (${note})`, heads(out.dq), r.dq, bb.dq, M), verdict(`dk (${note})`, heads(out.dk), r.dk, bb.dk, M), verdict(`dv (${note})`, heads(out.dv), r.dv, bb.dv, M)];
      },
      ours: (ctx, d = data()) => {
        const f = fwdAll();
        return oursRunner(
          ctx,
          { dout: host(d.dout, shape), q: host(d.q, shape), k: host(d.k, shape), v: host(d.v, shape), out: host(f.out, shape), lse: host(f.lse, [B, NH, T]) },
          ['dout', 'q', 'k', 'v', 'out', 'lse'],
          async ({ dout, q, k, v, out, lse }) => {
            const r = await attentionBackward(ctx.device, dout, q, k, v, out, lse, { causal: true });
            return { dq: r.dq, dk: r.dk, dv: r.dv };
          },
        );
      },
      tfjs: (tf, d = data()) => {
        const f = fwdAll();
        const q = tf.tensor4d(d.q, [B, NH, T, hs]);
        const k = tf.tensor4d(d.k, [B, NH, T, hs]);
        const v = tf.tensor4d(d.v, [B, NH, T, hs]);
        const dout = tf.tensor4d(d.dout, [B, NH, T, hs]);
        const out = tf.tensor4d(f.out, [B, NH, T, hs]);
        const lse = tf.tensor4d(f.lse, [B, NH, T, 1]);
        const mask = tfMask(tf);
        return tfjsRunner(
          tf,
          () => {
            const s = tf.add(tf.mul(tf.matMul(q, tf.transpose(k, [0, 1, 3, 2])), SCALE), mask);
            const p = tf.exp(tf.sub(s, lse));
            const dv = tf.matMul(tf.transpose(p, [0, 1, 3, 2]), dout);
            const dp = tf.matMul(dout, tf.transpose(v, [0, 1, 3, 2]));
            const D = tf.sum(tf.mul(dout, out), -1, true);
            const ds = tf.mul(tf.mul(p, tf.sub(dp, D)), SCALE);
            return { dq: tf.matMul(ds, k), dk: tf.matMul(tf.transpose(ds, [0, 1, 3, 2]), q), dv };
          },
          finish,
          [q, k, v, dout, out, lse, mask],
        );
      },
      loop: (d = data()) => {
        const f = fwdAll();
        return hostRunner(() => loopBackward(d.dout, d.q, d.k, d.v, f.out, f.lse));
      },
    },
  ];
}
