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
 * The library's kernel is found at run time (src/kernels/layernorm.ts, see
 * lib/optional.ts and LayerNormModule below). With it, every subject is
 * checked with its layerNormRef and layerNormBound / layerNormBackwardBound.
 * Without it, the case runs the peers and the loop baseline only, compared
 * with a bench-local FP64 reference under a generic agreement tolerance
 * (below), which is not a kernel bound.
 */
import type { Device } from '../../src/device.js';
import type { ErrorModel } from '../../src/kernels/bounds.js';
import type { Tensor } from '../../src/tensor.js';
import { activations } from '../lib/inputs.js';
import { type BenchCase, type CheckResult, type HostOutputs, type Runner, type Tf, host, hostRunner, cachedLazy, cachedPerModel, oursRunner, tfjsRunner, verdict } from '../lib/case.js';
import type { Finish } from '../lib/tfjs.js';

export const LAYERNORM_DIMS = { N: 4096, C: 768 };
const EPS = 1e-5;
/** Agreement tolerance for implementations without a library bound: 2^-12 relative to the terms' magnitude. */
const AGREE = 2 ** -12;

/** The API of src/kernels/layernorm.ts that these cases use (imported at run time). */
export interface LayerNormModule {
  layerNorm(device: Device, x: Tensor, weight: Tensor, bias: Tensor, options?: { eps?: number }): Promise<{ out: Tensor; mean: Tensor; rstd: Tensor }>;
  layerNormBackward(device: Device, dout: Tensor, x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor): Promise<{ dx: Tensor; dweight: Tensor; dbias: Tensor }>;
  layerNormRef(x: Float64Array, w: Float64Array, b: Float64Array, N: number, C: number, eps: number): { out: Float64Array; mean: Float64Array; rstd: Float64Array };
  layerNormBackwardRef(dout: Float64Array, x: Float64Array, w: Float64Array, mean: Float64Array, rstd: Float64Array, N: number, C: number): { dx: Float64Array; dweight: Float64Array; dbias: Float64Array };
  layerNormBound(M: ErrorModel, x: Float64Array, w: Float64Array, N: number, C: number, eps: number, ref: { out: Float64Array; mean: Float64Array; rstd: Float64Array }): { out: Float64Array; mean: Float64Array; rstd: Float64Array; note: string };
  layerNormBackwardBound(
    M: ErrorModel,
    dout: Float64Array,
    x: Float64Array,
    w: Float64Array,
    mean: Float64Array,
    rstd: Float64Array,
    N: number,
    C: number,
    ref: { dx: Float64Array; dweight: Float64Array; dbias: Float64Array },
  ): { dx: Float64Array; dweight: Float64Array; dbias: Float64Array; note: string };
}

export const LAYERNORM_FUNCTIONS = ['layerNorm', 'layerNormBackward', 'layerNormRef', 'layerNormBackwardRef', 'layerNormBound', 'layerNormBackwardBound'] as const;

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

/** `lib` is the library's module, or undefined with `oursMissing` saying why. */
export function layerNormCases(finish: Finish, lib: LayerNormModule | undefined, oursMissing: string, dims = LAYERNORM_DIMS): BenchCase[] {
  const { N, C } = dims;
  const key = (n: string) => `layerNorm.${N}x${C}.${lib ? 'lib' : 'local'}.${n}`;
  const data = cachedLazy(key('data'), (): LayerNormData => {
    const x = activations(N * C, 9000, { offset: 300 });
    x.fill(7.25, Math.min(5, N - 1) * C, Math.min(6, N) * C); // a zero-variance row
    const w = activations(C, 9001, { scale: 0.2 }).map((v) => 1 + v);
    const b = activations(C, 9002, { scale: 0.1 });
    const dout = activations(N * C, 9003);
    return { x, w, b, dout };
  });
  const ref = cachedLazy(key('ref'), () => layerNormRef64(data().x, data().w, data().b, N, C, EPS));
  const fwdStats = cachedLazy(key('fwdStats'), () => ({ mean: Float32Array.from(ref().mean), rstd: Float32Array.from(ref().rstd) }));
  const bref = cachedLazy(key('bref'), () => layerNormBackwardRef64(data().dout, data().x, data().w, ref().mean, ref().rstd, N, C));
  const note = 'bench-local FP64 reference, agreement tolerance 2^-12 (no library bound yet)';
  const d64 = cachedLazy(key('d64'), () => ({ x: Float64Array.from(data().x), w: Float64Array.from(data().w), b: Float64Array.from(data().b), dout: Float64Array.from(data().dout) }));
  const libRef = cachedLazy(key('libRef'), () => lib!.layerNormRef(d64().x, d64().w, d64().b, N, C, EPS));
  const libBound = cachedPerModel(key('libBound'), (M) => lib!.layerNormBound(M, d64().x, d64().w, N, C, EPS, libRef()));
  // the backward's mean and rstd: the float32 rounding of the FP64 forward, as a forward pass hands them over
  const libStats = cachedLazy(key('libStats'), () => ({ mean: Float32Array.from(libRef().mean), rstd: Float32Array.from(libRef().rstd) }));
  const libBref = cachedLazy(key('libBref'), () => lib!.layerNormBackwardRef(d64().dout, d64().x, d64().w, Float64Array.from(libStats().mean), Float64Array.from(libStats().rstd), N, C));
  const libBbound = cachedPerModel(key('libBbound'), (M) => lib!.layerNormBackwardBound(M, d64().dout, d64().x, d64().w, Float64Array.from(libStats().mean), Float64Array.from(libStats().rstd), N, C, libBref()));
  const stats = () => (lib ? libStats() : fwdStats());
  const checkLibFwd = (out: HostOutputs, M: ErrorModel): CheckResult[] => {
    const r = libRef();
    const b = libBound(M);
    return [verdict('y', out.y, r.out, b.out, M, [N, C]), verdict('mean', out.mean, r.mean, b.mean, M), verdict('rstd', out.rstd, r.rstd, b.rstd, M)];
  };
  const checkLibBwd = (out: HostOutputs, M: ErrorModel): CheckResult[] => {
    const r = libBref();
    const b = libBbound(M);
    return [verdict('dx', out.dx, r.dx, b.dx, M, [N, C]), verdict('dweight', out.dweight, r.dweight, b.dweight, M), verdict('dbias', out.dbias, r.dbias, b.dbias, M)];
  };
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
      check: lib ? checkLibFwd : checkFwd,
      oursMissing,
      ours: lib
        ? (ctx, d = data()) =>
            oursRunner(ctx, { x: host(d.x, [N, C]), w: host(d.w, [C]), b: host(d.b, [C]) }, ['x', 'w', 'b'], async ({ x, w, b }) => {
              const r = await lib.layerNorm(ctx.device, x, w, b, { eps: EPS });
              return { y: r.out, mean: r.mean, rstd: r.rstd };
            })
        : undefined,
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
      check: lib ? checkLibBwd : checkBwd,
      oursMissing,
      ours: lib
        ? (ctx, d = data()) =>
            oursRunner(
              ctx,
              { dout: host(d.dout, [N, C]), x: host(d.x, [N, C]), w: host(d.w, [C]), mean: host(stats().mean, [N]), rstd: host(stats().rstd, [N]) },
              ['dout', 'x', 'w', 'mean', 'rstd'],
              async ({ dout, x, w, mean, rstd }) => {
                const r = await lib.layerNormBackward(ctx.device, dout, x, w, mean, rstd);
                return { dx: r.dx, dweight: r.dweight, dbias: r.dbias };
              },
            )
        : undefined,
      tfjs: (tf: Tf, d = data()) => {
        const x = tf.tensor2d(d.x, [N, C]);
        const w = tf.tensor1d(d.w);
        const dout = tf.tensor2d(d.dout, [N, C]);
        const mean = tf.tensor2d(stats().mean, [N, 1]);
        const rstd = tf.tensor2d(stats().rstd, [N, 1]);
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
      loop: (d = data()): Runner => hostRunner(() => loopBackward(d, stats().mean, stats().rstd, N, C)),
    },
  ];
}
