import { describe, expect, test } from 'vitest';
import { CharTokenizer, MarkovSource, MarkovStream } from '../../src/model/data.js';
import { Rng } from '../../src/random.js';

describe('Markov source', () => {
  const src = new MarkovSource();

  test('rows of the transition table are distributions and π is stationary', () => {
    const { V, P, pi } = src;
    for (let ctx = 0; ctx < V * V; ctx++) {
      let s = 0;
      for (let c = 0; c < V; c++) s += P[ctx * V + c];
      expect(Math.abs(s - 1)).toBeLessThan(1e-12);
    }
    // π P = π on the pair chain
    const next = new Float64Array(V * V);
    for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) for (let c = 0; c < V; c++) next[b * V + c] += pi[a * V + b] * P[(a * V + b) * V + c];
    let diff = 0;
    for (let i = 0; i < next.length; i++) diff += Math.abs(next[i] - pi[i]);
    expect(diff).toBeLessThan(1e-14);
  });

  test('the entropy rate matches the log-likelihood of a long sample', () => {
    // the per-character −log P of a stationary sample has mean h and standard deviation σ ≤ log(1/min P) ≈ 10;
    // 400k characters give a standard error below 0.016: a 4-σ window catches a wrong h
    const s = new MarkovStream(7, src);
    const b = s.nextBatch(400, 1000);
    let ll = 0;
    let n = 0;
    let sq = 0;
    for (let r = 0; r < 400; r++)
      for (let t = 2; t < 1000; t++) {
        const i = r * 1000 + t;
        const x = -Math.log(src.P[(b.inputs[i - 2] * src.V + b.inputs[i - 1]) * src.V + b.inputs[i]]);
        ll += x;
        sq += x * x;
        n++;
      }
    const mean = ll / n;
    const se = Math.sqrt((sq / n - mean * mean) / n);
    expect(Math.abs(mean - src.info.entropyRate)).toBeLessThan(4 * se);
    expect(se).toBeLessThan(0.02);
  });

  test('the window floor lies between the entropy rate and H(X₁|X₀), and tends to the rate', () => {
    const h = src.info.entropyRate;
    expect(src.windowFloor(1)).toBe(src.info.h1); // one prediction, from one character of context
    expect(src.windowFloor(64)).toBeGreaterThan(h);
    expect(src.windowFloor(64)).toBeLessThan(src.info.h1);
    expect(src.windowFloor(1e6) - h).toBeLessThan(1e-5);
    expect(src.info.h1).toBeGreaterThan(h); // conditioning on one character leaves more uncertainty than on two
    expect(src.info.h0).toBeGreaterThan(src.info.h1);
  });

  test("the optimal predictor's loss on sampled windows matches the window floor", () => {
    // 2000 windows of 64 predictions: standard error ≈ 1.5/√128000 ≈ 0.004; 4σ
    const s = new MarkovStream(11, src);
    const batches = Array.from({ length: 20 }, () => s.nextBatch(100, 64));
    expect(Math.abs(src.optimalLoss(batches) - src.windowFloor(64))).toBeLessThan(0.017);
  });

  test('streams are deterministic, and a saved loader state resumes the same stream', () => {
    const a = new MarkovStream(3);
    const b = new MarkovStream(3);
    expect(Array.from(a.nextBatch(2, 10).inputs)).toEqual(Array.from(b.nextBatch(2, 10).inputs));
    const state = JSON.parse(JSON.stringify(a.state()));
    const next = a.nextBatch(2, 10);
    const c = new MarkovStream(999);
    c.loadState(state);
    expect(Array.from(c.nextBatch(2, 10).targets)).toEqual(Array.from(next.targets));
  });

  test('targets are inputs shifted by one', () => {
    const b = new MarkovStream(5).nextBatch(3, 16);
    for (let r = 0; r < 3; r++) for (let t = 0; t < 15; t++) expect(b.targets[r * 16 + t]).toBe(b.inputs[r * 16 + t + 1]);
  });

  test('validation batches never change and differ from training batches', () => {
    const s = new MarkovStream(5);
    const v1 = s.validationBatches(2, 8, 3);
    s.nextBatch(4, 8);
    const v2 = s.validationBatches(2, 8, 3);
    expect(v1.map((b) => Array.from(b.inputs))).toEqual(v2.map((b) => Array.from(b.inputs)));
  });
});

describe('CharTokenizer', () => {
  test('round trip and errors', () => {
    const t = CharTokenizer.fromText('hello world');
    expect(t.alphabet).toBe(' dehlorw');
    expect(t.decode(t.encode('hello'))).toBe('hello');
    expect(() => t.encode('hex')).toThrow(/character "x" is not in the alphabet/);
    expect(() => t.decode([0, 99])).toThrow(/token id 99 is outside \[0, 8\)/);
    expect(() => new CharTokenizer('aa')).toThrow(/repeated/);
  });
});

describe('Rng', () => {
  test('state round trip continues the same stream', () => {
    const a = new Rng(42);
    a.uniform();
    const s = a.state();
    const x = [a.nextU32(), a.nextU32()];
    const b = new Rng(0);
    b.setState(s);
    expect([b.nextU32(), b.nextU32()]).toEqual(x);
    expect(() => b.setState([1, 2, 3])).toThrow(/4 unsigned 32-bit integers/);
  });
});
