/**
 * Entry point of the wasm backend's module (built by scripts/wasm/build.mjs
 * into src/backends/wasm/kernels.wasm.ts). Exports only functions over raw
 * pointers into the imported shared memory; no runtime, no data segments,
 * no globals, so any number of instances (one per worker) can share one
 * memory without initialising anything in it.
 */
export { map_f32, zero_bytes } from './maps';
export { gemm, gemm_workspace_bytes, gemm_kc, colsum } from './gemm';
export {
  logsumexp_rows, softmax_rows, logsoftmax_rows,
  softmax_bwd_rows, logsoftmax_bwd_rows, logsumexp_bwd_rows,
} from './softmax';
export { add_f32, gelu_fwd, gelu_bwd, adamw_step } from './elementwise';
export { cast_f32 } from './cast';
export { split_heads, unsplit_heads, merge_heads, unmerge_heads } from './heads';
export { embedding_fwd, embedding_bwd } from './embedding';
export { layernorm_fwd, layernorm_bwd_rows, layernorm_bwd_reduce } from './layernorm';
export { ce_fwd_rows, ce_bwd_rows, sum_chunked } from './crossentropy';
export { attn_work_bytes, attn_fwd, attn_bwd } from './attention';
