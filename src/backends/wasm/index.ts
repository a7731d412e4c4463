/**
 * The wasm backend: hand-written WebAssembly SIMD kernels (asm/*.ts, compiled
 * by scripts/wasm/build.mjs) run on the calling thread and a pool of worker
 * threads over one shared memory. Import from here.
 */
export { WasmRuntime, DEFAULT_MIN_FLOPS_PER_THREAD, DEFAULT_MIN_ELEMENTS_PER_THREAD } from './runtime.js';
export type {
  WasmRuntimeOptions,
  CallOptions,
  MatmulOptions,
  MatmulBackwardOptions,
  MatmulGrads,
  GeluForm,
  AdamWScalarArgs,
  AdamWOutputs,
  LayerNormOutputs,
  LayerNormGrads,
  CrossEntropyArgs,
  AttentionDimsArgs,
  AttentionArgs,
} from './runtime.js';
export { WASM_SIMD_MODEL, EXP_ULP, LOG_ULP, TANH_ULP, ERF_ULP, GEMM_KC, wasmGemmDepth, wasmColsumDepth } from './error-model.js';
export { erf64, erfc64, ulpDistanceF32, MATH_REFERENCES } from './math64.js';
