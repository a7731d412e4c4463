/**
 * Benchmark inputs: realistic values with outliers, deterministic per seed.
 *
 * Timing on tidy N(0, 1) data can hide costs (subnormal arithmetic, special
 * paths for ±Inf and NaN) and validating on it proves little, so every
 * generator here plants the values the kernels' contracts are about, at rates
 * that keep the bulk of the data realistic:
 *
 *   logits      N(0, 2²); 1% of elements ±(10…100); one row in 100 holds a
 *               +1e30 (a dominant class) and one in 100 a −1e30; 0.2% −Inf
 *               (a masked vocabulary entry). Optional: a fully masked (all
 *               −Inf) row and a row with a NaN, whose outputs are NaN by
 *               contract and are checked exactly.
 *   activations N(0, 1); 1% ×(20…100) outliers; 0.5% exact ±0; 0.1%
 *               subnormals; optional ±Inf, NaN and ±1e30 at 0.01% each.
 *   matrices    N(0, 1)/√K scaled; 0.5% ×(10…30) outliers, 0.5% exact zeros.
 *
 * Uses the library's Rng (xoshiro128**), so the same seed gives the same
 * arrays in every process: the benchmark children validate identical data.
 */
import { Rng } from '../../src/random.js';

const F32_SUBNORMAL_MAX = 2 ** -126;

export interface LogitOptions {
  /** Put an all −Inf row at row 1 (softmax gives a NaN row by contract). */
  maskedRow?: boolean;
  /** Put a NaN at row 2 (the whole row's outputs are NaN by contract). */
  nanRow?: boolean;
  scale?: number;
}

/** N rows of V logits with the outliers described in the header. */
export function logits(N: number, V: number, seed: number, o: LogitOptions = {}): Float32Array {
  const rng = new Rng(seed);
  const scale = o.scale ?? 2;
  const x = new Float32Array(N * V);
  for (let i = 0; i < x.length; i++) {
    const u = rng.uniform();
    if (u < 0.01) x[i] = (rng.uniform() < 0.5 ? -1 : 1) * (10 + 90 * rng.uniform());
    else if (u < 0.012) x[i] = -Infinity;
    else x[i] = scale * rng.normal();
  }
  for (let r = 0; r < N; r++) {
    const v = rng.uniform();
    if (v < 0.01) x[r * V + rng.int(0, V - 1)] = 1e30;
    else if (v < 0.02) x[r * V + rng.int(0, V - 1)] = -1e30;
  }
  if (o.maskedRow && N > 1) x.fill(-Infinity, V, 2 * V);
  if (o.nanRow && N > 2) x[2 * V + rng.int(0, V - 1)] = NaN;
  return x;
}

/** Class targets in [0, V), never pointing at a −Inf logit (which would make the loss +Inf). */
export function targets(x: Float32Array, N: number, V: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const t = new Int32Array(N);
  for (let r = 0; r < N; r++) {
    let j = rng.int(0, V - 1);
    for (let tries = 0; x[r * V + j] === -Infinity && tries < V; tries++) j = (j + 1) % V;
    t[r] = j;
  }
  return t;
}

export interface ActivationOptions {
  /** Plant ±Inf, NaN and ±1e30 (elementwise kernels whose contract covers them). */
  specials?: boolean;
  scale?: number;
  /** Added to every value (LayerNorm rows with a large mean test the two-pass variance). */
  offset?: number;
}

/** n activations with the outliers described in the header. */
export function activations(n: number, seed: number, o: ActivationOptions = {}): Float32Array {
  const rng = new Rng(seed);
  const scale = o.scale ?? 1;
  const offset = o.offset ?? 0;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rng.uniform();
    if (u < 0.01) x[i] = offset + (rng.uniform() < 0.5 ? -1 : 1) * scale * (20 + 80 * rng.uniform());
    else if (u < 0.015) x[i] = rng.uniform() < 0.5 ? 0 : -0;
    else if (u < 0.016) x[i] = (rng.uniform() < 0.5 ? -1 : 1) * F32_SUBNORMAL_MAX * rng.uniform();
    else if (o.specials && u < 0.0161) x[i] = Infinity;
    else if (o.specials && u < 0.0162) x[i] = -Infinity;
    else if (o.specials && u < 0.0163) x[i] = NaN;
    else if (o.specials && u < 0.0164) x[i] = rng.uniform() < 0.5 ? 1e30 : -1e30;
    else x[i] = offset + scale * rng.normal();
  }
  return x;
}

/** A (rows, cols) matrix scaled by 1/√fanIn, with outliers and exact zeros. */
export function matrix(rows: number, cols: number, fanIn: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const s = 1 / Math.sqrt(fanIn);
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) {
    const u = rng.uniform();
    if (u < 0.005) x[i] = (rng.uniform() < 0.5 ? -1 : 1) * s * (10 + 20 * rng.uniform());
    else if (u < 0.01) x[i] = 0;
    else x[i] = s * rng.normal();
  }
  return x;
}

/** Integers in [0, V) (token ids). */
export function tokens(n: number, V: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const t = new Int32Array(n);
  for (let i = 0; i < n; i++) t[i] = rng.int(0, V - 1);
  return t;
}
