/** stable-kernels/model: the GPT built from the stable kernels, its data, training and sampling. */
export { GPT, PRECISION_MODES, storageFormat } from './gpt.js';
export type { PrecisionMode, ForwardResult, ForwardCache, KVCache } from './gpt.js';
export { ParamLayout, MODEL_SIZES, checkConfig } from './params.js';
export type { GPTConfig, ParamSpec, ModelSize } from './params.js';
export { Trainer, DEFAULT_OPTIM, learningRate } from './train.js';
export type { OptimConfig, StepInfo, TrainerOptions } from './train.js';
export { MarkovSource, MarkovStream, TextFileData, CharTokenizer, SEED_TEXT } from './data.js';
export type { Batch, DataSource, LoaderState, MarkovSourceInfo } from './data.js';
export { generate, sampleToken } from './generate.js';
export type { SampleOptions } from './generate.js';
export { saveCheckpoint, loadCheckpoint, CheckpointError, CHECKPOINT_FORMAT } from './checkpoint.js';
export type { CheckpointTensor, LoadedCheckpoint } from './checkpoint.js';
export { plotLossCurve } from './plot.js';
export type { CurvePoint } from './plot.js';
