/**
 * Tracing: hooks on the one dispatcher, per-tensor statistics, anomaly mode
 * (where was a NaN created?) and a trace recorder.
 */
export { addHook, scope, currentScope } from '../dispatch.js';
export type { Hook, KernelEvent } from '../dispatch.js';
export { tensorStats, arrayStats, nonFiniteCount, firstNonFinite } from './stats.js';
export type { TensorStats, FormatStats } from './stats.js';
export { detectAnomalies, NonFiniteError, FormatOverflowError } from './anomaly.js';
export type { AnomalyDetails, AnomalyOptions, InputContext, OverflowDetails } from './anomaly.js';
export { TraceRecorder } from './recorder.js';
export type { SummaryRow, TraceRecorderOptions } from './recorder.js';
