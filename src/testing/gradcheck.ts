/**
 * Central finite differences in float64, to check the FP64 backward passes.
 *
 * For a forward f: R^n → R^m and an upstream gradient w ∈ R^m, the scalar
 * L(x) = Σ_j w_j·f_j(x) has ∂L/∂x_i = (Jᵀw)_i, which is what every backward
 * returns. We estimate it with Richardson-extrapolated central differences
 *
 *   D(h) = (L(x + h·e_i) − L(x − h·e_i)) / 2h,   G = (4·D(h/2) − D(h)) / 3,
 *
 * whose truncation error is O(h⁴·|∂⁵L|) instead of O(h²·|∂³L|). With
 * h = 2^-7·max(1, |x_i|) on inputs of moderate size (|x| ≲ 10, smooth
 * kernels) the truncation term is below 1e-9·Σ|w|, and rounding adds about
 * 2^-52·Σ_j|w_j f_j| / h ≲ 3e-14·Σ|w f|. The check allows
 *
 *   |G − g_i| ≤ 1e-7·(|g_i| + Σ_j|w_j|·scale)
 *
 * where `scale` bounds |∂f_j/∂x| (1 for the kernels here unless a test says
 * otherwise): two orders of magnitude above the estimate's own error, and far
 * below any real gradient bug (a wrong sign, a missing term, a factor).
 */
import { unravel } from './compare.js';

export interface GradCheckOptions {
  /** Label for errors. */
  name: string;
  x: Float64Array;
  shape?: readonly number[];
  /** Forward pass, flattened output. Must not mutate x. */
  forward: (x: Float64Array) => Float64Array;
  /** Upstream gradient w (same length as the forward's output). */
  w: Float64Array;
  /** Analytic gradient ∂(w·f)/∂x, as the backward pass computes it. */
  analytic: Float64Array;
  /** Which input elements to check (default: all, or 64 spread over x when it is larger). */
  indices?: number[];
  /** Upper bound on |∂f_j/∂x_i| (default 1). */
  scale?: number;
  /** Tolerance factor (default 1e-7). */
  tol?: number;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Throws a readable error naming the input element whose gradient disagrees.
 *
 * @example
 * checkGradient({ name: 'softmax', x, forward: (xx) => reference.softmaxRef(xx, 1, 3), w, analytic: reference.softmaxBackwardRef(w, y, 1, 3) });
 */
export function checkGradient(o: GradCheckOptions): { maxErr: number; checked: number } {
  const n = o.x.length;
  const indices = o.indices ?? (n <= 64 ? [...Array(n).keys()] : Array.from({ length: 64 }, (_, k) => Math.floor((k * n) / 64)));
  let wabs = 0;
  for (const v of o.w) wabs += Math.abs(v);
  const scale = o.scale ?? 1;
  const tol = o.tol ?? 1e-7;
  const x = o.x.slice();
  const L = (xx: Float64Array) => dot(o.w, o.forward(xx));
  let maxErr = 0;
  for (const i of indices) {
    const xi = x[i];
    const h = 2 ** -7 * Math.max(1, Math.abs(xi));
    const D = (step: number) => {
      x[i] = xi + step;
      const plus = L(x);
      x[i] = xi - step;
      const minus = L(x);
      x[i] = xi;
      return (plus - minus) / (2 * step);
    };
    const G = (4 * D(h / 2) - D(h)) / 3;
    const g = o.analytic[i];
    const err = Math.abs(G - g);
    const allowed = tol * (Math.abs(g) + wabs * scale);
    maxErr = Math.max(maxErr, err);
    if (!(err <= allowed)) {
      const at = o.shape ? `[${unravel(i, o.shape).join(', ')}]` : `${i}`;
      throw new Error(`${o.name}: gradient at ${at} is ${g} but finite differences give ${G} (|error| ${err} > allowed ${allowed})`);
    }
  }
  return { maxErr, checked: indices.length };
}
