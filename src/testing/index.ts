/**
 * stable-kernels/testing: the stability suite's building blocks, for users
 * who write their own kernels.
 *
 *   - fast-check arbitraries for tensors and logits with the library's
 *     extreme-value mix (huge, tiny, subnormal, ±Inf, NaN, masked rows);
 *   - the FP64 reference kernels and their derived error bounds;
 *   - closeness assertions (atol + rtol·|expected| and ULP distance; NaN only
 *     matches NaN, ±Inf only the same Inf) that report the worst element;
 *   - the shared kernel checks, runnable against any device or any
 *     implementation registered with `registerKernel`.
 *
 * @example
 * import { assertClose, reference } from 'stable-kernels/testing';
 * const x = Float64Array.of(1000, 1000);
 * assertClose(mySoftmax(x), reference.softmaxRef(x, 1, 2), { rtol: 1e-6, what: 'mySoftmax' });
 */
export { assertClose, assertUlp, compareWithAllowed, describeFailure, ulpDistanceF32, sameBits, unravel } from './compare.js';
export type { CompareResult, CompareOptions, ElementReport } from './compare.js';
export { valueSpecArb, dimArb, matrixArb, propertyParams } from './arbitraries.js';
export type { SpecOptions, MatrixCase } from './arbitraries.js';
export { generate, widen, PROFILES, ORDINARY } from './values.js';
export type { ValueSpec, Profile } from './values.js';
export { Rng } from '../random.js';
export { checkGradient } from './gradcheck.js';
export type { GradCheckOptions } from './gradcheck.js';
export { AccuracyRecorder, makeContext, property, expectWithinBound, withUnmutatedInputs } from './suite.js';
export type { KernelCheck, CheckContext, AccuracyEntry } from './suite.js';
export { allChecks } from './suites/index.js';
export { errorModelFor, registerErrorModel, gamma, sumDepth, relBound, flushAbs, lowRangeAbs, GPU_SPEC_MODEL, WASM_MODEL, JS_MODEL, F64_MODEL } from '../kernels/bounds.js';
export type { ErrorModel, Bound } from '../kernels/bounds.js';

import * as softmax from '../kernels/softmax.js';
import * as crossEntropy from '../kernels/cross-entropy.js';
import * as attention from '../kernels/attention.js';
import * as layerNorm from '../kernels/layernorm.js';
import * as gelu from '../kernels/gelu.js';
import * as matmul from '../kernels/matmul.js';
import * as embedding from '../kernels/embedding.js';
import * as residual from '../kernels/residual.js';
import * as adamw from '../kernels/adamw.js';
import * as heads from '../kernels/heads.js';

/** The FP64 reference kernels (plain loops over Float64Array), forward and backward. */
export const reference = {
  logSumExpRef: softmax.logSumExpRef,
  softmaxRef: softmax.softmaxRef,
  logSoftmaxRef: softmax.logSoftmaxRef,
  softmaxBackwardRef: softmax.softmaxBackwardRef,
  logSoftmaxBackwardRef: softmax.logSoftmaxBackwardRef,
  logSumExpBackwardRef: softmax.logSumExpBackwardRef,
  crossEntropyRef: crossEntropy.crossEntropyRef,
  crossEntropyBackwardRef: crossEntropy.crossEntropyBackwardRef,
  attentionRef: attention.attentionRef,
  attentionBackwardRef: attention.attentionBackwardRef,
  layerNormRef: layerNorm.layerNormRef,
  layerNormBackwardRef: layerNorm.layerNormBackwardRef,
  geluRef: gelu.geluRef,
  geluBackwardRef: gelu.geluBackwardRef,
  erfRef: gelu.erfRef,
  erfcRef: gelu.erfcRef,
  matmulRef: matmul.matmulRef,
  matmulBackwardRef: matmul.matmulBackwardRef,
  embeddingRef: embedding.embeddingRef,
  embeddingBackwardRef: embedding.embeddingBackwardRef,
  residualRef: residual.residualRef,
  residualBackwardRef: residual.residualBackwardRef,
  adamwRef: adamw.adamwRef,
  splitHeadsRef: heads.splitHeadsRef,
  mergeHeadsRef: heads.mergeHeadsRef,
};

/** Each kernel's derived bound: per output element, the allowed |computed − exact| under a backend's ErrorModel. */
export const bounds = {
  softmaxBound: softmax.softmaxBound,
  logSoftmaxBound: softmax.logSoftmaxBound,
  logSumExpBound: softmax.logSumExpBound,
  softmaxBackwardBound: softmax.softmaxBackwardBound,
  logSoftmaxBackwardBound: softmax.logSoftmaxBackwardBound,
  logSumExpBackwardBound: softmax.logSumExpBackwardBound,
  crossEntropyBound: crossEntropy.crossEntropyBound,
  crossEntropyBackwardBound: crossEntropy.crossEntropyBackwardBound,
  attentionBound: attention.attentionBound,
  attentionBackwardBound: attention.attentionBackwardBound,
  layerNormBound: layerNorm.layerNormBound,
  layerNormBackwardBound: layerNorm.layerNormBackwardBound,
  geluBound: gelu.geluBound,
  geluBackwardBound: gelu.geluBackwardBound,
  matmulBound: matmul.matmulBound,
  matmulBackwardBound: matmul.matmulBackwardBound,
  embeddingBound: embedding.embeddingBound,
  embeddingBackwardBound: embedding.embeddingBackwardBound,
  residualBound: residual.residualBound,
  residualBackwardBound: residual.residualBackwardBound,
  adamwBound: adamw.adamwBound,
};
