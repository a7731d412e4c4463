/**
 * stable-kernels: numerically stable tensor kernels on every gpu.js backend,
 * each with an FP64 reference and a derived error bound.
 */
export { createDevice, probeBackends, Device, BACKENDS } from './device.js';
export type { BackendName, BackendFamily, DeviceInfo, DeviceOptions, BackendProbe } from './device.js';
export { Tensor, tensor, shapeSize } from './tensor.js';
export type { DType, HostArray, Shape } from './tensor.js';
export { ArgumentError, BackendUnavailableError } from './errors.js';
export { runKernel, registerKernel, registeredKernels, addHook, scope, currentScope } from './dispatch.js';
export type { Phase, Hook, KernelEvent, KernelImpl, KernelRegistration, Inputs, Outputs } from './dispatch.js';
export * from './kernels/index.js';
