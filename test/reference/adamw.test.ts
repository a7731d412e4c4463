import { describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { adamw, adamwConfig, adamwRef, adamwScalars } from '../../src/kernels/adamw.js';
import { tensor } from '../../src/tensor.js';
import { generate, ORDINARY, widen } from '../../src/testing/values.js';

const ref = await createDevice({ backend: 'reference' });

describe('adamw: bad input', () => {
  const t = () => tensor([1, 2, 3], [3]);
  const state = () => ({ param: t(), grad: t(), m: t(), v: t() });
  test('options are validated with PyTorch ranges and named in the error', async () => {
    await expect(adamw(ref, state(), { lr: 1e-3, step: 1, betas: [0.9, 0.99] } as never)).rejects.toThrow(/adamw: unknown option 'betas'; known options are 'lr', 'step', 'beta1', 'beta2', 'eps', 'weightDecay'/);
    await expect(adamw(ref, state(), { step: 1 } as never)).rejects.toThrow(/adamw: option 'lr' is required/);
    await expect(adamw(ref, state(), { lr: 1e-3 } as never)).rejects.toThrow(/adamw: option 'step' is required/);
    await expect(adamw(ref, state(), { lr: 1e-3, step: 0 })).rejects.toThrow(/adamw: 'step' must be an integer >= 1 \(the step count including this one\), got 0/);
    await expect(adamw(ref, state(), { lr: 1e-3, step: 1.5 })).rejects.toThrow(/adamw: 'step' must be an integer >= 1.*got 1\.5/);
    await expect(adamw(ref, state(), { lr: -1e-3, step: 1 })).rejects.toThrow(/adamw: 'lr' must be >= 0, got -0\.001/);
    await expect(adamw(ref, state(), { lr: NaN, step: 1 })).rejects.toThrow(/adamw: 'lr' must be a finite number, got NaN/);
    await expect(adamw(ref, state(), { lr: 1e-3, step: 1, beta1: 1 })).rejects.toThrow(/adamw: 'beta1' must be in \[0, 1\), got 1/);
    await expect(adamw(ref, state(), { lr: 1e-3, step: 1, beta2: -0.1 })).rejects.toThrow(/adamw: 'beta2' must be >= 0, got -0\.1/);
    await expect(adamw(ref, state(), { lr: 1e-3, step: 1, eps: 0 })).rejects.toThrow(/adamw: 'eps' must be > 0, got 0/);
    await expect(adamw(ref, state(), { lr: 1e-3, step: 1, eps: 1e-40 })).rejects.toThrow(/adamw: 'eps' must be >= 2\^-126 .* got 1e-40/);
    await expect(adamw(ref, state(), { lr: 1e-3, step: 1, weightDecay: -0.01 })).rejects.toThrow(/adamw: 'weightDecay' must be >= 0, got -0\.01/);
  });

  test('the state is validated: names, shapes, dtypes', async () => {
    await expect(adamw(ref, { ...state(), momentum: t() } as never, { lr: 1e-3, step: 1 })).rejects.toThrow(/adamw: unknown state entry 'momentum'; the state is \{ param, grad, m, v \}/);
    await expect(adamw(ref, { ...state(), grad: tensor([1, 2], [2]) }, { lr: 1e-3, step: 1 })).rejects.toThrow(/adamw: 'grad' has shape \[2\] but 'param' has shape \[3\]; they must match/);
    await expect(adamw(ref, { ...state(), v: tensor([1, 2, 3], [1, 3]) }, { lr: 1e-3, step: 1 })).rejects.toThrow(/adamw: 'v' has shape \[1, 3\] but 'param' has shape \[3\]/);
    await expect(adamw(ref, { ...state(), m: undefined } as never, { lr: 1e-3, step: 1 })).rejects.toThrow(/adamw: 'm' must be a Tensor/);
    await expect(adamw(ref, { ...state(), param: tensor(new Int32Array(3), [3]) }, { lr: 1e-3, step: 1 })).rejects.toThrow(/adamw: 'param' must be a float tensor, got int32/);
  });
});

describe('adamw: the FP64 reference', () => {
  test('one step by hand: g = 1 from zero moments gives m̂ = v̂ = 1 and an update of lr/(1 + eps)', () => {
    const o = adamwConfig('adamw', { lr: 0.01, step: 1, weightDecay: 0.1, eps: 1e-8 });
    const r = adamwRef(Float64Array.from([1, -2, 0]), Float64Array.from([1, 1, 1]), new Float64Array(3), new Float64Array(3), o);
    for (const [i, th] of [1, -2, 0].entries()) {
      expect(r.param[i]).toBeCloseTo(th * (1 - 0.01 * 0.1) - 0.01 / (1 + 1e-8), 15);
      expect(r.m[i]).toBeCloseTo(0.1, 15);
      expect(r.v[i]).toBeCloseTo(0.001, 15);
    }
    // step 2 with g = 1 again: m = 0.19, v = 0.001999, m̂ = 0.19/0.19 = 1, v̂ = 0.001999/0.001999 = 1
    const r2 = adamwRef(r.param, Float64Array.from([1, 1, 1]), r.m, r.v, { ...o, step: 2 });
    expect(r2.m[0]).toBeCloseTo(0.19, 15);
    expect(r2.v[0]).toBeCloseTo(0.001999, 15);
    expect(r2.param[0]).toBeCloseTo(r.param[0] * (1 - 0.001) - 0.01 / (1 + 1e-8), 14);
    // g = −3 on a first step: m̂ = −3, v̂ = 9, update −lr·3/(3 + eps)
    const r3 = adamwRef(Float64Array.from([0]), Float64Array.from([-3]), new Float64Array(1), new Float64Array(1), { ...o, weightDecay: 0 });
    expect(r3.param[0]).toBeCloseTo((0.01 * 3) / (3 + 1e-8), 15);
  });

  test('agrees over several steps with the closed form of the moments', () => {
    // From m₀ = v₀ = 0: m_t = (1 − β₁)·Σ_s β₁^(t−s) g_s, v_t = (1 − β₂)·Σ_s β₂^(t−s) g_s²,
    // θ_t = θ_(t−1)·(1 − γλ) − γ·(m_t/(1 − β₁^t))/(√(v_t/(1 − β₂^t)) + ε): no recursion on m, v.
    const n = 16;
    const steps = 8;
    const o = adamwConfig('adamw', { lr: 0.05, step: 1, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.2 });
    const grads = Array.from({ length: steps }, (_, s) => widen(generate({ ...ORDINARY, seed: 500 + s, scale: 2 }, 1, n)));
    let p: Float64Array = widen(generate({ ...ORDINARY, seed: 499 }, 1, n));
    let m: Float64Array = new Float64Array(n);
    let v: Float64Array = new Float64Array(n);
    const closed = p.slice();
    for (let t = 1; t <= steps; t++) {
      const r = adamwRef(p, grads[t - 1], m, v, { ...o, step: t });
      ({ param: p, m, v } = r);
      for (let i = 0; i < n; i++) {
        let mt = 0;
        let vt = 0;
        for (let s = 1; s <= t; s++) {
          mt += (1 - o.beta1) * o.beta1 ** (t - s) * grads[s - 1][i];
          vt += (1 - o.beta2) * o.beta2 ** (t - s) * grads[s - 1][i] ** 2;
        }
        expect(m[i]).toBeCloseTo(mt, 13);
        expect(v[i]).toBeCloseTo(vt, 13);
        closed[i] = closed[i] * (1 - o.lr * o.weightDecay) - (o.lr * (mt / (1 - o.beta1 ** t))) / (Math.sqrt(vt / (1 - o.beta2 ** t)) + o.eps);
        expect(Math.abs(p[i] - closed[i])).toBeLessThan(1e-13 * (1 + Math.abs(closed[i])));
      }
    }
  });

  test("the kernels' arrangement (PyTorch's) computes the same step in float64", () => {
    const n = 64;
    const o = adamwConfig('adamw', { lr: 3e-4, step: 17 });
    const p = widen(generate({ ...ORDINARY, seed: 1 }, 1, n));
    const g = widen(generate({ ...ORDINARY, seed: 2 }, 1, n));
    const m = widen(generate({ ...ORDINARY, seed: 3, scale: 0.1 }, 1, n));
    const v = widen(generate({ ...ORDINARY, seed: 4, scale: 0.1 }, 1, n)).map((x) => x * x);
    const r = adamwRef(p, g, m, v, o);
    const s = adamwScalars(o);
    for (let i = 0; i < n; i++) {
      const mi = s.b1 * m[i] + s.c1 * g[i];
      const vi = s.b2 * v[i] + s.c2 * g[i] * g[i];
      const pi = s.dec * p[i] - s.ss * (mi / (Math.sqrt(vi) * s.r2 + s.eps));
      expect(Math.abs(pi - r.param[i])).toBeLessThan(1e-14 * (1 + Math.abs(r.param[i])));
    }
  });

  test('±Inf parameters stay ±Inf under the decay (as PyTorch), NaN gradients give NaN', () => {
    const o = adamwConfig('adamw', { lr: 1e-3, step: 1 });
    const r = adamwRef(Float64Array.from([Infinity, -Infinity, 1]), Float64Array.from([1, 1, NaN]), new Float64Array(3), new Float64Array(3), o);
    expect(Array.from(r.param)).toEqual([Infinity, -Infinity, NaN]);
    expect(Number.isNaN(r.m[2]) && Number.isNaN(r.v[2])).toBe(true);
  });
});
