/**
 * Training: the model learns, runs are deterministic, checkpoints resume the
 * same loss sequence, and fp16 with dynamic loss scaling skips an overflowing
 * step without touching a weight and then recovers.
 *
 * These run on the wasm device (the CPU fast path) with a small model.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { addHook } from '../../src/dispatch.js';
import { MarkovStream } from '../../src/model/data.js';
import type { PrecisionMode } from '../../src/model/gpt.js';
import { DEFAULT_OPTIM, Trainer, learningRate } from '../../src/model/train.js';

const device = await createDevice({ backend: 'wasm' });
afterAll(() => device.destroy());
const dir = mkdtempSync(join(tmpdir(), 'sk-train-'));

const SMALL = { maxT: 16, L: 1, NH: 2, C: 32 };

function trainer(seed: number, precision: PrecisionMode = 'fp32', steps = 100, config = SMALL, B = 8): Trainer {
  const data = new MarkovStream(seed);
  return new Trainer({
    device,
    config: { V: data.tokenizer.vocabSize, ...config },
    precision,
    data,
    B,
    T: config.maxT,
    seed,
    optim: { ...DEFAULT_OPTIM, lr: 1e-2, minLr: 1e-3, warmupSteps: 10, totalSteps: steps },
  });
}

describe('learning-rate schedule', () => {
  test('linear warmup, then cosine from lr to minLr', () => {
    const o = { ...DEFAULT_OPTIM, lr: 1, minLr: 0.1, warmupSteps: 10, totalSteps: 110 };
    expect(learningRate(o, 0)).toBeCloseTo(0.1, 12);
    expect(learningRate(o, 9)).toBeCloseTo(1, 12);
    expect(learningRate(o, 10)).toBeCloseTo(1, 12);
    expect(learningRate(o, 60)).toBeCloseTo(0.55, 12); // halfway: minLr + (lr − minLr)/2
    expect(learningRate(o, 110)).toBeCloseTo(0.1, 12);
    expect(learningRate(o, 500)).toBe(0.1);
  });
});

describe('training on the wasm device', () => {
  test('overfitting one batch drives the loss near zero', async () => {
    const t = trainer(1, 'fp32', 200);
    const batch = t.options.data.nextBatch(4, 16);
    const first = (await t.trainStep(batch)).loss;
    let last = first;
    for (let i = 1; i < 200; i++) last = (await t.trainStep(batch)).loss;
    // from log 27 ≈ 3.3 to memorising 64 characters
    expect(first).toBeGreaterThan(3);
    expect(last).toBeLessThan(0.05);
  });

  test('the same seed gives the same losses, bit for bit', async () => {
    const a = trainer(2);
    const b = trainer(2);
    for (let i = 0; i < 4; i++) expect((await a.trainStep()).loss).toBe((await b.trainStep()).loss);
    expect(Array.from(a.model.params)).toEqual(Array.from(b.model.params));
  });

  test('a checkpoint resumes the exact same loss sequence; corrupted and mismatched ones are refused', async () => {
    const path = join(dir, 'resume.safetensors');
    const a = trainer(3);
    for (let i = 0; i < 3; i++) await a.trainStep();
    a.save(path);
    const continued: number[] = [];
    for (let i = 0; i < 3; i++) continued.push((await a.trainStep()).loss);

    const b = trainer(99); // different seed: everything must come from the checkpoint
    b.load(path);
    expect(b.step).toBe(3);
    const resumed: number[] = [];
    for (let i = 0; i < 3; i++) resumed.push((await b.trainStep()).loss);
    expect(resumed).toEqual(continued);

    const bytes = readFileSync(path);
    writeFileSync(join(dir, 'trunc.safetensors'), bytes.subarray(0, bytes.length - 100));
    expect(() => trainer(3).load(join(dir, 'trunc.safetensors'))).toThrow(/truncated/);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 1000] ^= 1;
    writeFileSync(join(dir, 'flip.safetensors'), flipped);
    expect(() => trainer(3).load(join(dir, 'flip.safetensors'))).toThrow(/corrupted/);
    expect(() => trainer(3, 'fp32', 100, { ...SMALL, C: 16 }).load(path)).toThrow(/does not match this model \(C: checkpoint 32, model 16\)/);
    expect(() => trainer(3, 'bf16').load(path)).toThrow(/precision: checkpoint fp32, trainer bf16/);
  });

  test('fp16: a planted Inf skips exactly that step, halves the scale, changes no weight, and training recovers', async () => {
    const t = trainer(4, 'fp16', 40);
    for (let i = 0; i < 3; i++) expect((await t.trainStep()).skipped).toBe(false);
    const scale = t.scaler!.scale;
    expect(scale).toBe(65536);
    const params = Float32Array.from(t.model.params);
    const m = Float32Array.from(t.m);
    const v = Float32Array.from(t.v);
    // plant an Inf in the logits' gradient of this one step
    const remove = addHook((e) => {
      if (e.kernel === 'crossEntropy' && e.phase === 'backward') (e.outputs.dlogits.data as Float32Array)[5] = Infinity;
    });
    let info;
    try {
      info = await t.trainStep();
    } finally {
      remove();
    }
    expect(info.skipped).toBe(true);
    expect(info.reason).toMatch(/non-finite gradient at loss scale 65536: .*\[\d+\] = (NaN|Infinity|-Infinity)/);
    expect(t.scaler!.scale).toBe(scale / 2);
    expect(t.scaler!.history.at(-1)).toMatchObject({ skipped: true, reason: 'backoff', scale: 65536, newScale: 32768 });
    expect(new Uint8Array(t.model.params.buffer)).toEqual(new Uint8Array(params.buffer));
    expect(new Uint8Array(t.m.buffer)).toEqual(new Uint8Array(m.buffer));
    expect(new Uint8Array(t.v.buffer)).toEqual(new Uint8Array(v.buffer));
    expect(t.adamSteps).toBe(3);
    // recovery: the next steps are finite and the loss keeps falling
    const before = (await t.trainStep()).loss;
    let after = before;
    for (let i = 0; i < 15; i++) {
      const s = await t.trainStep();
      expect(s.skipped).toBe(false);
      after = s.loss;
    }
    expect(after).toBeLessThan(before);
    expect(t.skipped).toHaveLength(1);
  });

  test('fp16 with loss scaling and bf16 reach the validation loss of fp32 within a few percent', async () => {
    const steps = 150;
    const config = { maxT: 32, L: 1, NH: 2, C: 32 };
    const results: Record<string, number> = {};
    for (const p of ['fp32', 'fp16', 'bf16'] as const) {
      const t = trainer(5, p, steps, config, 16);
      for (let i = 0; i < steps; i++) await t.trainStep();
      results[p] = await t.evaluate(t.options.data.validationBatches(8, 32, 4));
    }
    // they learned past the character frequencies (log 27 ≈ 3.30 at the start, H(X₀) ≈ 2.89) ...
    expect(results.fp32).toBeLessThan(2.6);
    // ... and the narrow formats cost at most 3% (same data, same seed, same steps)
    expect(Math.abs(results.fp16 - results.fp32) / results.fp32).toBeLessThan(0.03);
    expect(Math.abs(results.bf16 - results.fp32) / results.fp32).toBeLessThan(0.03);
  });
});
