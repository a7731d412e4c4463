/**
 * LayerNorm over the last axis, forward and backward, (4096, 768): GPT-2
 * small's channels on 4096 tokens.
 *
 * Bytes: forward reads x (N·C) and weight, bias (2C), writes y (N·C) and the
 * cached mean and rstd (2N); backward reads dout and x (2·N·C), weight, mean
 * and rstd, writes dx (N·C), dweight and dbias (2C).
 * Inputs: activations with an offset of 300 on every row (the mean is large
 * against the spread: a one-pass E[x²] − E[x]² variance loses digits there)
 * and one row of equal values (zero variance: rstd = 1/√eps).
 *
 * The library's kernel is found at run time (src/kernels/layernorm.ts or
 * layer-norm.ts, see lib/optional.ts). Until it exists, the case runs the
 * peers and the loop baseline only, and their outputs are compared with a
 * bench-local FP64 reference under a generic agreement tolerance (below),
 * which is not a kernel bound — there is none yet.
 */
import type { ErrorModel } from '../../src/kernels/bounds.js';
import { activations } from '../lib/inputs.js';
import { type BenchCase, type CheckResult, type HostOutputs, type Runner, type Tf, hostRunner, lazy, tfjsRunner, verdict } from '../lib/case.js';
import type { Finish } from '../lib/tfjs.js';

export const LAYERNORM_DIMS = { N: 4096, C: 768 };
const EPS = 1e-5;
/** Agreement tolerance for implementations without a library bound: 2^-12 relative to the terms' magnitude. */
const AGREE = 2 ** -12;

export interface LayerNormData {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  dout: Float32Array;
}

/** FP64 LayerNorm with a two-pass variance; mean and rstd per row. */
export function layerNormRef64(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, rows: number, C: number, eps: number) {
  const y = new Float64Array(rows * C);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += x[r * C + c];
    const mu = s / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - mu) ** 2;
    const rs = 1 / Math.sqrt(v / C + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - mu) * rs * w[c] + b[c];
  }
  return { y, mean, rstd };
}

/** FP64 backward from the FP64 mean and rstd. */
export function layerNormBackwardRef64(dout: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, mean: Float64Array, rstd: Float64Array, rows: number, C: number) {
  const dx = new Float64Array(rows * C);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    let m1 = 0;
    let m2 = 0;
    for (let c = 0; c < C; c++) {
      const xh = (x[r * C + c] - mean[r]) * rstd[r];
      const g = dout[r * C + c] * w[c];
      m1 += g;
      m2 += g * xh;
      dw[c] += dout[r * C + c] * xh;
      db[c] += dout[r * C + c];
    }
    m1 /= C;
    m2 /= C;
    for (let c = 0; c < C; c++) {
      const xh = (x[r * C + c] - mean[r]) * rstd[r];
      dx[r * C + c] = rstd[r] * (dout[r * C + c] * w[c] - m1 - xh * m2);
    }
  }
  return { dx, dw, db };
}

/** Generic allowance: AGREE × the magnitude of the terms, plus AGREE² absolute. */
function agreement(ref: Float64Array, scale: (i: number) => number): Float64Array {
  const a = new Float64Array(ref.length);
  for (let i = 0; i < ref.length; i++) a[i] = AGREE * (Math.abs(ref[i]) + scale(i)) + AGREE * AGREE;
  return a;
}

function loopForward(d: LayerNormData, N: number, C: number): HostOutputs {
  const y = new Float32Array(N * C);
  const mean = new Float32Array(N);
  const rstd = new Float32Array(N);
  for (let r = 0; r < N; r++) {
    const o = r * C;
    let s = 0;
    for (let c = 0; c < C; c++) s += d.x[o + c];
    const mu = s / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (d.x[o + c] - mu) * (d.x[o + c] - mu);
    const rs = 1 / Math.sqrt(v / C + EPS);
    for (let c = 0; c < C; c++) y[o + c] = (d.x[o + c] - mu) * rs * d.w[c] + d.b[c];
    mean[r] = mu;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

function loopBackward(d: LayerNormData, mean: Float32Array, rstd: Float32Array, N: number, C: number): HostOutputs {
  const dx = new Float32Array(N * C);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  for (let r = 0; r < N; r++) {
    const o = r * C;
    let m1 = 0;
    let m2 = 0;
    for (let c = 0; c < C; c++) {
      const xh = (d.x[o + c] - mean[r]) * rstd[r];
      const g = d.dout[o + c] * d.w[c];
      m1 += g;
      m2 += g * xh;
      dw[c] += d.dout[o + c] * xh;
      db[c] += d.dout[o + c];
    }
    m1 /= C;
    m2 /= C;
    for (let c = 0; c < C; c++) {
      const xh = (d.x[o + c] - mean[r]) * rstd[r];
      dx[o + c] = rstd[r] * (d.dout[o + c] * d.w[c] - m1 - xh * m2);
    }
  }
  return { dx, dweight: Float32Array.from(dw), dbias: Float32Array.from(db) };
}

export function layerNormCases(finish: Finish, oursMissing: string, dims = LAYERNORM_DIMS): BenchCase[] {
  const { N, C } = dims;
  const data = lazy((): LayerNormData => {
    const x = activations(N * C, 9000, { offset: 300 });
    x.fill(7.25, Math.min(5, N - 1) * C, Math.min(6, N) * C); // a zero-variance row
    const w = activations(C, 9001, { scale: 0.2 }).map((v) => 1 + v);
    const b = activations(C, 9002, { scale: 0.1 });
    const dout = activations(N * C, 9003);
    return { x, w, b, dout };
  });
  const ref = lazy(() => layerNormRef64(data().x, data().w, data().b, N, C, EPS));
  const fwdStats = lazy(() => ({ mean: Float32Array.from(ref().mean), rstd: Float32Array.from(ref().rstd) }));
  const bref = lazy(() => layerNormBackwardRef64(data().dout, data().x, data().w, ref().mean, ref().rstd, N, C));
  const note = 'bench-local FP64 reference, agreement tolerance 2^-12 (no library bound yet)';
  const checkFwd = (out: HostOutputs, M: ErrorModel): CheckResult[] => {
    const r = ref();
    const d = data();
    return [
      verdict(`y (${note})`, out.y, r.y, agreement(r.y, (i) => Math.abs(d.b[i % C])), M),
      verdict('mean', out.mean, r.mean, agreement(r.mean, () => 0), M),
      verdict('rstd', out.rstd, r.rstd, agreement(r.rstd, () => 0), M),
    ];
  };
  const checkBwd = (out: HostOutputs, M: ErrorModel): CheckResult[] => {
    const r = bref();
    let dwScale = 0;
    for (let i = 0; i < C; i++) dwScale = Math.max(dwScale, Math.abs(r.dw[i]));
    return [
      verdict(`dx (${note})`, out.dx, r.dx, agreement(r.dx, () => 0), M),
      verdict('dweight', out.dweight, r.dw, agreement(r.dw, () => Math.sqrt(N) * 1e-3 * dwScale), M),
      verdict('dbias', out.dbias, r.db, agreement(r.db, () => Math.sqrt(N) * 1e-3), M),
    ];
  };
  return [
    {
      id: `layerNorm.forward.${N}x${C}`,
      kernel: 'layerNorm',
      phase: 'forward',
      size: `(${N}, ${C})`,
      metric: 'GB/s',
      work: (2 * N * C + 2 * C + 2 * N) * 4,
      workNote: 'read x, weight, bias; write y, mean, rstd',
      quick: true,
      data,
      check: checkFwd,
      oursMissing,
      tfjs: (tf: Tf, d = data()) => {
        const x = tf.tensor2d(d.x, [N, C]);
        const w = tf.tensor1d(d.w);
        const b = tf.tensor1d(d.b);
        return tfjsRunner(
          tf,
          () => {
            const { mean, variance } = tf.moments(x, -1, true);
            const rstd = tf.rsqrt(tf.add(variance, EPS));
            const y = tf.add(tf.mul(tf.mul(tf.sub(x, mean), rstd), w), b);
            return { y, mean: tf.reshape(mean, [N]), rstd: tf.reshape(rstd, [N]) };
          },
          finish,
          [x, w, b],
        );
      },
      loop: (d = data()): Runner => hostRunner(() => loopForward(d, N, C)),
    },
    {
      id: `layerNorm.backward.${N}x${C}`,
      kernel: 'layerNorm',
      phase: 'backward',
      size: `(${N}, ${C})`,
      metric: 'GB/s',
      work: (3 * N * C + 3 * C + 2 * N) * 4,
      workNote: 'read dout, x, weight, mean, rstd; write dx, dweight, dbias',
      quick: true,
      data,
      check: checkBwd,
      oursMissing,
      tfjs: (tf: Tf, d = data()) => {
        const x = tf.tensor2d(d.x, [N, C]);
        const w = tf.tensor1d(d.w);
        const dout = tf.tensor2d(d.dout, [N, C]);
        const mean = tf.tensor2d(fwdStats().mean, [N, 1]);
        const rstd = tf.tensor2d(fwdStats().rstd, [N, 1]);
        return tfjsRunner(
          tf,
          () => {
            const xh = tf.mul(tf.sub(x, mean), rstd);
            const g = tf.mul(dout, w);
            const m1 = tf.mean(g, -1, true);
            const m2 = tf.mean(tf.mul(g, xh), -1, true);
            const dx = tf.mul(rstd, tf.sub(tf.sub(g, m1), tf.mul(xh, m2)));
            return { dx, dweight: tf.sum(tf.mul(dout, xh), 0), dbias: tf.sum(dout, 0) };
          },
          finish,
          [x, w, dout, mean, rstd],
        );
      },
      loop: (d = data()): Runner => hostRunner(() => loopBackward(d, fwdStats().mean, fwdStats().rstd, N, C)),
    },
  ];
}
