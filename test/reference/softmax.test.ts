import { describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { softmax, softmaxBackward } from '../../src/kernels/softmax.js';
import { tensor } from '../../src/tensor.js';

describe('softmax family: bad input', () => {
  test('errors name the argument and the shapes', async () => {
    const d = await createDevice({ backend: 'reference' });
    await expect(softmax(d, tensor([1, 2], [2]), { axis: 0 } as never)).rejects.toThrow(/softmax: unknown option 'axis'/);
    await expect(softmax(d, 'x' as never)).rejects.toThrow(/softmax: 'x' must be a Tensor/);
    await expect(softmaxBackward(d, tensor([1, 2, 3], [3]), tensor([1, 2], [2]))).rejects.toThrow(/softmaxBackward: 'dy' has shape \[3\] but 'y' has shape \[2\]/);
    expect(() => tensor([1, 2], [])).toThrow(/data has length 2 but shape \[\] needs 1/);
    await expect(softmax(d, tensor([5], []))).rejects.toThrow(/softmax: 'x' must have at least one dimension \(N, V\), got a scalar/);
    await expect(softmax(d, tensor(new Int32Array([1, 2]), [2]))).rejects.toThrow(/softmax: 'x' must be a float tensor, got int32/);
  });
});
