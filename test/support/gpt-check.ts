/**
 * The whole-GPT gradient check shared by test/kernels/gpt.test.ts (every
 * backend) and test/mutation/gpt.test.ts (it must catch a broken kernel).
 * The bound is derived in test/kernels/gpt.test.ts's header.
 */
import { createDevice, type Device } from '../../src/device.js';
import { errorModelFor } from '../../src/kernels/bounds.js';
import { GPT } from '../../src/model/gpt.js';
import { Rng } from '../../src/random.js';
import type { AccuracyRecorder } from '../../src/testing/suite.js';

export const CONFIG = { V: 11, maxT: 8, L: 2, NH: 2, C: 8 };
const B = 2;
const T = 8;

export function fill(model: GPT, seed: number): void {
  const rng = new Rng(seed);
  // float32 values, so both models start from exactly the same parameters
  for (let i = 0; i < model.params.length; i++) model.params[i] = Math.fround(rng.normal() * 0.3);
  model.paramsChanged();
}

export function data(seed: number) {
  const rng = new Rng(seed);
  return {
    tokens: Int32Array.from({ length: B * T }, () => rng.int(0, CONFIG.V - 1)),
    targets: Int32Array.from({ length: B * T }, () => rng.int(0, CONFIG.V - 1)),
  };
}

async function gradients(model: GPT, tokens: Int32Array, targets: Int32Array): Promise<{ loss: number; g: Float64Array }> {
  model.zeroGrad();
  const { loss, cache } = await model.forward(tokens, B, T, targets);
  await model.backward(cache);
  return { loss: loss!, g: Float64Array.from(model.grads) };
}

const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};


export interface GradientComparison {
  worst: number;
  allowed: number;
  kappa: number;
  eps: number;
  message: string;
}

/** Gradients of the GPT on `device` vs the FP64 GPT, with the derived allowance. */
export async function compareGptGradients(device: Device, recorder?: AccuracyRecorder): Promise<GradientComparison> {
  const refDevice = await createDevice({ backend: 'reference' });
  try {
    const m32 = new GPT(device, CONFIG);
    const m64 = new GPT(refDevice, CONFIG);
    fill(m32, 1);
    m64.params.set(m32.params);
    m64.paramsChanged();
    const { tokens, targets } = data(2);
    const r32 = await gradients(m32, tokens, targets);
    const r64 = await gradients(m64, tokens, targets);
    const gnorm = maxAbs(r64.g);

    // κ: relative condition number of the gradient, measured on the FP64 model
    const delta = 2 ** -20;
    const base = Float64Array.from(m64.params);
    const rng = new Rng(3);
    let kappa = 1;
    for (let trial = 0; trial < 3; trial++) {
      for (let i = 0; i < base.length; i++) m64.params[i] = base[i] * (1 + (rng.uniform() < 0.5 ? -delta : delta));
      m64.paramsChanged();
      const p = await gradients(m64, tokens, targets);
      let diff = 0;
      for (let i = 0; i < p.g.length; i++) diff = Math.max(diff, Math.abs(p.g[i] - r64.g[i]));
      kappa = Math.max(kappa, diff / (delta * gnorm));
    }

    const M = errorModelFor(device.backend);
    const eps = M.expRel(16) + M.divRel + M.uStore + 8 * M.u;
    const allowed = 64 * kappa * eps * gnorm;
    let worst = 0;
    let worstAt = 0;
    for (let i = 0; i < r64.g.length; i++) {
      const e = Math.abs(r32.g[i] - r64.g[i]);
      if (!(e <= worst)) {
        worst = e;
        worstAt = i;
      }
    }
    recorder?.record({ backend: device.backend, kernel: 'gpt', phase: 'backward', output: 'grads', model: M.name, maxRatio: worst / allowed, maxRel: worst / gnorm, maxUlp: 0, elements: r64.g.length });
    const spec = m64.layout.specs.find((s) => worstAt >= s.offset && worstAt < s.offset + s.size)!;
    const message = `worst at ${spec.name}[${worstAt - spec.offset}]: ${r32.g[worstAt]} vs ${r64.g[worstAt]} (|error| ${worst}, allowed ${allowed}; κ = ${kappa.toFixed(1)}, ε = ${eps.toExponential(2)})`;
    return { worst, allowed, kappa, eps, message };
  } finally {
    await refDevice.destroy();
  }
}
