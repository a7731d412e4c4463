/**
 * The JSON the benchmark writes (bench/results/bench-<mode>.json) and
 * scripts/bench/report.ts reads. One process per subject writes a
 * SubjectResult; bench/run.ts merges them with the machine's description,
 * the ceilings, the dispatcher costs and the rounding throughput.
 */
import type { CheckResult, Metric, Phase } from './case.js';
import type { Timing } from './harness.js';

export type SubjectKind = 'ours' | 'peer';

export interface SubjectInfo {
  id: string;
  kind: SubjectKind;
  /** What it is, e.g. 'webasm (gpu.js, 2 worker threads)'. */
  label: string;
  available: boolean;
  /** Adapter, threads, versions; or why it is unavailable. */
  detail: string;
}

/** resident: inputs on the device, outputs left there. io: host arrays in, every output read back. host: computed on the CPU from host memory. */
export type Variant = 'resident' | 'io' | 'host';

export type Status = 'ok' | 'validation-failed' | 'unsupported' | 'error' | 'missing';

export interface CaseRecord {
  id: string;
  kernel: string;
  phase: Phase;
  size: string;
  metric: Metric;
  work: number;
  workNote: string;
  subject: string;
  variant: Variant;
  status: Status;
  message?: string;
  checks?: CheckResult[];
  timing?: Timing;
  /** work / median time, in the metric's unit (GB/s, GFLOP/s, tokens/s). */
  throughput?: number;
  /** Wall time spent on this record outside the timed samples: inputs, FP64 reference and bound, validation call, warm-up (ms). */
  overheadMs?: number;
}

export interface SubjectResult {
  subject: SubjectInfo;
  mode: 'quick' | 'full';
  started: string;
  seconds: number;
  load: { start: number; end: number };
  records: CaseRecord[];
}

export interface CeilingResult {
  name: string;
  /** GB/s counting bytes read + bytes written. */
  gbps: number;
  threads: number;
  detail: string;
}

export interface DispatchResult {
  name: string;
  /** Per call, in microseconds (median). */
  us: number;
  p10: number;
  p90: number;
  detail: string;
}

export interface BenchRun {
  mode: 'quick' | 'full';
  date: string;
  seconds: number;
  machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    node: string;
    os: string;
    adapter: string;
    loadStart: number;
    loadEnd: number;
  };
  subjects: SubjectResult[];
  ceilings: CeilingResult[];
  dispatch: { backend: string; results: DispatchResult[]; error?: string };
  rounding?: { source: string; results: { name: string; elementsPerSecond: number; marginPercent: number }[]; error?: string };
  tfjsWasmThreads?: Record<string, unknown>;
  notes: string[];
  failures: string[];
}

export function throughput(metric: Metric, work: number, ms: number): number {
  const s = ms / 1000;
  switch (metric) {
    case 'GB/s':
      return work / s / 1e9;
    case 'GFLOP/s':
      return work / s / 1e9;
    case 'tokens/s':
    case 'elements/s':
      return work / s;
  }
}

/** JSON that keeps NaN and ±Infinity readable (as strings). */
export function toJson(x: unknown): string {
  return JSON.stringify(x, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2) + '\n';
}

export function fromJson<T>(text: string): T {
  return JSON.parse(text, (_k, v) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v)) as T;
}
