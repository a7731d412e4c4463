import { afterAll, describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { matmul, matmulBackward, matmulBackwardRef, matmulRef } from '../../src/kernels/matmul.js';
import { tensor } from '../../src/tensor.js';
import { checkGradient } from '../../src/testing/gradcheck.js';
import { generate, ORDINARY, widen } from '../../src/testing/values.js';

const ref = await createDevice({ backend: 'reference' });
const wasm = await createDevice({ backend: 'webasm' });
afterAll(() => wasm.destroy());

describe('matmul: bad input', () => {
  test('errors name the function, the argument and the shapes', async () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    await expect(matmul(ref, a, tensor(new Float32Array(20), [4, 5]))).rejects.toThrow(/matmul: inner dimensions differ: 'a' has shape \[2, 3\] \(K = 3\) but 'b' has shape \[K, N\] = \[4, 5\] \(K = 4\)/);
    await expect(matmul(ref, a, tensor(new Float32Array(20), [5, 4]), { transB: true })).rejects.toThrow(/'b' has shape \[N, K\] = \[5, 4\] \(transB\) \(K = 4\)/);
    await expect(matmul(ref, a, tensor([1, 2, 3], [3]))).rejects.toThrow(/matmul: 'b' must have shape \[K, N\] \(rank 2\), got \[3\]/);
    await expect(matmul(ref, a, tensor(new Float32Array(15), [3, 5]), { bias: tensor([1, 2, 3, 4], [4]) })).rejects.toThrow(/matmul: 'bias' must have shape \[N\] = \[5\], got \[4\]/);
    await expect(matmul(ref, a, tensor(new Float32Array(15), [3, 5]), { transA: true } as never)).rejects.toThrow(/matmul: unknown option 'transA'; known options are 'bias', 'transB'/);
    await expect(matmul(ref, a, tensor(new Float32Array(15), [3, 5]), { transB: 1 } as never)).rejects.toThrow(/matmul: 'transB' must be a boolean, got 1/);
    await expect(matmul(ref, tensor([5], []), tensor([1], [1, 1]))).rejects.toThrow(/matmul: 'a' must have at least one dimension \(\.\.\., K\), got a scalar/);
    await expect(matmul(ref, tensor(new Int32Array([1, 2]), [1, 2]), tensor([1, 2], [2, 1]))).rejects.toThrow(/matmul: 'a' must be a float tensor, got int32 of shape \[1, 2\]/);
    await expect(matmul(ref, 'a' as never, a)).rejects.toThrow(/matmul: 'a' must be a Tensor/);
    await expect(matmulBackward(ref, tensor(new Float32Array(8), [2, 4]), a, tensor(new Float32Array(15), [3, 5]))).rejects.toThrow(
      /matmulBackward: 'dout' must have shape \[2, 5\] \(a's leading dimensions and N = 5\), got \[2, 4\]; 'a' is \[2, 3\], 'b' is \[3, 5\]/,
    );
    await expect(matmulBackward(ref, tensor(new Float32Array(10), [2, 5]), a, tensor(new Float32Array(15), [3, 5]), { bias: 'yes' } as never)).rejects.toThrow(/matmulBackward: 'bias' must be a boolean/);
  });

  test('tensors beyond gpu.js float32 indexing are refused on float32 gpu.js backends', async () => {
    // 4097² = 16,785,409 > 2^24: flat indices beyond 2^24 round to even there
    const big = tensor(new Float32Array(4097 * 4097), [4097, 4097]);
    await expect(matmul(wasm, big, tensor(new Float32Array(4097), [4097, 1]))).rejects.toThrow(
      /matmul: 'a' of shape \[4097, 4097\] has 16785409 elements; gpu\.js indexes in float32 on webasm, exact only up to 2\^24/,
    );
    await expect(matmul(wasm, tensor(new Float32Array(4097), [1, 4097]), big, { transB: true })).rejects.toThrow(/matmul: 'b' of shape \[4097, 4097\]/);
  });
});

describe('matmul: FP64 backward agrees with central finite differences', () => {
  const cases = [
    { M: 1, K: 1, N: 1 },
    { M: 3, K: 5, N: 4 },
    { M: 2, K: 9, N: 3 },
  ];
  for (const { M, K, N } of cases) {
    for (const transB of [false, true]) {
      test(`[M, K, N] = [${M}, ${K}, ${N}]${transB ? ', transB' : ''}`, () => {
        const s = M * 1000 + K * 10 + N + (transB ? 7 : 0);
        const a = widen(generate({ ...ORDINARY, seed: s }, M, K));
        const b = widen(generate({ ...ORDINARY, seed: s + 1 }, K, N));
        const bias = widen(generate({ ...ORDINARY, seed: s + 2 }, 1, N));
        const w = widen(generate({ ...ORDINARY, seed: s + 3 }, M, N));
        const g = matmulBackwardRef(w, a, b, M, K, N, transB);
        const bScale = Math.max(...b.map(Math.abs));
        const aScale = Math.max(...a.map(Math.abs));
        checkGradient({ name: 'matmul da', x: a, shape: [M, K], forward: (x) => matmulRef(x, b, M, K, N, transB, bias), w, analytic: g.da, scale: bScale });
        checkGradient({ name: 'matmul db', x: b, shape: transB ? [N, K] : [K, N], forward: (x) => matmulRef(a, x, M, K, N, transB, bias), w, analytic: g.db, scale: aScale });
        checkGradient({ name: 'matmul dbias', x: bias, shape: [N], forward: (x) => matmulRef(a, b, M, K, N, transB, x), w, analytic: g.dbias });
      });
    }
  }

  test('the finite-difference check catches a wrong gradient', () => {
    const [M, K, N] = [3, 4, 2];
    const a = widen(generate({ ...ORDINARY, seed: 11 }, M, K));
    const b = widen(generate({ ...ORDINARY, seed: 12 }, K, N));
    const w = widen(generate({ ...ORDINARY, seed: 13 }, M, N));
    // db from the other layout: aᵀ·dout written as if b were (N, K), a transposition mistake
    const wrong = matmulBackwardRef(w, a, b, M, K, N, true).db;
    expect(() => checkGradient({ name: 'matmul db', x: b, forward: (x) => matmulRef(a, x, M, K, N, false), w, analytic: wrong, scale: 3 })).toThrow(/matmul db: gradient at/);
    // a dbias that forgets one row of dout
    const g = matmulBackwardRef(w, a, b, M, K, N, false);
    const dbiasWrong = g.dbias.map((v, j) => v - w[(M - 1) * N + j]);
    const bias = new Float64Array(N);
    expect(() => checkGradient({ name: 'matmul dbias', x: bias, forward: (x) => matmulRef(a, b, M, K, N, false, x), w, analytic: dbiasWrong })).toThrow(/matmul dbias: gradient at/);
  });

  test('reference by hand: [[1, 2], [3, 4]]·[[5, 6], [7, 8]] + [1, −1]', () => {
    const c = matmulRef(Float64Array.from([1, 2, 3, 4]), Float64Array.from([5, 6, 7, 8]), 2, 2, 2, false, Float64Array.from([1, -1]));
    expect(Array.from(c)).toEqual([20, 21, 44, 49]);
    const ct = matmulRef(Float64Array.from([1, 2, 3, 4]), Float64Array.from([5, 6, 7, 8]), 2, 2, 2, true);
    expect(Array.from(ct)).toEqual([17, 23, 39, 53]);
    expect(Array.from(matmulRef(Float64Array.from([0, 1]), Float64Array.from([Infinity, 1]), 1, 2, 1, false))).toEqual([NaN]);
  });
});
