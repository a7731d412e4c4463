/**
 * Smoke test of the benchmark code (bench/): every case, at toy sizes,
 * through the same runners, FP64 validation, benny timing and report as
 * `npm run bench`. Speed targets never appear here — only that the
 * benchmarks work, and that their validation fails loudly on a wrong kernel.
 */
import { describe, expect, it } from 'vitest';
import { registerKernel } from '../../src/dispatch.js';
import { Tensor } from '../../src/tensor.js';
import { runSubject } from '../../bench/worker.js';
import type { BenchRun, SubjectResult } from '../../bench/lib/results.js';
import { renderReport } from '../../scripts/bench/report.js';

const quiet = () => {};
const timing = { minSamples: 2, maxTime: 0, minTime: 0.001 };

describe('bench (tiny cases)', () => {
  it('runs every case on the FP64 reference, gpu.js cpu, tfjs-cpu and the loop, each checked before it is timed', async () => {
    const subjects: SubjectResult[] = [];
    for (const id of ['reference', 'cpu', 'tfjs-cpu', 'ts-loop']) {
      const { result, failed } = await runSubject(id, 'full', { scale: 'tiny', timing, log: quiet });
      expect(failed, `${id}: ${failed.join('; ')}`).toEqual([]);
      expect(result.subject.available, result.subject.detail).toBe(true);
      subjects.push(result);
    }
    const ours = subjects.filter((s) => s.subject.kind === 'ours').flatMap((s) => s.records);
    const kernels = new Set(ours.map((r) => r.kernel));
    for (const k of ['softmax', 'logSoftmax', 'logSumExp', 'crossEntropy', 'gelu', 'matmul', 'attention', 'residual', 'embedding', 'splitHeads', 'mergeHeads', 'adamw']) {
      expect(kernels, k).toContain(k);
    }
    for (const r of ours) {
      if (r.status === 'missing') continue; // a kernel that has not landed (reported as such)
      expect(r.status, `${r.id} on ${r.subject}: ${r.message ?? ''}`).toBe('ok');
      expect(r.checks?.length, r.id).toBeGreaterThan(0);
      expect(r.checks!.every((c) => c.ok), r.id).toBe(true);
      expect(r.timing!.samples, r.id).toBeGreaterThanOrEqual(2);
      expect(r.timing!.medianMs, r.id).toBeGreaterThan(0);
    }
    const run: BenchRun = {
      mode: 'quick',
      date: new Date().toISOString(),
      seconds: 1,
      machine: { cpu: 'test', cores: 2, memoryGiB: 1, node: process.version, os: 'test', adapter: 'none', loadStart: 0, loadEnd: 0 },
      subjects,
      ceilings: [{ name: 'copy 1 thread', gbps: 10, threads: 1, detail: 'test' }],
      dispatch: { backend: 'none', results: [] },
      notes: [],
      failures: [],
    };
    const md = renderReport(run);
    expect(md).toContain('## Per case: our best backend against the best peer and the ceiling');
    expect(md).toMatch(/\| softmax \| forward \| \(4, 37\) \| (reference|cpu) /);
  }, 60_000);

  it('fails loudly when a kernel leaves its bound', async () => {
    // a softmax that forgets to normalise: every row sums to s instead of 1
    const restore = registerKernel<{ N: number; V: number; shape: readonly number[] }>({
      kernel: 'softmax',
      phase: 'forward',
      backend: 'reference',
      impl: (_d, { x }, { N, V, shape }) => {
        const xd = x.data;
        const y = new Float64Array(N * V);
        for (let r = 0; r < N; r++) {
          let m = -Infinity;
          for (let j = 0; j < V; j++) m = Math.max(m, xd[r * V + j]);
          for (let j = 0; j < V; j++) y[r * V + j] = Math.exp(xd[r * V + j] - m);
        }
        return { y: Tensor.fromHost(y, shape) };
      },
    });
    try {
      const { result, failed } = await runSubject('reference', 'full', { scale: 'tiny', timing, log: quiet, only: /^softmax$/ });
      expect(failed.some((f) => f.startsWith('softmax.forward'))).toBe(true);
      const rec = result.records.find((r) => r.id.startsWith('softmax.forward'))!;
      expect(rec.status).toBe('validation-failed');
      expect(rec.timing).toBeUndefined();
    } finally {
      restore();
    }
  }, 30_000);
});
