/** Every kernel's shared checks, in one list (used by the vitest files and `stable-kernels check`). */
import type { KernelCheck } from '../suite.js';
import { attentionChecks } from './attention.js';
import { softmaxChecks } from './softmax.js';
import { residualChecks } from './residual.js';
import { geluChecks } from './gelu.js';
import { layerNormChecks } from './layernorm.js';
import { headsChecks } from './heads.js';
import { crossEntropyChecks } from './cross-entropy.js';
import { matmulChecks } from './matmul.js';
import { embeddingChecks } from './embedding.js';
import { adamwChecks } from './adamw.js';

export const allChecks: Record<string, KernelCheck[]> = {
  attention: attentionChecks,
  softmax: softmaxChecks,
  residual: residualChecks,
  gelu: geluChecks,
  layerNorm: layerNormChecks,
  heads: headsChecks,
  crossEntropy: crossEntropyChecks,
  matmul: matmulChecks,
  embedding: embeddingChecks,
  adamw: adamwChecks,
};
