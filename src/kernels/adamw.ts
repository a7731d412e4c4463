/**
 * adamw: one step of PyTorch's `torch.optim.AdamW` (decoupled weight decay,
 * bias-corrected moments), elementwise over a parameter tensor of any shape.
 *
 * With lr = γ, weightDecay = λ, step t ≥ 1 (the count including this step):
 *   θ₁ = θ·(1 − γ·λ)                                (decoupled weight decay)
 *   m' = β₁·m + (1 − β₁)·g
 *   v' = β₂·v + (1 − β₂)·g²
 *   m̂ = m'/(1 − β₁^t),  v̂ = v'/(1 − β₂^t)
 *   θ' = θ₁ − γ·m̂/(√v̂ + ε)
 * which is the pseudo-code of the PyTorch documentation (amsgrad and
 * maximize off), with the decay written as PyTorch computes it
 * (param.mul_(1 − lr·wd)): the documented θ − γλθ is the same number for
 * finite θ but NaN for θ = ±Inf, where PyTorch keeps ±Inf. Defaults are
 * PyTorch's: β₁ = 0.9, β₂ = 0.999, ε = 1e-8, λ = 0.01; lr has no default.
 * Returns new tensors; the inputs are untouched.
 *
 * Algorithm (gpu.js, float32), PyTorch's arrangement of the same formula:
 * the host computes in float64 dec = 1 − γλ, ss = γ/(1 − β₁^t),
 * r2 = 1/√(1 − β₂^t), c₁ = 1 − β₁, c₂ = 1 − β₂ and passes them as float32
 * arguments (not constants, so one kernel serves every step); then three
 * elementwise kernels:
 *   m' = β₁·m + c₁·g,   v' = β₂·v + (c₂·g)·g,   θ' = dec·θ − ss·(m'/(√v'·r2 + ε))
 * the last one reading the stored m' and v', so the update is exactly the
 * one the returned state implies. (c₂·g)·g rather than c₂·g² keeps g² from
 * overflowing while (1 − β₂)·g² is still representable.
 *
 * Edge-case contract:
 *   - NaN in g (or in θ, m, v) gives NaN in θ' and in the moments it enters
 *     (IEEE; no masking). Skipping a step with a non-finite gradient is the
 *     loss scaler's job upstream (precision/); this kernel never hides one.
 *   - ±Inf in g: m' = ±Inf, v' = +Inf, θ' = NaN (Inf/Inf), as the reference.
 *   - g = 0, m = v = 0: the update is 0/(0 + ε) = 0, only the decay acts.
 *   - Overflow: m' is a convex combination of m and g and never overflows.
 *     v' overflows to +Inf once (1 − β₂)·g² + β₂·v exceeds float32 max
 *     (|g| ≳ 5.8e20 with β₂ = 0.999); then m'/√v' = 0 and that element gets
 *     only the decay, while the float64 reference still takes a step of
 *     about γ. The bound holds while v' is within the float32 range; the
 *     loss scaler and gradient clipping keep gradients far below this.
 *   - Subnormals are flushed to zero on headlessgl (tiny terms in the bound).
 *   - Empty tensors give empty outputs; more than 2^24 elements is refused on
 *     the gpu.js float32 backends (see GPUJS_INDEX_LIMIT in shapes.ts).
 *   - Options are validated: lr finite ≥ 0; 0 ≤ β₁, β₂ < 1; ε finite and
 *     ≥ 2^-126 (float32's smallest normal, so ε survives the float32
 *     argument on every backend); weightDecay finite ≥ 0 (as PyTorch);
 *     step an integer ≥ 1; unknown option or state names are rejected.
 *
 * Error bounds (per element, derived in `adamwBound`; u the arithmetic
 * roundoff, each float32 scalar argument one more u):
 *   m': γ(3)·(|β₁m| + |c₁g|) + uStore|m'|         (argument, product, sum)
 *   v': γ(4)·(|β₂v| + c₂g²) + uStore|v'|          (argument, two products, sum)
 *   θ': (2u)|dec·θ| + ss·|Δ(m'/D)| + 2u|ss·m'/D| + (u + uStore)|θ'|, with
 *       Δ(m'/D) from Δm', from Δv' through the sqrt (sqrtRel), from r2 and ε
 *       (2u) and the division (divRel); plus a few `tiny` where subnormals flush.
 */
import type { Device } from '../device.js';
import { registerKernel, runKernel } from '../dispatch.js';
import { ArgumentError, checkFiniteNumber, checkOptions } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { type Bound, type ErrorModel, F32_MIN_NORMAL, F64_U, gamma, SECOND_ORDER } from './bounds.js';
import { checkFloat, checkGpuIndexable, checkSameShape, checkTensor, emptyLike, f64, out64 } from './shapes.js';

export interface AdamWOptions {
  /** Learning rate γ ≥ 0. */
  lr: number;
  /** Step count t ≥ 1, including this step (bias correction uses β^t). */
  step: number;
  /** β₁, default 0.9. */
  beta1?: number;
  /** β₂, default 0.999. */
  beta2?: number;
  /** ε, default 1e-8. */
  eps?: number;
  /** Decoupled weight decay λ, default 0.01. */
  weightDecay?: number;
}

export interface AdamWState {
  param: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
}

/** Options with defaults filled in. */
export type AdamWConfig = Required<AdamWOptions>;

const ADAMW_OPTIONS = ['lr', 'step', 'beta1', 'beta2', 'eps', 'weightDecay'] as const;

/** Validates options (see the contract) and fills in PyTorch's defaults. */
export function adamwConfig(fn: string, options: AdamWOptions): AdamWConfig {
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${fn}: options must be an object with at least 'lr' and 'step', got ${String(options)}`);
  checkOptions(fn, options, ADAMW_OPTIONS);
  if (options.lr === undefined) throw new ArgumentError(`${fn}: option 'lr' is required`);
  if (options.step === undefined) throw new ArgumentError(`${fn}: option 'step' is required (the step count t ≥ 1, including this step)`);
  const lr = checkFiniteNumber(fn, 'lr', options.lr, { min: 0 });
  const step = options.step;
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 1) {
    throw new ArgumentError(`${fn}: 'step' must be an integer >= 1 (the step count including this one), got ${String(step)}`);
  }
  const beta = (name: 'beta1' | 'beta2', dflt: number): number => {
    const b = options[name] === undefined ? dflt : checkFiniteNumber(fn, name, options[name], { min: 0 });
    if (!(b < 1)) throw new ArgumentError(`${fn}: '${name}' must be in [0, 1), got ${b}`);
    return b;
  };
  const beta1 = beta('beta1', 0.9);
  const beta2 = beta('beta2', 0.999);
  const eps = options.eps === undefined ? 1e-8 : checkFiniteNumber(fn, 'eps', options.eps, { min: 0, minExclusive: true });
  if (eps < F32_MIN_NORMAL) {
    throw new ArgumentError(`${fn}: 'eps' must be >= 2^-126 (${F32_MIN_NORMAL}, the smallest normal float32, so it is not flushed to 0 on a GPU), got ${eps}`);
  }
  const weightDecay = options.weightDecay === undefined ? 0.01 : checkFiniteNumber(fn, 'weightDecay', options.weightDecay, { min: 0 });
  return { lr, step, beta1, beta2, eps, weightDecay };
}

/**
 * The bias corrections 1 − β₁^t and 1 − β₂^t in float64. The reference and
 * the kernels' host scalars share this one evaluation, so its own float64
 * error (large relative to bc when β^t ≈ 1) is common to both.
 */
export function biasCorrections(o: AdamWConfig): { bc1: number; bc2: number } {
  return { bc1: 1 - Math.pow(o.beta1, o.step), bc2: 1 - Math.pow(o.beta2, o.step) };
}

// ---------------------------------------------------------------------------
// FP64 reference: the documented formula, term by term
// ---------------------------------------------------------------------------

export function adamwRef(
  param: Float64Array,
  grad: Float64Array,
  m: Float64Array,
  v: Float64Array,
  o: AdamWConfig,
): { param: Float64Array; m: Float64Array; v: Float64Array } {
  const n = param.length;
  const { bc1, bc2 } = biasCorrections(o);
  const pOut = new Float64Array(n);
  const mOut = new Float64Array(n);
  const vOut = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = grad[i];
    // PyTorch's param.mul_(1 − lr·wd): the documented θ − γλθ is the same
    // number for finite θ but NaN (Inf − Inf) for θ = ±Inf
    const theta = param[i] * (1 - o.lr * o.weightDecay);
    const mi = o.beta1 * m[i] + (1 - o.beta1) * g;
    const vi = o.beta2 * v[i] + (1 - o.beta2) * g * g;
    const mHat = mi / bc1;
    const vHat = vi / bc2;
    mOut[i] = mi;
    vOut[i] = vi;
    pOut[i] = theta - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
  }
  return { param: pOut, m: mOut, v: vOut };
}

// ---------------------------------------------------------------------------
// Host scalars of the gpu.js kernels
// ---------------------------------------------------------------------------

export interface AdamWScalars {
  b1: number;
  c1: number;
  b2: number;
  c2: number;
  /** 1 − γλ */
  dec: number;
  /** γ/(1 − β₁^t) */
  ss: number;
  /** 1/√(1 − β₂^t) */
  r2: number;
  eps: number;
}

export function adamwScalars(o: AdamWConfig): AdamWScalars {
  const { bc1, bc2 } = biasCorrections(o);
  return { b1: o.beta1, c1: 1 - o.beta1, b2: o.beta2, c2: 1 - o.beta2, dec: 1 - o.lr * o.weightDecay, ss: o.lr / bc1, r2: 1 / Math.sqrt(bc2), eps: o.eps };
}

// ---------------------------------------------------------------------------
// Error bounds
// ---------------------------------------------------------------------------


/**
 * Relative error of a host scalar (a few float64 operations: 1 − β, γλ,
 * γ/bc, 1/√bc) and of each float64 intermediate of the reference: 4 float64
 * roundings. Far below float32's u; on cpu, where the kernels run in
 * float64, it is the same order as the arithmetic and must be counted.
 */
const HOST = 4 * F64_U;

/**
 * Per element, with u the backend's arithmetic roundoff (scalar arguments are
 * rounded to the working precision: one u each):
 *
 *   m' = β₁·m + c₁·g: each term takes the argument rounding, the product and
 *     the sum: |Δm'| ≤ (γ(3) + HOST)·(|β₁m| + |c₁g|) + uStore|m'| + 3·tiny.
 *   v' = β₂·v + (c₂·g)·g: the second term takes 4 roundings (argument, two
 *     products, sum): |Δv'| ≤ (γ(4) + HOST)·(|β₂v| + c₂g²) + uStore|v'| + 4·tiny.
 *   θ' = A − U, A = dec·θ, U = ss·m'/D, D = √v'·r2 + ε (= √v̂ + ε):
 *     stored m̃, ṽ carry Δm, Δv from above;
 *     |√ṽ − √v'| ≤ min(Δv/√v', √Δv), then (1 + sqrtRel);
 *     q = √ṽ·r2: ΔD ≤ r2·Δsqrt + (sqrtRel + 2u + HOST)·q + u·ε + u·D
 *       (r2's argument rounding and the product; ε's rounding; the sum);
 *     r = m̃/D̃ with D̃ ≥ D_low = max(D − ΔD, ε(1 − 2u)):
 *       |Δr| ≤ (Δm·D + |m'|·ΔD)/(D·D_low) + divRel·(|m'| + Δm)/D_low
 *       (exact for the quotient, not first order: ΔD may exceed D where a
 *       flushed v' meets a tiny ε);
 *     U = ss·r: |ΔU| ≤ ss·|Δr| + (2u + HOST)·|U|;
 *     A = dec·θ: |ΔA| ≤ (2u + HOST)·|A| (dec's argument rounding, the product);
 *     the subtraction and the store: (u + uStore)·|θ'|; flushed θ, product, result: 3·tiny.
 * The bound holds while v' is finite in float32 (see the contract).
 */
export function adamwBound(
  M: ErrorModel,
  param: Float64Array,
  grad: Float64Array,
  m: Float64Array,
  v: Float64Array,
  o: AdamWConfig,
  ref: { param: Float64Array; m: Float64Array; v: Float64Array },
): { param: Bound; m: Bound; v: Bound } {
  const n = param.length;
  const s = adamwScalars(o);
  const u = M.u;
  const aP = new Float64Array(n);
  const aM = new Float64Array(n);
  const aV = new Float64Array(n);
  const g3 = gamma(3, u) + HOST;
  const g4 = gamma(4, u) + HOST;
  for (let i = 0; i < n; i++) {
    const g = grad[i];
    const mi = ref.m[i];
    const vi = ref.v[i];
    const dm = g3 * (Math.abs(o.beta1 * m[i]) + Math.abs(s.c1 * g)) + M.uStore * Math.abs(mi) + 3 * M.tiny;
    const dv = g4 * (Math.abs(o.beta2 * v[i]) + s.c2 * g * g) + M.uStore * Math.abs(vi) + 4 * M.tiny;
    aM[i] = SECOND_ORDER * dm;
    aV[i] = SECOND_ORDER * dv;
    if (vi === Infinity && Number.isFinite(mi)) {
      // v' = +Inf: m'/D is exactly 0 in both, only the decay is left
      const A = s.dec * param[i];
      aP[i] = SECOND_ORDER * ((2 * u + HOST) * Math.abs(A) + (u + M.uStore) * Math.abs(ref.param[i])) + 3 * M.tiny;
      continue;
    }
    const sq = Math.sqrt(vi);
    const dSqrt = Math.min(sq > 0 ? dv / sq : Infinity, Math.sqrt(dv)) + M.sqrtRel * sq;
    const q = sq * s.r2;
    const D = q + o.eps;
    const dD = s.r2 * dSqrt + (2 * u + HOST) * q + u * o.eps + u * D;
    // D̃ ≥ ε(1 − 2u) whatever √ṽ is, so the quotient's error stays bounded even where ΔD ≥ D
    const Dlow = Math.max(D - dD, o.eps * (1 - 2 * u));
    const r = mi / D;
    const dr = (dm * D + Math.abs(mi) * dD) / (D * Dlow) + M.divRel * (Math.abs(mi) + dm) / Dlow;
    const U = s.ss * r;
    const dU = s.ss * dr + (2 * u + HOST) * Math.abs(U);
    const A = s.dec * param[i];
    const dA = (2 * u + HOST) * Math.abs(A);
    aP[i] = SECOND_ORDER * (dA + dU + (u + M.uStore) * Math.abs(ref.param[i])) + 3 * M.tiny;
  }
  return {
    param: { allowed: aP, note: `adamw param: |Δθ'| ≤ ΔA + ss·Δ(m'/D) + (u + u_store)|θ'| (see adamwBound), ${M.name}` },
    m: { allowed: aM, note: `adamw m: |Δm'| ≤ γ(3)(|β1 m| + |c1 g|) + u_store|m'|, ${M.name}` },
    v: { allowed: aV, note: `adamw v: |Δv'| ≤ γ(4)(|β2 v| + c2 g²) + u_store|v'|, ${M.name}` },
  };
}

// ---------------------------------------------------------------------------
// gpu.js kernels (float32; one thread per element)
// ---------------------------------------------------------------------------

interface ElemThis {
  thread: { x: number };
}

function adamwMKernel(this: ElemThis, m: number[], g: number[], b1: number, c1: number): number {
  return b1 * m[this.thread.x] + c1 * g[this.thread.x];
}

function adamwVKernel(this: ElemThis, v: number[], g: number[], b2: number, c2: number): number {
  const gi = g[this.thread.x];
  return b2 * v[this.thread.x] + c2 * gi * gi;
}

function adamwParamKernel(this: ElemThis, p: number[], m: number[], v: number[], dec: number, ss: number, r2: number, eps: number): number {
  const den = Math.sqrt(v[this.thread.x]) * r2 + eps;
  return dec * p[this.thread.x] - ss * (m[this.thread.x] / den);
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

export interface AdamWAttrs {
  config: AdamWConfig;
  shape: readonly number[];
}

registerKernel<AdamWAttrs>({
  kernel: 'adamw',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { param, grad, m, v }, { config, shape }) => {
    const r = adamwRef(f64(param), f64(grad), f64(m), f64(v), config);
    return { param: out64(r.param, shape), m: out64(r.m, shape), v: out64(r.v, shape) };
  },
});
registerKernel<AdamWAttrs>({
  kernel: 'adamw',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { param, grad, m, v }, { config, shape }) => {
    const rt = d.gpujs!;
    const s = adamwScalars(config);
    const n = param.size;
    // c2·gi·gi parses as (c2·gi)·gi: see the header for why this order
    const mNew = await rt.run({ name: 'adamw.m', fn: adamwMKernel, outputs: n }, [m, grad, s.b1, s.c1], shape);
    const vNew = await rt.run({ name: 'adamw.v', fn: adamwVKernel, outputs: n }, [v, grad, s.b2, s.c2], shape);
    const pNew = await rt.run({ name: 'adamw.param', fn: adamwParamKernel, outputs: n }, [param, mNew, vNew, s.dec, s.ss, s.r2, s.eps], shape);
    return { param: pNew, m: mNew, v: vNew };
  },
});

// ---------------------------------------------------------------------------
// Public function
// ---------------------------------------------------------------------------

/**
 * One AdamW step (PyTorch's torch.optim.AdamW: decoupled weight decay, bias
 * correction). Returns new tensors; the inputs are not modified.
 *
 * @param state.param θ (any shape); state.grad, state.m, state.v the same shape
 * @param options lr and step (t ≥ 1) are required; beta1 0.9, beta2 0.999, eps 1e-8, weightDecay 0.01 by default
 * @returns the new param, m and v
 * @example
 * const zeros = tensor(new Float32Array(param.size), param.shape);
 * let state = { param, m: zeros, v: zeros };
 * for (let t = 1; t <= steps; t++) {
 *   const grad = await computeGrad(state.param);
 *   state = await adamw(dev, { ...state, grad }, { lr: 3e-4, step: t });
 * }
 */
export async function adamw(device: Device, state: AdamWState, options: AdamWOptions): Promise<{ param: Tensor; m: Tensor; v: Tensor }> {
  const fn = 'adamw';
  if (state === null || typeof state !== 'object') throw new ArgumentError(`${fn}: 'state' must be an object { param, grad, m, v }, got ${String(state)}`);
  for (const key of Object.keys(state)) {
    if (!(['param', 'grad', 'm', 'v'] as string[]).includes(key)) throw new ArgumentError(`${fn}: unknown state entry '${key}'; the state is { param, grad, m, v }`);
  }
  const { param, grad, m, v } = state;
  checkTensor(fn, 'param', param);
  checkFloat(fn, 'param', param);
  for (const [name, t] of [['grad', grad], ['m', m], ['v', v]] as const) {
    checkSameShape(fn, name, t, 'param', param);
    checkFloat(fn, name, t);
  }
  const config = adamwConfig(fn, options);
  checkGpuIndexable(fn, device, 'param', param.shape);
  if (param.size === 0) {
    const p = device.info.precision;
    return { param: emptyLike(p, param.shape), m: emptyLike(p, param.shape), v: emptyLike(p, param.shape) };
  }
  const r = await runKernel(device, 'adamw', 'forward', { param, grad, m, v }, { config, shape: param.shape });
  return { param: r.param, m: r.m, v: r.v };
}

