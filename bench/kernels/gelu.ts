/**
 * GELU, exact (erf) form — the library's default — and the tanh
 * approximation (GPT-2's), forward and backward, on 4M elements (4·2^20, the
 * MLP activation of a (4, 1024, 1024) batch).
 *
 * Memory-bound on paper (8 bytes per element forward, 12 backward), but each
 * element costs an exp and a rational function, so the compute is visible.
 * Inputs: activations() with specials (±Inf, NaN, ±1e30, subnormals).
 *
 * Peers: tfjs has no gelu op; its users write x·½·(1 + erf(x/√2)) or the tanh
 * form with tfjs ops, which is what runs here. The loop baseline uses the
 * Abramowitz–Stegun 7.1.26 erf (|error| ≤ 1.5e-7), the textbook choice in
 * JavaScript, which has no Math.erf.
 */
import { type GeluApproximation, gelu, geluBackward, geluBackwardBound, geluBackwardRef, geluBound, geluRef } from '../../src/kernels/gelu.js';
import { activations } from '../lib/inputs.js';
import { type BenchCase, type Tf, host, hostRunner, cachedLazy, cachedPerModel, oursRunner, tfjsRunner, verdict } from '../lib/case.js';
import type { Finish } from '../lib/tfjs.js';

const GELU_N = 4 * 1024 * 1024;
const K0 = Math.sqrt(2 / Math.PI);
const K1 = 0.044715;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Abramowitz & Stegun 7.1.26. */
function erfAS(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

function tfGelu(tf: Tf, x: import('@tensorflow/tfjs-core').Tensor, approx: GeluApproximation) {
  if (approx === 'none') return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  const inner = tf.mul(K0, tf.add(x, tf.mul(K1, tf.mul(x, tf.mul(x, x)))));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
}

function tfGeluGrad(tf: Tf, dy: import('@tensorflow/tfjs-core').Tensor, x: import('@tensorflow/tfjs-core').Tensor, approx: GeluApproximation) {
  if (approx === 'none') {
    const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    const pdf = tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(-0.5, tf.square(x))));
    return tf.mul(dy, tf.add(cdf, tf.mul(x, pdf)));
  }
  const x2 = tf.square(x);
  const t = tf.tanh(tf.mul(K0, tf.mul(x, tf.add(1, tf.mul(K1, x2)))));
  const dInner = tf.mul(K0, tf.add(1, tf.mul(3 * K1, x2)));
  const d = tf.add(tf.mul(0.5, tf.add(1, t)), tf.mul(tf.mul(tf.mul(0.5, x), tf.sub(1, tf.square(t))), dInner));
  return tf.mul(dy, d);
}

export function geluCases(finish: Finish, N = GELU_N): BenchCase[] {
  const size = N === GELU_N ? '4M (4·2^20)' : String(N);
  const tag = N === GELU_N ? '4M' : String(N);
  const key = (n: string) => `gelu.${N}.${n}`;
  const cases: BenchCase[] = [];
  const data = cachedLazy(key('data'), () => {
    const x = activations(N, 5000, { specials: true, scale: 3 });
    const dy = activations(N, 5001);
    return { x, dy, x64: Float64Array.from(x), dy64: Float64Array.from(dy) };
  });
  for (const approximate of ['none', 'tanh'] as const) {
    const quick = approximate === 'none';
    const label = approximate === 'none' ? 'erf' : 'tanh';
    const ref = cachedLazy(key(`ref.${label}`), () => geluRef(data().x64, approximate));
    const bound = cachedPerModel(key(`bound.${label}`), (M) => geluBound(M, data().x64, ref(), approximate));
    cases.push({
      id: `gelu.forward.${label}.${tag}`,
      kernel: approximate === 'none' ? 'gelu' : 'gelu (tanh)',
      phase: 'forward',
      size,
      metric: 'GB/s',
      work: 2 * N * 4,
      workNote: 'read x, write y',
      quick,
      data,
      check: (out, M) => [verdict('y', out.y, ref(), bound(M), M)],
      ours: (ctx, d = data()) => oursRunner(ctx, { x: host(d.x, [N]) }, ['x'], async ({ x }) => ({ y: await gelu(ctx.device, x, { approximate }) })),
      tfjs: (tf, d = data()) => {
        const x = tf.tensor1d(d.x);
        return tfjsRunner(tf, () => ({ y: tfGelu(tf, x, approximate) }), finish, [x]);
      },
      loop: (d = data()) =>
        hostRunner(() => {
          const y = new Float32Array(N);
          const x = d.x;
          if (approximate === 'none') for (let i = 0; i < N; i++) y[i] = 0.5 * x[i] * (1 + erfAS(x[i] * Math.SQRT1_2));
          else for (let i = 0; i < N; i++) y[i] = 0.5 * x[i] * (1 + Math.tanh(K0 * (x[i] + K1 * x[i] * x[i] * x[i])));
          return { y };
        }),
    });
    const bref = cachedLazy(key(`bref.${label}`), () => geluBackwardRef(data().dy64, data().x64, approximate));
    const bbound = cachedPerModel(key(`bbound.${label}`), (M) => geluBackwardBound(M, data().dy64, data().x64, bref(), approximate));
    cases.push({
      id: `gelu.backward.${label}.${tag}`,
      kernel: approximate === 'none' ? 'gelu' : 'gelu (tanh)',
      phase: 'backward',
      size,
      metric: 'GB/s',
      work: 3 * N * 4,
      workNote: 'read dy, x; write dx',
      quick,
      data,
      check: (out, M) => [verdict('dx', out.dx, bref(), bbound(M), M)],
      ours: (ctx, d = data()) =>
        oursRunner(ctx, { dy: host(d.dy, [N]), x: host(d.x, [N]) }, ['dy', 'x'], async ({ dy, x }) => ({ dx: await geluBackward(ctx.device, dy, x, { approximate }) })),
      tfjs: (tf, d = data()) => {
        const dy = tf.tensor1d(d.dy);
        const x = tf.tensor1d(d.x);
        return tfjsRunner(tf, () => ({ dx: tfGeluGrad(tf, dy, x, approximate) }), finish, [dy, x]);
      },
      loop: (d = data()) =>
        hostRunner(() => {
          const dx = new Float32Array(N);
          const { x, dy } = d;
          for (let i = 0; i < N; i++) {
            const v = x[i];
            if (approximate === 'none') {
              dx[i] = dy[i] * (0.5 * (1 + erfAS(v * Math.SQRT1_2)) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v));
            } else {
              const t = Math.tanh(K0 * (v + K1 * v * v * v));
              dx[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * K0 * (1 + 3 * K1 * v * v));
            }
          }
          return { dx };
        }),
    });
  }
  return cases;
}
