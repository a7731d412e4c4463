/**
 * stable-kernels: numerically stable tensor kernels on every gpu.js backend
 * (and a WebAssembly SIMD backend), each with an FP64 reference and a derived
 * error bound; emulated fp16/bf16/fp8 with loss scaling and clipping; NaN/Inf
 * tracing on every kernel call; and a small GPT built from them.
 *
 * Subpaths: stable-kernels/precision, stable-kernels/trace, stable-kernels/model,
 * stable-kernels/testing.
 */
export { createDevice, probeBackends, Device, BACKENDS } from './device.js';
export type { BackendName, BackendFamily, DeviceInfo, DeviceOptions, BackendProbe } from './device.js';
export { Tensor, tensor, shapeSize } from './tensor.js';
export type { DType, HostArray, Shape } from './tensor.js';
export { ArgumentError, BackendUnavailableError } from './errors.js';
export { runKernel, registerKernel, registeredKernels, addHook, scope, currentScope } from './dispatch.js';
export type { Phase, Hook, KernelEvent, KernelImpl, KernelRegistration, Inputs, Outputs } from './dispatch.js';
export * from './kernels/index.js';
export { errorModelFor, registerErrorModel } from './kernels/bounds.js';
export type { ErrorModel, Bound } from './kernels/bounds.js';
export * from './precision/index.js';
export { tensorStats, arrayStats, nonFiniteCount, firstNonFinite, detectAnomalies, NonFiniteError, FormatOverflowError, TraceRecorder } from './trace/index.js';
export type { TensorStats, FormatStats, AnomalyDetails, AnomalyOptions, SummaryRow, TraceRecorderOptions } from './trace/index.js';
