import { describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { mergeHeads, mergeHeadsRef, splitHeads, splitHeadsRef, unmergeHeadsRef, unsplitHeadsRef } from '../../src/kernels/heads.js';
import { tensor } from '../../src/tensor.js';

describe('heads: FP64 reference', () => {
  test('split then unsplit, merge then unmerge, are identities', () => {
    const dims = { B: 2, T: 3, NH: 2, hs: 4 };
    const C = 8;
    const qkv = Float64Array.from({ length: 2 * 3 * 3 * C }, (_, i) => i);
    const q = splitHeadsRef(qkv, dims, 0);
    const k = splitHeadsRef(qkv, dims, 1);
    const v = splitHeadsRef(qkv, dims, 2);
    expect(Array.from(unsplitHeadsRef(q, k, v, dims))).toEqual(Array.from(qkv));
    expect(Array.from(unmergeHeadsRef(mergeHeadsRef(q, dims), dims))).toEqual(Array.from(q));
    // q[b=1, h=1, t=2, d=3] comes from qkv[b=1, t=2, channel 0·C + 1·4 + 3]
    expect(q[((1 * 2 + 1) * 3 + 2) * 4 + 3]).toBe((1 * 3 + 2) * 24 + 7);
    // v[b=0, h=0, t=1, d=0] comes from qkv[b=0, t=1, channel 2·C]
    expect(v[(0 * 3 + 1) * 4]).toBe(1 * 24 + 16);
  });

  test('bad input names the argument and the shapes', async () => {
    const d = await createDevice({ backend: 'reference' });
    await expect(splitHeads(d, tensor(new Float32Array(2 * 3 * 10), [2, 3, 10]), 2)).rejects.toThrow(/splitHeads: the last dimension of 'qkv' \[B, T, 3C\] = \[2, 3, 10\] must be 3·C/);
    await expect(splitHeads(d, tensor(new Float32Array(2 * 3 * 9), [2, 3, 9]), 2)).rejects.toThrow(/splitHeads: C = 3 .* must be divisible by NH = 2/);
    await expect(mergeHeads(d, tensor(new Float32Array(6), [2, 3]))).rejects.toThrow(/mergeHeads: 'y' must have shape \[B, NH, T, hs\] \(rank 4\), got \[2, 3\]/);
    await expect(splitHeads(d, tensor(new Float32Array(6), [1, 1, 6]), 1.5)).rejects.toThrow(/'NH' must be a non-negative integer, got 1.5/);
  });
});
