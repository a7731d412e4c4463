/**
 * Data movement and scatter: the head permutations (asm/heads.ts) are exact
 * (every word arrives with its bits, NaN payloads included) and each is the
 * inverse of its backward; the embedding (asm/embedding.ts) matches
 * embedding.ts's FP64 reference within its bounds, its backward accumulating
 * repeated tokens in position order (the chains embeddingBackwardBound
 * allows), and two threads give the bits of one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WASM_SIMD_MODEL } from '../../src/backends/wasm/error-model.js';
import { embeddingBackwardBound, embeddingBackwardRef, embeddingBound, embeddingRef } from '../../src/kernels/embedding.js';
import { mergeHeadsRef, splitHeadsRef } from '../../src/kernels/heads.js';
import { propertyParams } from '../../src/testing/arbitraries.js';
import { embeddingCaseArb, embeddingInputs } from '../../src/testing/suites/embedding.js';
import { foldedValues } from '../../src/testing/suites/matmul.js';
import { generate, Rng, widen } from '../../src/testing/values.js';
import { expectSameBits, expectUnchanged, expectWithin, runtime, snapshot } from './support.js';

const rt = await runtime();
const M = WASM_SIMD_MODEL;

/** Random words, NaNs with payloads among them. */
function words(seed: number, n: number): Float32Array {
  const rng = new Rng(seed);
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) u[i] = rng.uniform() < 0.05 ? (0x7f800001 + rng.int(0, 0x3fffff)) | (rng.uniform() < 0.5 ? 0x80000000 : 0) : rng.int(0, 0x7fffffff) * 2 + rng.int(0, 1);
  return new Float32Array(u.buffer);
}

const dimsArb = fc.record({ B: fc.integer({ min: 1, max: 4 }), T: fc.integer({ min: 1, max: 40 }), NH: fc.integer({ min: 1, max: 6 }), hs: fc.constantFrom(1, 2, 3, 4, 5, 8, 16, 17, 64) });

describe('wasm splitHeads / mergeHeads', () => {
  it('property: exact permutations (bits equal to the reference layout), backward = inverse; inputs untouched', () => {
    fc.assert(
      fc.property(dimsArb, fc.integer(), ({ B, T, NH, hs }, seed) => {
        const C = NH * hs;
        const qkv = words(seed, B * T * 3 * C);
        const before = snapshot(qkv);
        const s = rt.splitHeads(qkv, B, T, NH, hs);
        expectUnchanged('splitHeads', before, [qkv]);
        // the reference permutes float64 copies; compare positions through an index array instead of values
        const idx = Float64Array.from({ length: qkv.length }, (_, i) => i);
        const parts = [s.q, s.k, s.v];
        for (let p = 0; p < 3; p++) {
          const where = splitHeadsRef(idx, { B, T, NH, hs }, p);
          const want = Float32Array.from(where, (i) => 0);
          new Uint32Array(want.buffer).set(Array.from(where, (i) => new Uint32Array(qkv.buffer)[i]));
          expectSameBits(`splitHeads part ${p}`, parts[p], want);
        }
        expectSameBits('splitHeadsBackward ∘ splitHeads', rt.splitHeadsBackward(s.q, s.k, s.v, B, T, NH, hs), qkv);
        const y = words(seed + 1, B * NH * T * hs);
        const merged = rt.mergeHeads(y, B, T, NH, hs);
        const where = mergeHeadsRef(Float64Array.from({ length: y.length }, (_, i) => i), { B, T, NH, hs });
        const want = new Float32Array(y.length);
        new Uint32Array(want.buffer).set(Array.from(where, (i) => new Uint32Array(y.buffer)[i]));
        expectSameBits('mergeHeads', merged, want);
        expectSameBits('mergeHeadsBackward ∘ mergeHeads', rt.mergeHeadsBackward(merged, B, T, NH, hs), y);
      }),
      propertyParams(40),
    );
  });

  it('two threads give the bits of one', () => {
    const [B, T, NH, hs] = [16, 64, 4, 16];
    const qkv = words(3, B * T * 3 * NH * hs);
    const a = rt.splitHeads(qkv, B, T, NH, hs, { threads: 1 });
    const b = rt.splitHeads(qkv, B, T, NH, hs, { threads: 2 });
    expectSameBits('q', b.q, a.q);
    expectSameBits('v', b.v, a.v);
    expectSameBits('merge', rt.mergeHeads(a.k, B, T, NH, hs, { threads: 2 }), rt.mergeHeads(a.k, B, T, NH, hs, { threads: 1 }));
  });
});

describe('wasm embedding', () => {
  it('property: forward within embeddingBound, backward within embeddingBackwardBound (repeated tokens accumulate); inputs untouched', () => {
    fc.assert(
      fc.property(embeddingCaseArb(), (c) => {
        const { ids, maxT, wte32, wpe32 } = embeddingInputs(c);
        const { B, T, C, V } = c;
        const idf = Float32Array.from(ids);
        const before = snapshot(idf, wte32, wpe32);
        const out = rt.embedding(idf, wte32, wpe32, B, T, C);
        expectUnchanged('embedding', before, [idf, wte32, wpe32]);
        const ref = embeddingRef(ids, widen(wte32), widen(wpe32), B, T, C);
        expectWithin(`embedding ${B}×${T}×${C}`, out, ref, embeddingBound(M, ref));
        // magnitudes folded below 1e16 (the shared suite's rule): float32 partial sums cannot overflow, see the contract
        const dout = foldedValues(c.doutSpec, B * T * C);
        const g = rt.embeddingBackward(dout, idf, B, T, C, V, maxT);
        const gref = embeddingBackwardRef(widen(dout), ids, B, T, C, V, maxT);
        const bound = embeddingBackwardBound(M, widen(dout), ids, B, T, C, V, maxT, gref);
        expectWithin(`embeddingBackward dwte ${B}×${T}×${C} V=${V}`, g.dwte, gref.dwte, bound.dwte, [V, C]);
        expectWithin(`embeddingBackward dwpe ${B}×${T}×${C}`, g.dwpe, gref.dwpe, bound.dwpe, [maxT, C]);
      }),
      propertyParams(40),
    );
  });

  it('the backward sums each token in position order: a chain whose order matters in float32 comes out as the reference order gives', () => {
    // token 0 at positions 0, 1, 2 with dout 1e8, 1, −1e8: ((0 + 1e8) + 1) − 1e8 = 0 in float32 (1 is lost), in any other order 1 may survive
    const dout = new Float32Array([1e8, 1, -1e8]);
    const g = rt.embeddingBackward(dout, new Float32Array([0, 0, 0]), 1, 3, 1, 2, 3);
    expect(Array.from(g.dwte)).toEqual([Math.fround(Math.fround(1e8 + 1) - 1e8), 0]);
    expect(Array.from(g.dwpe)).toEqual([1e8, 1, -1e8]);
  });

  it('two threads (channel split) give the bits of one', () => {
    const [B, T, C, V, maxT] = [16, 64, 67, 30, 70];
    const rng = new Rng(4);
    const ids = Float32Array.from({ length: B * T }, () => rng.int(0, V - 1));
    const dout = generate({ seed: 5, profile: 'wide', scale: 1, nan: 0, posInf: 0, negInf: 0, maskedRow: 0 }, B * T, C);
    const a = rt.embeddingBackward(dout, ids, B, T, C, V, maxT, { threads: 1 });
    const b = rt.embeddingBackward(dout, ids, B, T, C, V, maxT, { threads: 2 });
    expectSameBits('dwte', b.dwte, a.dwte);
    expectSameBits('dwpe', b.dwpe, a.dwpe);
  });
});
