/**
 * Registers the wasm backend's kernels with the dispatcher, under the same
 * names and with the same contracts as the gpu.js and reference versions, and
 * declares its error model. Kernels not listed here run on the wasm device
 * through gpu.js's cpu mode (the dispatcher's fallback from 'wasm' to 'gpujs').
 */
import type { Device } from '../../device.js';
import { registerKernel } from '../../dispatch.js';
import { registerErrorModel } from '../../kernels/bounds.js';
import type { MatmulAttrs, MatmulBackwardAttrs } from '../../kernels/matmul.js';
import { Tensor } from '../../tensor.js';
import { WASM_SIMD_MODEL, wasmColsumDepth, wasmGemmDepth } from './error-model.js';
import type { WasmRuntime } from './runtime.js';

/**
 * The wasm device's model: its SIMD kernels in float32 with their own matmul
 * and column-sum orders; gpu.js's cpu mode, which runs the other kernels in
 * float64, stays well inside it.
 */
registerErrorModel('wasm', {
  ...WASM_SIMD_MODEL,
  name: 'wasm-simd',
  dotDepth: (K) => wasmGemmDepth(K, false),
  colSumDepth: wasmColsumDepth,
});

function rt(d: Device): WasmRuntime {
  return d.wasm!;
}

/** A tensor's values as float32 (a copy only when the tensor is not float32). */
function f32(t: Tensor): Float32Array {
  const d = t.data;
  return d instanceof Float32Array ? d : Float32Array.from(d);
}

const host = (data: Float32Array, shape: readonly number[]) => Tensor.fromHost(data, shape);

registerKernel<MatmulAttrs>({
  kernel: 'matmul',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { a, b, bias }, { M, K, N, transB, shape }) => ({
    c: host(rt(d).matmul(f32(a), f32(b), M, K, N, { transB, ...(bias ? { bias: f32(bias) } : {}) }), shape),
  }),
});

registerKernel<MatmulBackwardAttrs>({
  kernel: 'matmul',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dout, a, b }, { M, K, N, transB, shape, bShape, wantBias }) => {
    const g = rt(d).matmulBackward(f32(dout), f32(a), f32(b), M, K, N, { transB, bias: wantBias });
    const out: Record<string, Tensor> = { da: host(g.da, shape), db: host(g.db, bShape) };
    if (wantBias) out.dbias = host(g.dbias!, [N]);
    return out;
  },
});

interface RowsAttrs {
  N: number;
  V: number;
  shape: readonly number[];
}

registerKernel<RowsAttrs>({
  kernel: 'logSumExp',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { x }, { N, V, shape }) => ({ lse: host(rt(d).logSumExp(f32(x), N, V), shape.slice(0, -1)) }),
});
registerKernel<RowsAttrs>({
  kernel: 'softmax',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { x }, { N, V, shape }) => ({ y: host(rt(d).softmax(f32(x), N, V), shape) }),
});
registerKernel<RowsAttrs>({
  kernel: 'logSoftmax',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { x }, { N, V, shape }) => ({ y: host(rt(d).logSoftmax(f32(x), N, V), shape) }),
});
registerKernel<RowsAttrs>({
  kernel: 'softmax',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dy, y }, { N, V, shape }) => ({ dx: host(rt(d).softmaxBackward(f32(dy), f32(y), N, V), shape) }),
});
registerKernel<RowsAttrs>({
  kernel: 'logSoftmax',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dy, y }, { N, V, shape }) => ({ dx: host(rt(d).logSoftmaxBackward(f32(dy), f32(y), N, V), shape) }),
});
registerKernel<RowsAttrs>({
  kernel: 'logSumExp',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dlse, x, lse }, { N, V, shape }) => ({ dx: host(rt(d).logSumExpBackward(f32(dlse), f32(x), f32(lse), N, V), shape) }),
});
