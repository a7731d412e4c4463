/**
 * matmul, forward and backward.
 *
 *   512³               c (512, 512) = a (512, 512)·b (512, 512)
 *   1024×768×3072      y (1024, 3072) = x (1024, 768)·wᵀ + bias, w (3072, 768):
 *                      GPT-2 small's MLP up-projection (c_fc) on 1024 tokens,
 *                      in PyTorch Linear's weight layout (transB) with a bias.
 * FLOPs: 2·M·K·N forward (+ M·N for the bias), 4·M·K·N backward (da and db,
 * + M·N for dbias).
 *
 * Validation samples the output: the FP64 product of all rows is O(M·K·N) in
 * JavaScript (seconds) and so is its bound, so the check computes the
 * reference and the bound for 24 rows of c (spread over M, first and last
 * included) against the whole of b, and for the backward 24 rows of da and 24
 * columns of db and dbias against the whole reduction — every sampled element
 * is exact, only which elements are checked is a sample.
 */
import { matmul, matmulBackward, matmulBackwardBound, matmulBackwardRef, matmulBound, matmulRef } from '../../src/kernels/matmul.js';
import { activations, matrix } from '../lib/inputs.js';
import { type BenchCase, type CheckResult, host, hostRunner, cachedLazy, cachedPerModel, oursRunner, spread, takeCols, takeRows, tfjsRunner, verdict } from '../lib/case.js';
import type { Finish } from '../lib/tfjs.js';
import type { Tensor } from '../../src/tensor.js';
import type { Tensor as TfTensor } from '@tensorflow/tfjs-core';

const SAMPLE = 24;

export interface MatmulShape {
  M: number;
  K: number;
  N: number;
  transB: boolean;
  bias: boolean;
  label: string;
  size: string;
  quick: boolean;
}

export const MATMUL_SHAPES: MatmulShape[] = [
  { M: 512, K: 512, N: 512, transB: false, bias: false, label: '512x512x512', size: '512³', quick: true },
  { M: 1024, K: 768, N: 3072, transB: true, bias: true, label: '1024x768x3072', size: '(1024×768)·(768×3072) + bias', quick: true },
];

/** b restricted to output columns J, in its own layout: (K, |J|) plain, (|J|, K) with transB. */
function bCols(b: Float64Array, K: number, N: number, transB: boolean, J: readonly number[]): Float64Array {
  return transB ? takeRows(b, K, J) : takeCols(b, K, N, J);
}

function loopForward(a: Float32Array, b: Float32Array, bias: Float32Array | undefined, M: number, K: number, N: number, transB: boolean): Float32Array {
  const c = new Float32Array(M * N);
  if (transB) {
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[i * K + k] * b[j * K + k];
        c[i * N + j] = bias ? s + bias[j] : s;
      }
  } else {
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) {
        const aik = a[i * K + k];
        for (let j = 0; j < N; j++) c[i * N + j] += aik * b[k * N + j];
      }
      if (bias) for (let j = 0; j < N; j++) c[i * N + j] += bias[j];
    }
  }
  return c;
}

function loopBackward(dout: Float32Array, a: Float32Array, b: Float32Array, M: number, K: number, N: number, transB: boolean, bias: boolean) {
  const da = new Float32Array(M * K);
  const db = new Float32Array(K * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      const d = dout[i * N + j];
      if (transB) {
        // da_i += d·w_j, dw_j += d·a_i
        for (let k = 0; k < K; k++) {
          da[i * K + k] += d * b[j * K + k];
          db[j * K + k] += d * a[i * K + k];
        }
      } else {
        for (let k = 0; k < K; k++) {
          da[i * K + k] += d * b[k * N + j];
          db[k * N + j] += d * a[i * K + k];
        }
      }
    }
  }
  const out: Record<string, Float32Array> = { da, db };
  if (bias) {
    const dbias = new Float32Array(N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) dbias[j] += dout[i * N + j];
    out.dbias = dbias;
  }
  return out;
}

export function matmulCases(finish: Finish, shapes = MATMUL_SHAPES): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const s of shapes) {
    const { M, K, N, transB } = s;
    const key = (n: string) => `matmul.${s.label}.${n}`;
    const data = cachedLazy(key('data'), () => {
      const a = matrix(M, K, 1, 6000 + M);
      const b = transB ? matrix(N, K, K, 6100 + N) : matrix(K, N, K, 6100 + N);
      const bias = s.bias ? activations(N, 6200, { scale: 0.1 }) : undefined;
      const dout = activations(M * N, 6300);
      return { a, b, bias, dout, a64: Float64Array.from(a), b64: Float64Array.from(b), bias64: bias ? Float64Array.from(bias) : undefined, dout64: Float64Array.from(dout) };
    });
    const rows = spread(M, SAMPLE);
    const cols = spread(N, SAMPLE);
    const fwd = cachedLazy(key('fwd'), () => {
      const d = data();
      const aI = takeRows(d.a64, K, rows);
      return { aI, ref: matmulRef(aI, d.b64, rows.length, K, N, transB, d.bias64) };
    });
    const fwdBound = cachedPerModel(key('fwdBound'), (Me) => matmulBound(Me, fwd().aI, data().b64, rows.length, K, N, transB, data().bias64, fwd().ref));
    cases.push({
      id: `matmul.forward.${s.label}`,
      kernel: 'matmul',
      phase: 'forward',
      size: s.size,
      metric: 'GFLOP/s',
      work: 2 * M * K * N + (s.bias ? M * N : 0),
      workNote: '2·M·K·N (+ M·N bias adds)',
      quick: s.quick,
      heavy: M * K * N > 2 ** 28,
      data,
      check: (out, Me) => [verdict(`c (${rows.length} sampled rows)`, takeRows(out.c, N, rows), fwd().ref, fwdBound(Me), Me, [rows.length, N])],
      ours: (ctx, d = data()) =>
        oursRunner(
          ctx,
          { a: host(d.a, [M, K]), b: host(d.b, transB ? [N, K] : [K, N]), ...(d.bias ? { bias: host(d.bias, [N]) } : {}) },
          ['a', 'b', 'bias'].filter((n) => n !== 'bias' || s.bias),
          async ({ a, b, bias }) => ({ c: await matmul(ctx.device, a, b, { transB, ...(bias ? { bias } : {}) }) }),
        ),
      tfjs: (tf, d = data()) => {
        const a = tf.tensor2d(d.a, [M, K]);
        const b = tf.tensor2d(d.b, transB ? [N, K] : [K, N]);
        const bias = d.bias ? tf.tensor1d(d.bias) : undefined;
        return tfjsRunner(
          tf,
          () => {
            const bb = transB ? tf.transpose(b) : b;
            return { c: bias ? tf.add(tf.matMul(a, bb), bias) : tf.matMul(a, bb) };
          },
          finish,
          bias ? [a, b, bias] : [a, b],
        );
      },
      loop: (d = data()) => hostRunner(() => ({ c: loopForward(d.a, d.b, d.bias, M, K, N, transB) })),
    });

    // backward: da rows sampled, db and dbias columns sampled
    const bwd = cachedLazy(key('bwd'), () => {
      const d = data();
      const doutI = takeRows(d.dout64, N, rows);
      const aI = takeRows(d.a64, K, rows);
      const rRows = matmulBackwardRef(doutI, aI, d.b64, rows.length, K, N, transB);
      const doutJ = takeCols(d.dout64, M, N, cols);
      const bJ = bCols(d.b64, K, N, transB, cols);
      const rCols = matmulBackwardRef(doutJ, d.a64, bJ, M, K, cols.length, transB);
      return { doutI, aI, rRows, doutJ, bJ, rCols };
    });
    const bwdBound = cachedPerModel(key('bwdBound'), (Me) => {
      const d = data();
      const w = bwd();
      return {
        rows: matmulBackwardBound(Me, w.doutI, w.aI, d.b64, rows.length, K, N, transB, w.rRows),
        cols: matmulBackwardBound(Me, w.doutJ, d.a64, w.bJ, M, K, cols.length, transB, w.rCols),
      };
    });
    cases.push({
      id: `matmul.backward.${s.label}`,
      kernel: 'matmul',
      phase: 'backward',
      size: s.size,
      metric: 'GFLOP/s',
      work: 4 * M * K * N + (s.bias ? M * N : 0),
      workNote: '4·M·K·N for da and db (+ M·N for dbias)',
      quick: s.quick,
      heavy: M * K * N > 2 ** 28,
      data,
      check: (out, Me): CheckResult[] => {
        const w = bwd();
        const bb = bwdBound(Me);
        const res = [
          verdict(`da (${rows.length} sampled rows)`, takeRows(out.da, K, rows), w.rRows.da, bb.rows.da, Me, [rows.length, K]),
          verdict(`db (${cols.length} sampled columns)`, bCols(Float64Array.from(out.db), K, N, transB, cols), w.rCols.db, bb.cols.db, Me),
        ];
        if (s.bias) res.push(verdict(`dbias (${cols.length} sampled)`, cols.map((j) => out.dbias[j]), w.rCols.dbias, bb.cols.dbias, Me));
        return res;
      },
      ours: (ctx, d = data()) =>
        oursRunner(ctx, { dout: host(d.dout, [M, N]), a: host(d.a, [M, K]), b: host(d.b, transB ? [N, K] : [K, N]) }, ['dout', 'a', 'b'], async ({ dout, a, b }) => {
          const r = await matmulBackward(ctx.device, dout, a, b, { transB, bias: s.bias });
          const outs: Record<string, Tensor> = { da: r.da, db: r.db };
          if (r.dbias) outs.dbias = r.dbias;
          return outs;
        }),
      tfjs: (tf, d = data()) => {
        const dout = tf.tensor2d(d.dout, [M, N]);
        const a = tf.tensor2d(d.a, [M, K]);
        const b = tf.tensor2d(d.b, transB ? [N, K] : [K, N]);
        return tfjsRunner(
          tf,
          (): Record<string, TfTensor> => {
            if (transB) return { da: tf.matMul(dout, b), db: tf.matMul(tf.transpose(dout), a), dbias: tf.sum(dout, 0) };
            return { da: tf.matMul(dout, tf.transpose(b)), db: tf.matMul(tf.transpose(a), dout) };
          },
          finish,
          [dout, a, b],
        );
      },
      loop: (d = data()) => hostRunner(() => loopBackward(d.dout, d.a, d.b, M, K, N, transB, s.bias)),
    });
  }
  return cases;
}
