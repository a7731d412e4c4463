/**
 * residual: the element-wise sum of a residual stream and a block's output,
 * forward and backward (nanoGPT's `x = x + attn(ln_1(x))`).
 *
 * Shapes: a (...) and b (...) must have exactly the same shape (no
 * broadcasting: a residual add of mismatched shapes is always a bug upstream).
 * out (...) like a. Backward: dout (...) → da (...), db (...).
 *
 * What is computed:
 *   forward:  out_i = a_i + b_i
 *   backward: da_i = dout_i, db_i = dout_i (∂(a + b)/∂a = ∂(a + b)/∂b = 1).
 * The backward pass goes through the dispatcher like every other kernel, so
 * tracing sees it, and returns two fresh tensors (never views of dout or of
 * each other: disposing one must not free the others).
 *
 * Edge-case contract (IEEE arithmetic; the FP64 reference defines it):
 *   - NaN in a or b gives NaN; +Inf + −Inf gives NaN; ±Inf + finite gives ±Inf;
 *   - finite inputs whose sum exceeds the float32 range give ±Inf on the
 *     float32 backends: that is the correctly rounded answer (the reference's
 *     float64 sum beyond F32_MAX + ½ULP rounds to ±Inf in float32);
 *   - huge values (±1e30, ±F32_MAX): exact up to the one rounding, e.g.
 *     F32_MAX + (−F32_MAX) = 0 exactly;
 *   - subnormal sums: exact where subnormals are kept, 0 where the backend
 *     flushes them (headlessgl, some webgpu adapters);
 *   - empty tensors give empty results; size-1 dimensions need no care.
 *
 * Error bound (the same on every backend): one rounding of the exact sum.
 *   - webgpu / headlessgl: WGSL and GLSL ES make + correctly rounded;
 *   - webasm: f32.add is IEEE, correctly rounded;
 *   - cpu: the float64 sum of two float32 values rounded to float32. Double
 *     rounding through a format of p' ≥ 2p + 2 bits is innocuous for + − × ÷ √
 *     (Figueroa, "When is double rounding innocuous?", 1995; 53 ≥ 2·24 + 2), so
 *     this too is the correctly rounded float32 sum;
 *   - reference: correctly rounded float64.
 *   So |out − (a + b)| ≤ uStore·|a + b| + 3·tiny: on backends that flush
 *   subnormals (tiny = FLT_MIN) a subnormal a or b may be read as 0 (≤ tiny
 *   each) and a subnormal sum written as 0 (≤ tiny); elsewhere tiny is the
 *   smallest subnormal, which bounds half an ULP of the subnormal range. The
 *   backward pass copies: |da − dout| ≤ tiny (a subnormal may flush), else exact.
 */
import type { Device } from '../device.js';
import { registerKernel, runKernel } from '../dispatch.js';
import type { Tensor } from '../tensor.js';
import type { Bound, ErrorModel } from './bounds.js';
import { checkFloat, checkSameShape, checkTensor, emptyLike, f64, out64 } from './shapes.js';

// ---------------------------------------------------------------------------
// FP64 reference
// ---------------------------------------------------------------------------

/** out (n) = a + b in float64. */
export function residualRef(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** da (n) and db (n), both equal to dout, as fresh arrays. */
export function residualBackwardRef(dout: Float64Array): { da: Float64Array; db: Float64Array } {
  return { da: dout.slice(), db: dout.slice() };
}

// ---------------------------------------------------------------------------
// Error bounds
// ---------------------------------------------------------------------------

/** |Δout_i| ≤ uStore·|a_i + b_i| + 3·tiny: one correctly rounded addition, subnormals flushed (see the header). */
export function residualBound(M: ErrorModel, ref: Float64Array): Bound {
  const allowed = new Float64Array(ref.length);
  for (let i = 0; i < ref.length; i++) allowed[i] = M.uStore * Math.abs(ref[i]) + 3 * M.tiny;
  return { allowed, note: `residual: |Δout| ≤ u_store·|a + b| + 3·tiny (one correctly rounded add; flushed inputs and result), ${M.name}` };
}

/** |Δda_i| ≤ tiny: a copy, exact except for subnormals a flushing backend zeroes. */
export function residualBackwardBound(M: ErrorModel, n: number): Bound {
  return { allowed: new Float64Array(n).fill(M.tiny), note: `residualBackward: exact copy (subnormals may flush: tiny), ${M.name}` };
}

// ---------------------------------------------------------------------------
// gpu.js kernels
// ---------------------------------------------------------------------------

interface ElemThis {
  thread: { x: number };
}

function residualKernel(this: ElemThis, a: number[], b: number[]): number {
  return a[this.thread.x] + b[this.thread.x];
}

function copyKernel(this: ElemThis, x: number[]): number {
  return x[this.thread.x];
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

interface ResidualAttrs {
  shape: readonly number[];
}

registerKernel<ResidualAttrs>({
  kernel: 'residual',
  phase: 'forward',
  backend: 'reference',
  impl: (_d, { a, b }, { shape }) => ({ out: out64(residualRef(f64(a), f64(b)), shape) }),
});
registerKernel<ResidualAttrs>({
  kernel: 'residual',
  phase: 'forward',
  backend: 'gpujs',
  impl: async (d, { a, b }, { shape }) => ({
    out: await d.gpujs!.run({ name: 'residual.forward', fn: residualKernel, outputs: a.size }, [a, b], shape),
  }),
});

registerKernel<ResidualAttrs>({
  kernel: 'residual',
  phase: 'backward',
  backend: 'reference',
  impl: (_d, { dout }, { shape }) => {
    const { da, db } = residualBackwardRef(f64(dout));
    return { da: out64(da, shape), db: out64(db, shape) };
  },
});
registerKernel<ResidualAttrs>({
  kernel: 'residual',
  phase: 'backward',
  backend: 'gpujs',
  impl: async (d, { dout }, { shape }) => {
    const rt = d.gpujs!;
    const spec = { name: 'residual.copy', fn: copyKernel, outputs: dout.size };
    return { da: await rt.run(spec, [dout], shape), db: await rt.run(spec, [dout], shape) };
  },
});

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

/**
 * Residual add: out = a + b, element-wise, shapes equal (no broadcasting).
 * Correctly rounded on every backend; finite inputs whose sum overflows give ±Inf.
 *
 * @param a (...) the residual stream
 * @param b (...) the block output, same shape as a
 * @returns out (...) = a + b
 * @example
 * const x1 = await residual(dev, x, attnOut); // x = x + attn(ln_1(x))
 */
export async function residual(device: Device, a: Tensor, b: Tensor): Promise<Tensor> {
  checkTensor('residual', 'a', a);
  checkFloat('residual', 'a', a);
  checkSameShape('residual', 'b', b, 'a', a);
  checkFloat('residual', 'b', b);
  if (a.size === 0) return emptyLike(device.info.precision, a.shape);
  return (await runKernel(device, 'residual', 'forward', { a, b }, { shape: a.shape })).out;
}

/**
 * Gradient of the residual add: da = dout and db = dout, as two fresh tensors.
 *
 * @param dout (...) gradient with respect to out
 * @returns { da (...), db (...) }, both equal to dout
 * @example
 * const { da, db } = await residualBackward(dev, dout);
 */
export async function residualBackward(device: Device, dout: Tensor): Promise<{ da: Tensor; db: Tensor }> {
  checkTensor('residualBackward', 'dout', dout);
  checkFloat('residualBackward', 'dout', dout);
  if (dout.size === 0) return { da: emptyLike(device.info.precision, dout.shape), db: emptyLike(device.info.precision, dout.shape) };
  const { da, db } = await runKernel(device, 'residual', 'backward', { dout }, { shape: dout.shape });
  return { da, db };
}
