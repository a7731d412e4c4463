/**
 * Trace recorder: a hook that writes every kernel call to JSON Lines and
 * keeps a summary per kernel and scope (calls, time, worst max |x|,
 * non-finite counts, headroom to the float16 and bfloat16 maximum).
 *
 *   const rec = new TraceRecorder({ file: 'trace.jsonl' });
 *   const stop = rec.attach();
 *   ... run kernels or a training step ...
 *   stop();
 *   console.log(rec.table());
 *
 * One JSONL line per call:
 *   {"seq":12,"kernel":"softmax","phase":"forward","path":"h.0.attn.softmax","backend":"webgpu","ms":1.7,
 *    "inputs":[{"name":"x","shape":[4,64]}],"outputs":[{"name":"y","shape":[4,64],"stats":{...}}]}
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { addHook, type KernelEvent } from '../dispatch.js';
import { bfloat16, float16 } from '../precision/formats.js';
import { tensorStats, type TensorStats } from './stats.js';

export interface TraceRecorderOptions {
  /** JSON Lines output file (omit to keep only the summary). */
  file?: string;
  /** Compute output statistics (default true; with false only shapes and times are recorded). */
  stats?: boolean;
  /** Also compute statistics of inputs (default false: inputs are usually earlier outputs). */
  inputStats?: boolean;
}

export interface SummaryRow {
  /** scope path + kernel, e.g. 'h.0.attn.softmax' */
  path: string;
  kernel: string;
  phase: string;
  calls: number;
  ms: number;
  /** Worst max |x| over the outputs of these calls. */
  maxAbs: number;
  nan: number;
  inf: number;
  /** float16 max / worst max |x| (how many times larger the values could get before overflowing float16). */
  headroomF16: number;
  headroomBF16: number;
  /** Values that would underflow to zero in float16 (nonzero values below half its smallest subnormal). */
  f16Underflow: number;
}

export class TraceRecorder {
  readonly rows = new Map<string, SummaryRow>();
  #fd: number | undefined;
  readonly #stats: boolean;
  readonly #inputStats: boolean;
  calls = 0;

  constructor(options: TraceRecorderOptions = {}) {
    this.#stats = options.stats ?? true;
    this.#inputStats = options.inputStats ?? false;
    if (options.file) this.#fd = openSync(options.file, 'w');
  }

  /** Starts recording; returns the function that stops it. */
  attach(): () => void {
    const remove = addHook((e) => this.record(e));
    return () => {
      remove();
      this.flush();
    };
  }

  async record(e: KernelEvent): Promise<void> {
    this.calls++;
    const outputs: { name: string; shape: readonly number[]; stats?: TensorStats }[] = [];
    const key = `${e.path}\u0000${e.phase}`;
    let row = this.rows.get(key);
    if (!row) {
      row = { path: e.path, kernel: e.kernel, phase: e.phase, calls: 0, ms: 0, maxAbs: 0, nan: 0, inf: 0, headroomF16: Infinity, headroomBF16: Infinity, f16Underflow: 0 };
      this.rows.set(key, row);
    }
    row.calls++;
    row.ms += e.ms;
    for (const [name, t] of Object.entries(e.outputs)) {
      let stats: TensorStats | undefined;
      if (this.#stats) {
        stats = await tensorStats(e.device, t, float16);
        if (stats.maxAbs > row.maxAbs) row.maxAbs = stats.maxAbs;
        row.nan += stats.nan;
        row.inf += stats.posInf + stats.negInf;
        row.f16Underflow += stats.target?.underflowToZero ?? 0;
        if (Number.isFinite(stats.maxAbs) && stats.maxAbs > 0) {
          row.headroomF16 = Math.min(row.headroomF16, float16.maxFinite / stats.maxAbs);
          row.headroomBF16 = Math.min(row.headroomBF16, bfloat16.maxFinite / stats.maxAbs);
        }
      }
      outputs.push({ name, shape: t.shape, stats });
    }
    if (this.#fd !== undefined) {
      const inputs = [];
      for (const [name, t] of Object.entries(e.inputs)) {
        inputs.push({ name, shape: t.shape, stats: this.#inputStats ? await tensorStats(e.device, t) : undefined });
      }
      const line = { seq: e.seq, kernel: e.kernel, phase: e.phase, path: e.path, backend: e.device.backend, ms: +e.ms.toFixed(3), inputs, outputs };
      writeSync(this.#fd, JSON.stringify(line, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) + '\n');
    }
  }

  flush(): void {
    if (this.#fd !== undefined) {
      closeSync(this.#fd);
      this.#fd = undefined;
    }
  }

  /** Summary rows in first-seen order. */
  summary(): SummaryRow[] {
    return [...this.rows.values()];
  }

  /** Total NaN and Inf values seen in outputs. */
  nonFinite(): number {
    let n = 0;
    for (const r of this.rows.values()) n += r.nan + r.inf;
    return n;
  }

  /** A fixed-width table of the summary. */
  table(options: { maxRows?: number } = {}): string {
    const rows = this.summary();
    const header = ['scope.kernel', 'phase', 'calls', 'ms', 'max |x|', 'NaN', 'Inf', 'f16 headroom', 'bf16 headroom', 'f16 underflow'];
    const fmtH = (h: number) => (h === Infinity ? '—' : h >= 1 ? `${h.toPrecision(3)}×` : `OVERFLOW ${(1 / h).toPrecision(3)}×`);
    const body = rows.slice(0, options.maxRows ?? rows.length).map((r) => [
      r.path,
      r.phase,
      String(r.calls),
      r.ms.toFixed(1),
      r.maxAbs.toPrecision(4),
      String(r.nan),
      String(r.inf),
      fmtH(r.headroomF16),
      fmtH(r.headroomBF16),
      String(r.f16Underflow),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
    const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
    if (rows.length > body.length) out.push(`… ${rows.length - body.length} more rows`);
    return out.join('\n');
  }
}


