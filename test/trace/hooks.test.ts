import { afterAll, describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { addHook, scope, type KernelEvent } from '../../src/dispatch.js';
import { logSoftmax, softmax, softmaxBackward } from '../../src/kernels/softmax.js';
import { tensor } from '../../src/tensor.js';
import { detectAnomalies, FormatOverflowError, NonFiniteError } from '../../src/trace/anomaly.js';
import { TraceRecorder } from '../../src/trace/recorder.js';

const devices = [await createDevice({ backend: 'reference' }), await createDevice({ backend: 'cpu' })];
afterAll(async () => {
  for (const d of devices) await d.destroy();
});

describe.each(devices.map((d) => [d.backend, d] as const))('hooks on %s', (_name, d) => {
  test('see forward and backward calls in order, with scope paths, names and shapes', async () => {
    const seen: KernelEvent[] = [];
    const remove = addHook((e) => {
      seen.push(e);
    });
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    await scope('h', () =>
      scope(3, async () => {
        const y = await scope('attn', () => softmax(d, x));
        await softmaxBackward(d, tensor([1, 0, 0, 0, 1, 0], [2, 3]), y);
      }),
    );
    remove();
    await softmax(d, x); // after removal: not seen
    expect(seen.map((e) => [e.kernel, e.phase, e.path])).toEqual([
      ['softmax', 'forward', 'h.3.attn.softmax'],
      ['softmax', 'backward', 'h.3.softmax'],
    ]);
    expect(Object.keys(seen[0].inputs)).toEqual(['x']);
    expect(seen[0].inputs.x.shape).toEqual([2, 3]);
    expect(Object.keys(seen[1].inputs).sort()).toEqual(['dy', 'y']);
    expect(seen[1].outputs.dx.shape).toEqual([2, 3]);
    expect(seen[0].seq).toBeLessThan(seen[1].seq);
  });

  test('removing one hook leaves the others; a hook removing itself does not skip the next', async () => {
    const calls: string[] = [];
    const removeA = addHook(() => {
      calls.push('a');
      removeA();
    });
    const removeB = addHook(() => {
      calls.push('b');
    });
    await softmax(d, tensor([1, 2], [1, 2]));
    await softmax(d, tensor([1, 2], [1, 2]));
    removeB();
    await softmax(d, tensor([1, 2], [1, 2]));
    expect(calls).toEqual(['a', 'b', 'b']);
  });

  test('anomaly mode: a finite input that overflows in logSoftmax is reported as created there', async () => {
    const x = tensor([-3.4028234663852886e38, 3.4028234663852886e38, 0], [1, 3]);
    const run = detectAnomalies(() => scope('head', () => logSoftmax(d, x)));
    if (d.info.precision === 'float64') {
      // in float64 x − lse = −6.8e38 is finite: nothing to report
      expect((await (await run).toArray())[0]).toBeCloseTo(-2 * 3.4028234663852886e38, -30);
      return;
    }
    const err = await run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    // x − lse = −3.4e38 − 3.4e38 overflows float32
    expect((err as NonFiniteError).details).toMatchObject({ kernel: 'logSoftmax', phase: 'forward', path: 'head.logSoftmax', output: 'y', created: true, index: 0, value: -Infinity });
    expect((err as Error).message).toMatch(/-Infinity created by logSoftmax \(forward\) at head\.logSoftmax/);
  });

  test('anomaly mode: a NaN fed in from outside is reported as propagated by the first kernel that saw it', async () => {
    const x = tensor([1, NaN, 3, 4, 5, 6], [2, 3]);
    const err = await detectAnomalies(async () => {
      const y = await scope('first', () => softmax(d, x));
      return scope('second', () => logSoftmax(d, y));
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    const det = (err as NonFiniteError).details;
    expect(det).toMatchObject({ kernel: 'softmax', path: 'first.softmax', created: false, sources: ['x'], index: 0, multiIndex: [0, 0] });
    expect(det.inputs[0].nonFinite).toBe(1);
    expect(Number.isNaN(det.value)).toBe(true);
  });

  test('anomaly mode with an overflow format names the factor', async () => {
    const err = await detectAnomalies(() => logSoftmax(d, tensor([0, 0, -2e5], [1, 3])), { overflow: 'float16' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatOverflowError);
    expect((err as FormatOverflowError).details.format).toBe('float16');
    // |−2e5 − log 2| / 65504 ≈ 3.05
    expect((err as FormatOverflowError).details.factor).toBeCloseTo((2e5 + Math.log(2)) / 65504, 2);
    expect((err as Error).message).toMatch(/would overflow float16 by 3\.05×/);
  });

  test('anomaly mode passes a clean run through and detaches its hook', async () => {
    const y = await detectAnomalies(() => softmax(d, tensor([1, 2, 3], [1, 3])));
    expect((await y.toArray()).length).toBe(3);
    // a NaN after detectAnomalies returned is not an error any more
    await expect(softmax(d, tensor([NaN, 1], [1, 2]))).resolves.toBeDefined();
  });

  test('trace recorder: summary per kernel and scope', async () => {
    const rec = new TraceRecorder();
    const stop = rec.attach();
    const x = tensor([1, 2, 3, 70000, 5, 6], [2, 3]);
    await scope('a', () => softmax(d, x));
    await scope('a', () => softmax(d, x));
    await scope('b', () => logSoftmax(d, x));
    stop();
    const rows = rec.summary();
    expect(rows.map((r) => [r.path, r.calls])).toEqual([
      ['a.softmax', 2],
      ['b.logSoftmax', 1],
    ]);
    // logSoftmax of [70000, 5, 6] reaches −69995: 65504/69995 ≈ 0.936 headroom in float16
    expect(rows[1].headroomF16).toBeCloseTo(65504 / 69995, 3);
    expect(rec.table()).toMatch(/b\.logSoftmax\s+forward\s+1 .*OVERFLOW 1\.07×/);
  });
});
