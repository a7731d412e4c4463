import { describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import {
  crossEntropy,
  crossEntropyBackward,
  crossEntropyBackwardRef,
  crossEntropyRef,
  type CrossEntropyConfig,
  type CrossEntropyReduction,
} from '../../src/kernels/cross-entropy.js';
import { logSumExpRef } from '../../src/kernels/softmax.js';
import { tensor } from '../../src/tensor.js';
import { checkGradient } from '../../src/testing/gradcheck.js';
import { generate, ORDINARY, widen } from '../../src/testing/values.js';

const d = await createDevice({ backend: 'reference' });

describe('crossEntropy: bad input', () => {
  const x = tensor([0, 1, 2, 3, 4, 5], [2, 3]);
  const t = tensor([0, 2], [2], 'int32');

  test('options', async () => {
    await expect(crossEntropy(d, x, t, { weight: 1 } as never)).rejects.toThrow(/crossEntropy: unknown option 'weight'; known options are 'ignoreIndex', 'labelSmoothing', 'reduction'/);
    await expect(crossEntropy(d, x, t, { labelSmoothing: 1.5 })).rejects.toThrow(/crossEntropy: 'labelSmoothing' must be <= 1, got 1.5/);
    await expect(crossEntropy(d, x, t, { labelSmoothing: -0.1 })).rejects.toThrow(/crossEntropy: 'labelSmoothing' must be >= 0, got -0.1/);
    await expect(crossEntropy(d, x, t, { labelSmoothing: NaN })).rejects.toThrow(/crossEntropy: 'labelSmoothing' must be a finite number, got NaN/);
    await expect(crossEntropy(d, x, t, { reduction: 'avg' as never })).rejects.toThrow(/crossEntropy: option 'reduction' must be one of 'mean', 'sum', 'none', got "avg"/);
    await expect(crossEntropy(d, x, t, { ignoreIndex: 0.5 })).rejects.toThrow(/crossEntropy: 'ignoreIndex' must be an integer, got 0.5/);
  });

  test('logits', async () => {
    await expect(crossEntropy(d, 'x' as never, t)).rejects.toThrow(/crossEntropy: 'logits' must be a Tensor/);
    await expect(crossEntropy(d, tensor([5], []), t)).rejects.toThrow(/crossEntropy: 'logits' must have at least one dimension \(N, V\), got a scalar/);
    await expect(crossEntropy(d, tensor(new Int32Array(6), [2, 3]), t)).rejects.toThrow(/crossEntropy: 'logits' must be a float tensor, got int32 of shape \[2, 3\]/);
  });

  test('targets: shape, integrality and range, with the shapes named', async () => {
    await expect(crossEntropy(d, x, tensor([0, 1, 2], [3], 'int32'))).rejects.toThrow(
      /crossEntropy: 'targets' must have shape \[2\] or \[N\] = \[2\] \(one class index per row of 'logits' \[N, V\] = \[2, 3\]\), got \[3\]/,
    );
    await expect(crossEntropy(d, x, tensor([0, 1], [1, 2], 'int32'))).rejects.toThrow(/'targets' must have shape \[2\] .* got \[1, 2\]/);
    await expect(crossEntropy(d, x, tensor([0, 1.5], [2]))).rejects.toThrow(
      /crossEntropy: 'targets' \[2\] holds 1.5 at flat index 1, which is not an integer class index \(logits \[N, V\] = \[2, 3\]\)/,
    );
    await expect(crossEntropy(d, x, tensor([NaN, 1], [2]))).rejects.toThrow(/crossEntropy: 'targets' \[2\] holds NaN at flat index 0, which is not an integer/);
    await expect(crossEntropy(d, x, tensor([0, 3], [2], 'int32'))).rejects.toThrow(
      /crossEntropy: 'targets' \[2\] holds 3 at flat index 1, outside \[0, V\) = \[0, 3\) for logits \[N, V\] = \[2, 3\] \(ignoreIndex -100\)/,
    );
    await expect(crossEntropy(d, x, tensor([-1, 0], [2], 'int32'))).rejects.toThrow(/holds -1 at flat index 0, outside \[0, V\) = \[0, 3\)/);
    // −1 is fine once it is the ignoreIndex
    await expect(crossEntropy(d, x, tensor([-1, 0], [2], 'int32'), { ignoreIndex: -1 })).resolves.toBeDefined();
    await expect(crossEntropy(d, x, 'targets' as never)).rejects.toThrow(/crossEntropy: 'targets' must be a Tensor/);
    // (B, T, V) logits take (B, T) or flattened (B·T) targets
    const x3 = tensor(new Float32Array(12), [2, 2, 3]);
    await expect(crossEntropy(d, x3, tensor([0, 1, 2, 0], [2, 2], 'int32'))).resolves.toBeDefined();
    await expect(crossEntropy(d, x3, tensor([0, 1, 2, 0], [4], 'int32'))).resolves.toBeDefined();
    await expect(crossEntropy(d, x3, tensor([0, 1, 2, 0], [4, 1], 'int32'))).rejects.toThrow(/'targets' must have shape \[2, 2\] or \[N\] = \[4\] .*\[d0, d1, V\] = \[2, 2, 3\]\), got \[4, 1\]/);
  });

  test('backward: dloss and lse shapes', async () => {
    const { lse } = await crossEntropy(d, x, t);
    await expect(crossEntropyBackward(d, tensor([1, 1], [2]), x, t, lse)).rejects.toThrow(/crossEntropyBackward: 'dloss' must be a scalar of shape \[\] for reduction 'mean', got \[2\]/);
    await expect(crossEntropyBackward(d, tensor([1], []), x, t, lse, { reduction: 'none' })).rejects.toThrow(/crossEntropyBackward: 'dloss' must have shape \[N\] = \[2\], got \[\]/);
    await expect(crossEntropyBackward(d, tensor([1], []), x, t, tensor([0, 0, 0], [3]))).rejects.toThrow(/crossEntropyBackward: 'lse' must have shape \[N\] = \[2\], got \[3\]/);
    await expect(crossEntropyBackward(d, tensor([1], []), x, tensor([0, 7], [2], 'int32'), lse)).rejects.toThrow(/crossEntropyBackward: 'targets' \[2\] holds 7 at flat index 1, outside/);
    await expect(crossEntropyBackward(d, tensor([1], []), x, t, lse, { smoothing: 0.1 } as never)).rejects.toThrow(/crossEntropyBackward: unknown option 'smoothing'/);
  });
});

describe("crossEntropy: PyTorch's semantics, on values worked out by hand", () => {
  test('uniform logits give log V for any target and any smoothing', async () => {
    for (const labelSmoothing of [0, 0.1, 1]) {
      const { loss } = await crossEntropy(d, tensor(new Float32Array(8), [2, 4]), tensor([0, 3], [2], 'int32'), { labelSmoothing, reduction: 'none' });
      for (const v of await loss.toArray()) expect(v).toBeCloseTo(Math.log(4), 14);
    }
  });

  test('label smoothing mixes −log p_t with the mean of −log p_j', async () => {
    // x = [0, log 3]: p = [1/4, 3/4]; target 0, ε = 0.2: 0.8·log 4 + 0.1·(log 4 + log(4/3))
    const x = tensor([0, Math.log(3)], [1, 2], 'float64');
    const { loss } = await crossEntropy(d, x, tensor([0], [1], 'int32'), { labelSmoothing: 0.2 });
    expect((await loss.toArray())[0]).toBeCloseTo(0.8 * Math.log(4) + 0.1 * (Math.log(4) + Math.log(4 / 3)), 14);
  });

  test("'mean' divides by the rows not ignored; all ignored gives NaN, 'sum' 0", async () => {
    const x = tensor([0, 0, 5, -5, 0, 0], [3, 2], 'float64');
    const t = tensor([0, -100, 1], [3], 'int32');
    expect((await (await crossEntropy(d, x, t)).loss.toArray())[0]).toBeCloseTo(Math.log(2), 14);
    expect((await (await crossEntropy(d, x, t, { reduction: 'sum' })).loss.toArray())[0]).toBeCloseTo(2 * Math.log(2), 14);
    expect(await (await crossEntropy(d, x, t, { reduction: 'none' })).loss.toArray()).toEqual([Math.log(2), 0, Math.log(2)]);
    // an in-range ignoreIndex: rows with target 0 are ignored
    expect((await (await crossEntropy(d, x, tensor([0, 0, 1], [3], 'int32'), { ignoreIndex: 0 })).loss.toArray())[0]).toBeCloseTo(Math.log(2), 14);
    const all = tensor([-100, -100, -100], [3], 'int32');
    expect(await (await crossEntropy(d, x, all)).loss.toArray()).toEqual([NaN]);
    expect(await (await crossEntropy(d, x, all, { reduction: 'sum', labelSmoothing: 0.5 })).loss.toArray()).toEqual([0]);
  });

  test('special logits: masked vocabulary, −Inf target, NaN, +Inf, huge gaps', async () => {
    const row = async (xs: number[], t: number, labelSmoothing = 0) =>
      (await (await crossEntropy(d, tensor(xs, [1, xs.length], 'float64'), tensor([t], [1], 'int32'), { labelSmoothing, reduction: 'none' })).loss.toArray())[0];
    expect(await row([-Infinity, 0, 0], 1)).toBeCloseTo(Math.log(2), 14);
    expect(await row([-Infinity, 0, 0], 1, 0.1)).toBe(Infinity);
    expect(await row([-Infinity, 0, 0], 0)).toBe(Infinity);
    expect(await row([-Infinity, 0, 0], 0, 1)).toBe(Infinity);
    expect(await row([NaN, 0, 0], 1)).toBeNaN();
    expect(await row([Infinity, 0, 0], 0)).toBeNaN();
    expect(await row([-Infinity, -Infinity], 0)).toBeNaN();
    expect(await row([1e30, 0, -1e30], 0)).toBe(0);
    expect(await row([1e30, 0, -1e30], 2)).toBe(2e30);
    expect(await row([1e30, 0, -1e30], 1, 0.5)).toBe(0.5 * 1e30 + 0.5 * 1e30);
  });
});

describe('crossEntropy: FP64 backward agrees with central finite differences', () => {
  const reductions: CrossEntropyReduction[] = ['mean', 'sum', 'none'];
  const cases = [
    { N: 1, V: 1 },
    { N: 3, V: 5 },
    { N: 4, V: 17 },
  ];
  for (const { N, V } of cases) {
    for (const reduction of reductions) {
      for (const labelSmoothing of [0, 0.1, 1]) {
        // (with N = 1 an ignored row would leave nothing to average: 'mean' is NaN)
        for (const ignore of N > 1 ? [false, true] : [false]) {
          test(`[${N}, ${V}] ${reduction}, ε ${labelSmoothing}${ignore ? ', a row ignored' : ''}`, () => {
            const seed = N * 100 + V;
            const x = widen(generate({ ...ORDINARY, seed, scale: 3 }, N, V));
            const targets = Float64Array.from({ length: N }, (_, r) => (ignore && r === N - 1 ? -100 : (r * 7 + 3) % V));
            const o: CrossEntropyConfig = { ignoreIndex: -100, labelSmoothing, reduction };
            const w = widen(generate({ ...ORDINARY, seed: seed + 1 }, 1, reduction === 'none' ? N : 1));
            const lse = logSumExpRef(x, N, V);
            checkGradient({
              name: `crossEntropy ${reduction} ε ${labelSmoothing}`,
              x,
              shape: [N, V],
              forward: (xx) => crossEntropyRef(xx, targets, N, V, o).loss,
              w,
              analytic: crossEntropyBackwardRef(w, x, targets, lse, N, V, o),
            });
          });
        }
      }
    }
  }

  test('an in-range ignoreIndex', () => {
    const N = 4;
    const V = 6;
    const x = widen(generate({ ...ORDINARY, seed: 11, scale: 3 }, N, V));
    const targets = Float64Array.of(2, 5, 2, 0);
    const o: CrossEntropyConfig = { ignoreIndex: 2, labelSmoothing: 0.3, reduction: 'mean' };
    const w = Float64Array.of(1.5);
    checkGradient({ name: 'crossEntropy ignoreIndex 2', x, shape: [N, V], forward: (xx) => crossEntropyRef(xx, targets, N, V, o).loss, w, analytic: crossEntropyBackwardRef(w, x, targets, logSumExpRef(x, N, V), N, V, o) });
  });

  test('the finite-difference check catches a gradient of p instead of p − y', () => {
    const N = 2;
    const V = 4;
    const x = widen(generate({ ...ORDINARY, seed: 7, scale: 3 }, N, V));
    const targets = Float64Array.of(1, 3);
    const o: CrossEntropyConfig = { ignoreIndex: -100, labelSmoothing: 0, reduction: 'sum' };
    const w = Float64Array.of(1);
    const lse = logSumExpRef(x, N, V);
    const wrong = new Float64Array(N * V);
    for (let r = 0; r < N; r++) for (let j = 0; j < V; j++) wrong[r * V + j] = Math.exp(x[r * V + j] - lse[r]);
    expect(() => checkGradient({ name: 'crossEntropy', x, forward: (xx) => crossEntropyRef(xx, targets, N, V, o).loss, w, analytic: wrong })).toThrow(/crossEntropy: gradient at/);
  });

  test('ignored rows have exactly zero gradient, whatever their logits', async () => {
    const x = tensor([NaN, 1, Infinity, 0, 1, 2], [2, 3]);
    const t = tensor([-100, 2], [2], 'int32');
    const { lse } = await crossEntropy(d, x, t, { reduction: 'none' });
    const g = await (await crossEntropyBackward(d, tensor([NaN, 1], [2]), x, t, lse, { reduction: 'none' })).toArray();
    expect(g.slice(0, 3)).toEqual([0, 0, 0]);
    expect(g.slice(3).every(Number.isFinite)).toBe(true);
  });
});
