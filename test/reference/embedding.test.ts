import { describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { embedding, embeddingBackward, embeddingBackwardRef, embeddingRef, tokenIndex } from '../../src/kernels/embedding.js';
import { tensor } from '../../src/tensor.js';
import { checkGradient } from '../../src/testing/gradcheck.js';
import { generate, ORDINARY, widen } from '../../src/testing/values.js';

const ref = await createDevice({ backend: 'reference' });

describe('embedding: bad input', () => {
  const wte = tensor([1, 2, 3, 4, 5, 6], [3, 2]);
  const wpe = tensor([0, 0, 1, 1], [2, 2]);
  test('errors name the function, the argument, the value and the shapes', async () => {
    await expect(embedding(ref, tensor([0, 5], [1, 2], 'int32'), wte, wpe)).rejects.toThrow(
      /embedding: token id 5 at \[0, 1\] of 'tokens' \[B, T\] = \[1, 2\] is out of range \[0, 3\) for 'wte' \[V, C\] = \[3, 2\]/,
    );
    await expect(embedding(ref, tensor([-1, 0], [1, 2], 'int32'), wte, wpe)).rejects.toThrow(/embedding: token id -1 at \[0, 0\]/);
    await expect(embedding(ref, tensor([0, 1.5], [1, 2]), wte, wpe)).rejects.toThrow(/embedding: 'tokens' must hold integer token ids, got 1\.5 at \[0, 1\] of 'tokens' \[B, T\] = \[1, 2\]/);
    await expect(embedding(ref, tensor([0, NaN], [1, 2]), wte, wpe)).rejects.toThrow(/must hold integer token ids, got NaN/);
    await expect(embedding(ref, tensor([0, 1, 2], [1, 3], 'int32'), wte, wpe)).rejects.toThrow(
      /embedding: 'tokens' \[B, T\] = \[1, 3\] has T = 3 positions but 'wpe' \[maxT, C\] = \[2, 2\] has only maxT = 2/,
    );
    await expect(embedding(ref, tensor([0], [1, 1], 'int32'), wte, tensor([0, 0, 0], [1, 3]))).rejects.toThrow(
      /embedding: 'wte' \[V, C\] = \[3, 2\] and 'wpe' \[maxT, C\] = \[1, 3\] must have the same C/,
    );
    await expect(embedding(ref, tensor([0, 1], [2], 'int32'), wte, wpe)).rejects.toThrow(/embedding: 'tokens' must have shape \[B, T\] \(rank 2\), got \[2\]/);
    await expect(embedding(ref, tensor([0], [1, 1], 'int32'), tensor(new Int32Array(6), [3, 2]), wpe)).rejects.toThrow(/embedding: 'wte' must be a float tensor, got int32/);
    await expect(embeddingBackward(ref, tensor(new Float32Array(6), [1, 3, 2]), tensor([0, 1], [1, 2], 'int32'), 3, 2)).rejects.toThrow(
      /embeddingBackward: 'dout' must have shape \[B, T, C\] with \[B, T\] = \[1, 2\] from 'tokens', got \[1, 3, 2\]/,
    );
    await expect(embeddingBackward(ref, tensor(new Float32Array(4), [1, 2, 2]), tensor([0, 3], [1, 2], 'int32'), 3, 2)).rejects.toThrow(
      /embeddingBackward: token id 3 at \[0, 1\] of 'tokens' \[B, T\] = \[1, 2\] is out of range \[0, 3\) for V = 3/,
    );
    await expect(embeddingBackward(ref, tensor(new Float32Array(4), [1, 2, 2]), tensor([0, 1], [1, 2], 'int32'), 3, 1)).rejects.toThrow(
      /embeddingBackward: 'tokens' \[B, T\] = \[1, 2\] has T = 2 positions but maxT = 1/,
    );
    await expect(embeddingBackward(ref, tensor(new Float32Array(4), [1, 2, 2]), tensor([0, 1], [1, 2], 'int32'), 2.5, 2)).rejects.toThrow(/embeddingBackward: 'V' must be a non-negative integer, got 2\.5/);
  });
});

describe('embedding: FP64 backward agrees with central finite differences', () => {
  const cases = [
    { B: 1, T: 1, C: 1, V: 1, maxT: 1 },
    { B: 2, T: 3, C: 4, V: 3, maxT: 5 },
    { B: 3, T: 4, C: 2, V: 2, maxT: 4 },
  ];
  for (const { B, T, C, V, maxT } of cases) {
    test(`[B, T, C] = [${B}, ${T}, ${C}], V = ${V}, maxT = ${maxT}`, () => {
      // repeated ids: with V < B·T some token occurs more than once
      const tokens = Array.from({ length: B * T }, (_, i) => (i * 7 + 1) % V);
      const wte = widen(generate({ ...ORDINARY, seed: 31 + C }, V, C));
      const wpe = widen(generate({ ...ORDINARY, seed: 32 + C }, maxT, C));
      const w = widen(generate({ ...ORDINARY, seed: 33 + C }, B * T, C));
      const g = embeddingBackwardRef(w, tokens, B, T, C, V, maxT);
      checkGradient({ name: 'embedding dwte', x: wte, shape: [V, C], forward: (x) => embeddingRef(tokens, x, wpe, B, T, C), w, analytic: g.dwte });
      checkGradient({ name: 'embedding dwpe', x: wpe, shape: [maxT, C], forward: (x) => embeddingRef(tokens, wte, x, B, T, C), w, analytic: g.dwpe });
    });
  }

  test('the finite-difference check catches a backward that overwrites instead of accumulating', () => {
    const [B, T, C, V, maxT] = [2, 3, 2, 2, 3];
    const tokens = [0, 1, 0, 0, 1, 1];
    const wte = widen(generate({ ...ORDINARY, seed: 41 }, V, C));
    const wpe = widen(generate({ ...ORDINARY, seed: 42 }, maxT, C));
    const w = widen(generate({ ...ORDINARY, seed: 43 }, B * T, C));
    const wrong = new Float64Array(V * C);
    for (let i = 0; i < B * T; i++) for (let c = 0; c < C; c++) wrong[tokens[i] * C + c] = w[i * C + c];
    expect(() => checkGradient({ name: 'embedding dwte', x: wte, forward: (x) => embeddingRef(tokens, x, wpe, B, T, C), w, analytic: wrong })).toThrow(/embedding dwte: gradient at/);
  });

  test('reference by hand, and the CSR index of the gather', () => {
    const out = embeddingRef([1, 1], Float64Array.from([1, 2, 3, 4]), Float64Array.from([10, 20, 30, 40]), 1, 2, 2);
    expect(Array.from(out)).toEqual([13, 24, 33, 44]);
    const g = embeddingBackwardRef(Float64Array.from([1, 2, 3, 4]), [1, 1], 1, 2, 2, 3, 3);
    expect(Array.from(g.dwte)).toEqual([0, 0, 4, 6, 0, 0]);
    expect(Array.from(g.dwpe)).toEqual([1, 2, 3, 4, 0, 0]);
    const idx = tokenIndex([2, 0, 2, 1, 2], 4);
    expect(Array.from(idx.offsets)).toEqual([0, 1, 2, 5, 5]);
    expect(Array.from(idx.positions)).toEqual([1, 3, 0, 2, 4]);
  });
});
