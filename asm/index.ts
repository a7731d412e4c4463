/**
 * Entry point of the wasm backend's module (built by scripts/wasm/build.mjs
 * into src/backends/wasm/kernels.wasm.ts). Exports only functions over raw
 * pointers into the imported shared memory; no runtime, no data segments,
 * no globals, so any number of instances (one per worker) can share one
 * memory without initialising anything in it.
 */
export { map_f32 } from './maps';
export { gemm, gemm_workspace_bytes, gemm_kc, colsum } from './gemm';
export {
  logsumexp_rows, softmax_rows, logsoftmax_rows,
  softmax_bwd_rows, logsoftmax_bwd_rows, logsumexp_bwd_rows,
} from './softmax';
