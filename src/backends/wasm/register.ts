/**
 * Registers the wasm backend's kernels with the dispatcher, under the same
 * names and with the same contracts as the gpu.js and reference versions, and
 * declares its error model. Every kernel of src/kernels has a SIMD version
 * here; the dispatcher's fallback from 'wasm' to 'gpujs' (gpu.js cpu mode)
 * remains for kernels registered later by users.
 *
 * Zero copy: every output is a view into the wasm heap (`rt.alloc`), handed
 * out as a host tensor whose `release` hook frees it on `dispose()` (and the
 * heap's FinalizationRegistry frees a view that is dropped without one).
 * Inputs that are heap views (the outputs of earlier kernels) are read in
 * place; other arrays are copied in for the call. The attrs each
 * implementation receives are the ones the public functions of src/kernels
 * pass (the interfaces below mirror those files' attrs).
 *
 * Lifetime: a view is only valid until its tensor is disposed. Kernels read
 * their inputs during the call and keep nothing, so the one rule is the
 * caller's: dispose a tensor after its last use (src/model/gpt.ts disposes a
 * step's intermediates after the backward pass has read them), and do not keep
 * `tensor.data` (or a subarray of it) past `dispose()`; `read()` gives a copy.
 */
import type { Device } from '../../device.js';
import { registerKernel } from '../../dispatch.js';
import { adamwScalars, type AdamWAttrs } from '../../kernels/adamw.js';
import type { AttentionAttrs } from '../../kernels/attention.js';
import { registerErrorModel } from '../../kernels/bounds.js';
import type { CrossEntropyAttrs } from '../../kernels/cross-entropy.js';
import type { EmbeddingAttrs } from '../../kernels/embedding.js';
import type { GeluAttrs } from '../../kernels/gelu.js';
import type { LayerNormAttrs } from '../../kernels/layernorm.js';
import type { MatmulAttrs, MatmulBackwardAttrs } from '../../kernels/matmul.js';
import type { RowsAttrs } from '../../kernels/softmax.js';
import type { FloatFormat } from '../../precision/formats.js';
import { roundArray } from '../../precision/round.js';
import { Tensor } from '../../tensor.js';
import { WASM_SIMD_MODEL, wasmColsumDepth, wasmGemmDepth } from './error-model.js';
import { WasmRuntime, type AttentionArgs } from './runtime.js';

/**
 * The wasm device's model: its SIMD kernels in float32 with their own matmul
 * and column-sum orders (every other kernel follows the shared chunked order
 * the gpu.js bounds assume, so those bounds apply unchanged).
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

/** n floats of heap for an output the kernel writes in full (not zeroed). */
function heapOut(d: Device, n: number): Float32Array {
  return rt(d).alloc(n, false);
}

/** A host tensor over a heap view, freed when the tensor is disposed. */
function lend(d: Device, data: Float32Array, shape: readonly number[]): Tensor {
  const r = rt(d);
  return Tensor.fromHost(data, shape, 'wasm output', () => r.free(data));
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

// ---------------------------------------------------------------------------
// matmul
// ---------------------------------------------------------------------------

registerKernel<MatmulAttrs>({
  kernel: 'matmul',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { a, b, bias }, { M, K, N, transB, shape }) => {
    const out = heapOut(d, M * N);
    rt(d).matmul(f32(a), f32(b), M, K, N, { transB, out, ...(bias ? { bias: f32(bias) } : {}) });
    return { c: lend(d, out, shape) };
  },
});

registerKernel<MatmulBackwardAttrs>({
  kernel: 'matmul',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dout, a, b }, { M, K, N, transB, shape, bShape, wantBias }) => {
    const outs = { da: heapOut(d, M * K), db: heapOut(d, K * N), dbias: wantBias ? heapOut(d, N) : undefined };
    rt(d).matmulBackward(f32(dout), f32(a), f32(b), M, K, N, { transB, bias: wantBias, outs });
    const out: Record<string, Tensor> = { da: lend(d, outs.da, shape), db: lend(d, outs.db, bShape) };
    if (outs.dbias) out.dbias = lend(d, outs.dbias, [N]);
    return out;
  },
});

// ---------------------------------------------------------------------------
// softmax family (phase 1)
// ---------------------------------------------------------------------------

registerKernel<RowsAttrs>({
  kernel: 'logSumExp',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { x }, { N, V, shape }) => {
    const out = heapOut(d, N);
    rt(d).logSumExp(f32(x), N, V, { out });
    return { lse: lend(d, out, shape.slice(0, -1)) };
  },
});
registerKernel<RowsAttrs>({
  kernel: 'softmax',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { x }, { N, V, shape }) => {
    const out = heapOut(d, N * V);
    rt(d).softmax(f32(x), N, V, { out });
    return { y: lend(d, out, shape) };
  },
});
registerKernel<RowsAttrs>({
  kernel: 'logSoftmax',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { x }, { N, V, shape }) => {
    const out = heapOut(d, N * V);
    rt(d).logSoftmax(f32(x), N, V, { out });
    return { y: lend(d, out, shape) };
  },
});
registerKernel<RowsAttrs>({
  kernel: 'softmax',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dy, y }, { N, V, shape }) => {
    const out = heapOut(d, N * V);
    rt(d).softmaxBackward(f32(dy), f32(y), N, V, { out });
    return { dx: lend(d, out, shape) };
  },
});
registerKernel<RowsAttrs>({
  kernel: 'logSoftmax',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dy, y }, { N, V, shape }) => {
    const out = heapOut(d, N * V);
    rt(d).logSoftmaxBackward(f32(dy), f32(y), N, V, { out });
    return { dx: lend(d, out, shape) };
  },
});
registerKernel<RowsAttrs>({
  kernel: 'logSumExp',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dlse, x, lse }, { N, V, shape }) => {
    const out = heapOut(d, N * V);
    rt(d).logSumExpBackward(f32(dlse), f32(x), f32(lse), N, V, { out });
    return { dx: lend(d, out, shape) };
  },
});

// ---------------------------------------------------------------------------
// residual (src/kernels/residual.ts: attrs { shape })
// ---------------------------------------------------------------------------

interface ShapeAttrs {
  shape: readonly number[];
}

registerKernel<ShapeAttrs>({
  kernel: 'residual',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { a, b }, { shape }) => {
    const out = heapOut(d, size(shape));
    rt(d).add(f32(a), f32(b), { out });
    return { out: lend(d, out, shape) };
  },
});
registerKernel<ShapeAttrs>({
  kernel: 'residual',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dout }, { shape }) => {
    // two fresh copies (never views of dout or of each other); a same-type set() copies bits
    const g = f32(dout);
    const da = heapOut(d, g.length);
    const db = heapOut(d, g.length);
    da.set(g);
    db.set(g);
    return { da: lend(d, da, shape), db: lend(d, db, shape) };
  },
});

// ---------------------------------------------------------------------------
// gelu (src/kernels/gelu.ts: attrs { approximate, shape })
// ---------------------------------------------------------------------------

registerKernel<GeluAttrs>({
  kernel: 'gelu',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { x }, { approximate, shape }) => {
    const out = heapOut(d, size(shape));
    rt(d).gelu(f32(x), approximate, { out });
    return { y: lend(d, out, shape) };
  },
});
registerKernel<GeluAttrs>({
  kernel: 'gelu',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dy, x }, { approximate, shape }) => {
    const out = heapOut(d, size(shape));
    rt(d).geluBackward(f32(dy), f32(x), approximate, { out });
    return { dx: lend(d, out, shape) };
  },
});

// ---------------------------------------------------------------------------
// adamw (src/kernels/adamw.ts)
// ---------------------------------------------------------------------------

registerKernel<AdamWAttrs>({
  kernel: 'adamw',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { param, grad, m, v }, { config, shape }) => {
    const n = size(shape);
    const outs = { param: heapOut(d, n), m: heapOut(d, n), v: heapOut(d, n) };
    rt(d).adamw(f32(param), f32(grad), f32(m), f32(v), adamwScalars(config), outs);
    return { param: lend(d, outs.param, shape), m: lend(d, outs.m, shape), v: lend(d, outs.v, shape) };
  },
});

// ---------------------------------------------------------------------------
// cast (src/kernels/cast.ts: attrs { format })
// ---------------------------------------------------------------------------

registerKernel<{ format: FloatFormat }>({
  kernel: 'cast',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { x }, { format }) => {
    const out = heapOut(d, x.size);
    const data = x.data;
    if (data instanceof Float32Array && WasmRuntime.castsInSimd(format)) rt(d).cast(data, format, { out });
    // float64 input is rounded once from its own value (as the gpu.js path does); formats
    // outside the SIMD rounding take the host's roundArray, the specification itself
    else roundArray(format, data instanceof Float32Array ? data : Float64Array.from(data), out);
    return { y: lend(d, out, x.shape) };
  },
});

// ---------------------------------------------------------------------------
// splitHeads / mergeHeads (src/kernels/heads.ts: attrs { B, T, NH, hs })
// ---------------------------------------------------------------------------

interface HeadDims {
  B: number;
  T: number;
  NH: number;
  hs: number;
}

registerKernel<HeadDims>({
  kernel: 'splitHeads',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { qkv }, { B, T, NH, hs }) => {
    const n = B * NH * T * hs;
    const outs = { q: heapOut(d, n), k: heapOut(d, n), v: heapOut(d, n) };
    rt(d).splitHeads(f32(qkv), B, T, NH, hs, outs);
    const shape = [B, NH, T, hs];
    return { q: lend(d, outs.q, shape), k: lend(d, outs.k, shape), v: lend(d, outs.v, shape) };
  },
});
registerKernel<HeadDims>({
  kernel: 'splitHeads',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dq, dk, dv }, { B, T, NH, hs }) => {
    const out = heapOut(d, 3 * B * T * NH * hs);
    rt(d).splitHeadsBackward(f32(dq), f32(dk), f32(dv), B, T, NH, hs, { out });
    return { dqkv: lend(d, out, [B, T, 3 * NH * hs]) };
  },
});
registerKernel<HeadDims>({
  kernel: 'mergeHeads',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { y }, { B, T, NH, hs }) => {
    const out = heapOut(d, B * T * NH * hs);
    rt(d).mergeHeads(f32(y), B, T, NH, hs, { out });
    return { out: lend(d, out, [B, T, NH * hs]) };
  },
});
registerKernel<HeadDims>({
  kernel: 'mergeHeads',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dout }, { B, T, NH, hs }) => {
    const out = heapOut(d, B * T * NH * hs);
    rt(d).mergeHeadsBackward(f32(dout), B, T, NH, hs, { out });
    return { dy: lend(d, out, [B, NH, T, hs]) };
  },
});

// ---------------------------------------------------------------------------
// embedding (src/kernels/embedding.ts)
// ---------------------------------------------------------------------------

registerKernel<EmbeddingAttrs>({
  kernel: 'embedding',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { wte, wpe }, { B, T, C, ids }) => {
    const out = heapOut(d, B * T * C);
    rt(d).embedding(ids, f32(wte), f32(wpe), B, T, C, { out });
    return { out: lend(d, out, [B, T, C]) };
  },
});
registerKernel<EmbeddingAttrs>({
  kernel: 'embedding',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dout }, { B, T, C, V, maxT, ids }) => {
    const outs = { dwte: heapOut(d, V * C), dwpe: heapOut(d, maxT * C) };
    rt(d).embeddingBackward(f32(dout), ids, B, T, C, V, maxT, outs);
    return { dwte: lend(d, outs.dwte, [V, C]), dwpe: lend(d, outs.dwpe, [maxT, C]) };
  },
});

// ---------------------------------------------------------------------------
// layerNorm (src/kernels/layernorm.ts: attrs { N, C, eps, shape })
// ---------------------------------------------------------------------------

registerKernel<LayerNormAttrs>({
  kernel: 'layerNorm',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { x, weight, bias }, { N, C, eps, shape }) => {
    const outs = { out: heapOut(d, N * C), mean: heapOut(d, N), rstd: heapOut(d, N) };
    rt(d).layerNorm(f32(x), f32(weight), f32(bias), N, C, eps, outs);
    const lead = shape.slice(0, -1);
    return { out: lend(d, outs.out, shape), mean: lend(d, outs.mean, lead), rstd: lend(d, outs.rstd, lead) };
  },
});
registerKernel<LayerNormAttrs>({
  kernel: 'layerNorm',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dout, x, weight, mean, rstd }, { N, C, shape }) => {
    const outs = { dx: heapOut(d, N * C), dweight: heapOut(d, C), dbias: heapOut(d, C) };
    rt(d).layerNormBackward(f32(dout), f32(x), f32(weight), f32(mean), f32(rstd), N, C, outs);
    return { dx: lend(d, outs.dx, shape), dweight: lend(d, outs.dweight, [C]), dbias: lend(d, outs.dbias, [C]) };
  },
});

// ---------------------------------------------------------------------------
// crossEntropy (src/kernels/cross-entropy.ts; targets coded, −1 = ignored)
// ---------------------------------------------------------------------------

registerKernel<CrossEntropyAttrs>({
  kernel: 'crossEntropy',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { logits, targets }, a) => {
    const none = a.reduction === 'none';
    const outs = { loss: heapOut(d, none ? a.N : 1), lse: heapOut(d, a.N) };
    rt(d).crossEntropy(f32(logits), f32(targets), a.N, a.V, a, outs);
    return { loss: lend(d, outs.loss, none ? a.lead : []), lse: lend(d, outs.lse, a.lead) };
  },
});
registerKernel<CrossEntropyAttrs>({
  kernel: 'crossEntropy',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dloss, logits, targets, lse }, a) => {
    const out = heapOut(d, a.N * a.V);
    rt(d).crossEntropyBackward(f32(dloss), f32(logits), f32(targets), f32(lse), a.N, a.V, a, { out });
    return { dlogits: lend(d, out, a.shape) };
  },
});

// ---------------------------------------------------------------------------
// attention (src/kernels/attention.ts)
// ---------------------------------------------------------------------------

/** The attrs as the runtime takes them; an int32 boolean mask becomes float 0/1 (a copy of the mask). */
function attentionArgs(a: AttentionAttrs, mask: Tensor | undefined): AttentionArgs {
  if (!mask || a.maskKind === 0) return { causal: a.causal, scale: a.scale };
  return { causal: a.causal, scale: a.scale, mask: { data: f32(mask), kind: a.maskKind, strides: a.maskStrides } };
}

registerKernel<AttentionAttrs>({
  kernel: 'attention',
  phase: 'forward',
  backend: 'wasm',
  impl: (d, { q, k, v, mask }, a) => {
    const outs = { out: heapOut(d, a.B * a.NH * a.T * a.hs), lse: heapOut(d, a.B * a.NH * a.T) };
    rt(d).attention(f32(q), f32(k), f32(v), a, attentionArgs(a, mask), outs);
    return { out: lend(d, outs.out, [a.B, a.NH, a.T, a.hs]), lse: lend(d, outs.lse, [a.B, a.NH, a.T]) };
  },
});
registerKernel<AttentionAttrs>({
  kernel: 'attention',
  phase: 'backward',
  backend: 'wasm',
  impl: (d, { dout, q, k, v, out, lse, mask }, a) => {
    const outs = { dq: heapOut(d, q.size), dk: heapOut(d, k.size), dv: heapOut(d, v.size) };
    rt(d).attentionBackward(f32(dout), f32(q), f32(k), f32(v), f32(out), f32(lse), a, attentionArgs(a, mask), outs);
    return { dq: lend(d, outs.dq, q.shape), dk: lend(d, outs.dk, k.shape), dv: lend(d, outs.dv, v.shape) };
  },
});
