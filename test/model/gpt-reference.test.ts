/**
 * The FP64 reference GPT: the whole model's backward pass against central
 * finite differences, the KV cache against a full recomputation, sampling.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { generate, sampleToken } from '../../src/model/generate.js';
import { GPT } from '../../src/model/gpt.js';
import { Rng } from '../../src/random.js';

const ref = await createDevice({ backend: 'reference' });
afterAll(() => ref.destroy());

const CONFIG = { V: 7, maxT: 5, L: 2, NH: 2, C: 4 };

/** A model whose parameters are large enough that every nonlinearity matters. */
function randomModel(seed: number): GPT {
  const m = new GPT(ref, CONFIG, { seed });
  const rng = new Rng(seed + 100);
  for (let i = 0; i < m.params.length; i++) m.params[i] = rng.normal() * 0.4;
  m.paramsChanged();
  return m;
}

function batch(seed: number, B: number, T: number) {
  const rng = new Rng(seed);
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(0, CONFIG.V - 1));
  const targets = Int32Array.from({ length: B * T }, () => rng.int(0, CONFIG.V - 1));
  return { tokens, targets };
}

describe('FP64 reference GPT', () => {
  /**
   * Compares a gradient with Richardson-extrapolated central differences of
   * the loss, parameter by parameter: truncation O(h⁴) ≈ 1e-9, rounding
   * ≈ 1e-13/h; the allowance 1e-7·(|g_i| + 10·max|g|) is far below any real
   * mistake (see src/testing/gradcheck.ts). Throws naming the parameter.
   */
  async function finiteDifferenceCheck(model: GPT, tokens: Int32Array, targets: Int32Array, B: number, T: number, analytic: Float64Array, indices?: number[]): Promise<number> {
    const x0 = Float64Array.from(model.params);
    const gmax = Math.max(...Array.from(analytic, Math.abs));
    const probe = async (i: number, step: number) => {
      const x = x0.slice();
      x[i] += step;
      model.params.set(x);
      model.paramsChanged();
      const r = await model.forward(tokens, B, T, targets);
      model.release(r.cache);
      return r.loss!;
    };
    let checked = 0;
    try {
      for (const i of indices ?? Array.from(x0.keys())) {
        const h = 2 ** -7 * Math.max(1, Math.abs(x0[i]));
        const D = async (s: number) => ((await probe(i, s)) - (await probe(i, -s))) / (2 * s);
        const G = (4 * (await D(h / 2)) - (await D(h))) / 3;
        const allowed = 1e-7 * (Math.abs(analytic[i]) + 10 * gmax);
        if (!(Math.abs(G - analytic[i]) <= allowed)) {
          const spec = model.layout.specs.find((s) => i >= s.offset && i < s.offset + s.size)!;
          throw new Error(`gradient of ${spec.name}[${i - spec.offset}] is ${analytic[i]} but finite differences give ${G}`);
        }
        checked++;
      }
    } finally {
      model.params.set(x0);
      model.paramsChanged();
    }
    return checked;
  }

  async function analyticGradient(model: GPT, tokens: Int32Array, targets: Int32Array, B: number, T: number): Promise<Float64Array> {
    model.zeroGrad();
    const { cache } = await model.forward(tokens, B, T, targets);
    await model.backward(cache);
    return Float64Array.from(model.grads);
  }

  test('every parameter gradient agrees with central finite differences', async () => {
    const model = randomModel(1);
    const { tokens, targets } = batch(2, 2, 4);
    const g = await analyticGradient(model, tokens, targets, 2, 4);
    expect(await finiteDifferenceCheck(model, tokens, targets, 2, 4, g)).toBe(model.layout.size);
  });

  test('the finite-difference check catches a gradient with one parameter tensor missing', async () => {
    const model = randomModel(3);
    const { tokens, targets } = batch(4, 2, 4);
    const g = await analyticGradient(model, tokens, targets, 2, 4);
    const spec = model.layout.get('h.1.attn.c_attn.weight');
    const wrong = g.slice();
    wrong.fill(0, spec.offset, spec.offset + spec.size);
    const indices = Array.from({ length: spec.size }, (_, k) => spec.offset + k);
    await expect(finiteDifferenceCheck(model, tokens, targets, 2, 4, wrong, indices)).rejects.toThrow(/gradient of h\.1\.attn\.c_attn\.weight\[\d+\] is 0 but finite differences give/);
  });

  test('KV-cache decoding gives the same logits as a full forward pass at every position', async () => {
    const model = randomModel(5);
    const T = CONFIG.maxT;
    const { tokens } = batch(6, 1, T);
    const full = await model.forward(tokens, 1, T);
    const fullLogits = await full.logits.read();
    model.release(full.cache);
    const cache = model.newKVCache();
    for (let t = 0; t < T; t++) {
      const step = await model.decodeStep(tokens[t], cache);
      for (let v = 0; v < CONFIG.V; v++) {
        // the same sums in a different order (attention over t + 1 keys vs. masked T keys): float64 agreement
        expect(Math.abs(step[v] - fullLogits[t * CONFIG.V + v])).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(fullLogits[t * CONFIG.V + v])));
      }
    }
    expect(cache.length).toBe(T);
    await expect(model.decodeStep(0, cache)).rejects.toThrow(/the cache holds 5 positions, the model's maxT is 5/);
  });

  test('bad input is refused with the shapes named', async () => {
    const model = randomModel(7);
    await expect(model.forward(new Int32Array(5), 2, 3)).rejects.toThrow(/'tokens' has length 5 but \[B, T\] = \[2, 3\] needs 6/);
    await expect(model.forward(new Int32Array(12), 2, 6)).rejects.toThrow(/T = 6 exceeds the model's maxT = 5/);
    await expect(model.forward(Int32Array.of(0, 9), 1, 2)).rejects.toThrow(/token id 9 .* out of range \[0, 7\)/);
    expect(() => new GPT(ref, { ...CONFIG, C: 5 })).toThrow(/C = 5 must be divisible by NH = 2/);
    expect(() => new GPT(ref, CONFIG, { precision: 'fp16' })).toThrow(/reference device computes in float64/);
  });
});

describe('sampling', () => {
  const logits = Float64Array.of(0.1, 2.5, -1, 2.4, 0);
  test('greedy takes the argmax; top-k 1 and a tiny top-p agree with it', () => {
    const rng = new Rng(1);
    expect(sampleToken(logits, { greedy: true }, rng)).toBe(1);
    for (let i = 0; i < 20; i++) {
      expect(sampleToken(logits, { topK: 1 }, rng)).toBe(1);
      expect(sampleToken(logits, { topP: 0.01 }, rng)).toBe(1);
    }
  });

  test('top-k 2 only ever returns the two most likely tokens, in about their ratio', () => {
    const rng = new Rng(2);
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[sampleToken(logits, { topK: 2 }, rng)]++;
    expect(counts[0] + counts[2] + counts[4]).toBe(0);
    // p(1)/p(3) = e^0.1 ≈ 1.105: the share of token 1 is 0.525 ± 4σ (σ = 0.0079 for 4000 draws)
    expect(Math.abs(counts[1] / 4000 - Math.exp(0.1) / (1 + Math.exp(0.1)))).toBeLessThan(0.032);
  });

  test('low temperature concentrates on the argmax; sampling is reproducible with a seed', async () => {
    const rng = new Rng(3);
    let ones = 0;
    for (let i = 0; i < 200; i++) if (sampleToken(logits, { temperature: 0.01 }, rng) === 1) ones++;
    expect(ones).toBe(200);
    const model = randomModel(8);
    const a = await generate(model, Int32Array.of(1, 2), 10, { seed: 5, temperature: 0.9 });
    const b = await generate(model, Int32Array.of(1, 2), 10, { seed: 5, temperature: 0.9 });
    expect(Array.from(a)).toEqual(Array.from(b));
    // beyond maxT the context slides instead of failing
    expect((await generate(model, Int32Array.of(1), 12, { seed: 1 })).length).toBe(12);
    await expect(generate(model, Int32Array.of(1), 3, { temperature: 0 })).rejects.toThrow(/'temperature' must be a positive number/);
    await expect(generate(model, Int32Array.of(1), 3, { topP: 1.5 })).rejects.toThrow(/'topP' must be in \(0, 1\]/);
  });
});
