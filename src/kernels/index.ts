/** Every kernel of the library: importing this registers their implementations. */
export { logSumExp, logSumExpBackward, softmax, softmaxBackward, logSoftmax, logSoftmaxBackward } from './softmax.js';
export { splitHeads, splitHeadsBackward, mergeHeads, mergeHeadsBackward } from './heads.js';
export { cast } from './cast.js';
export { crossEntropy, crossEntropyBackward, type CrossEntropyOptions, type CrossEntropyReduction, type CrossEntropyResult } from './cross-entropy.js';
export { attention, attentionBackward, type AttentionOptions } from './attention.js';
export { matmul, matmulBackward, type MatmulOptions, type MatmulBackwardOptions } from './matmul.js';
export { residual, residualBackward } from './residual.js';
export { embedding, embeddingBackward } from './embedding.js';
export { adamw, type AdamWOptions, type AdamWState } from './adamw.js';
export { gelu, geluBackward, type GeluOptions, type GeluApproximation } from './gelu.js';
export { layerNorm, layerNormBackward, type LayerNormOptions, type LayerNormResult, type LayerNormGradients } from './layernorm.js';
