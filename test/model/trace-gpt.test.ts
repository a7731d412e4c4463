/**
 * Tracing the GPT end to end: an injected fault is named with its kernel and
 * scope, forward or backward, created or propagated.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { GPT } from '../../src/model/gpt.js';
import { Rng } from '../../src/random.js';
import { detectAnomalies, NonFiniteError } from '../../src/trace/anomaly.js';
import { TraceRecorder } from '../../src/trace/recorder.js';

const device = await createDevice({ backend: 'cpu' });
afterAll(() => device.destroy());
const CONFIG = { V: 9, maxT: 8, L: 2, NH: 2, C: 8 };

function setup(seed: number) {
  const model = new GPT(device, CONFIG, { seed });
  const rng = new Rng(seed);
  const tokens = Int32Array.from({ length: 16 }, () => rng.int(0, CONFIG.V - 1));
  const targets = Int32Array.from({ length: 16 }, () => rng.int(0, CONFIG.V - 1));
  return { model, tokens, targets };
}

describe('tracing the GPT', () => {
  test('a corrupted weight: the overflow is created in h.1.mlp.c_fc, forward', async () => {
    const { model, tokens, targets } = setup(1);
    const w = model.layout.view(model.params, 'h.1.mlp.c_fc.weight');
    w[5 * CONFIG.C + 2] = 3.4e38; // row 5, channel 2: any position whose normalised channel 2 exceeds 1 in size overflows
    model.paramsChanged();
    const err = await detectAnomalies(() => model.forward(tokens, 2, 8, targets)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    const d = (err as NonFiniteError).details;
    expect(d).toMatchObject({ kernel: 'matmul', phase: 'forward', path: 'h.1.mlp.c_fc.matmul', created: true, output: 'c' });
    expect(d.multiIndex[d.multiIndex.length - 1]).toBe(5); // column 5 of (B, T, 4C) is the corrupted row 5 of the weight
  });

  test('a NaN in the token embedding is propagated, first seen by the embedding kernel', async () => {
    const { model, tokens, targets } = setup(2);
    model.layout.view(model.params, 'wte')[tokens[3] * CONFIG.C + 2] = NaN;
    model.paramsChanged();
    const err = await detectAnomalies(() => model.forward(tokens, 2, 8, targets)).catch((e: unknown) => e);
    const d = (err as NonFiniteError).details;
    expect(d).toMatchObject({ kernel: 'embedding', path: 'wte.embedding', created: false, sources: ['wte'] });
    expect(d.multiIndex).toEqual([0, 3, 2]);
  });

  test('a backward-only fault is found in the backward pass, with its scope', async () => {
    const { model, tokens, targets } = setup(3);
    // a huge loss scale makes the logits' gradient overflow float32 in the loss kernel's backward
    const { cache } = await model.forward(tokens, 2, 8, targets);
    const err = await detectAnomalies(() => model.backward(cache, 1e39)).catch((e: unknown) => e);
    const d = (err as NonFiniteError).details;
    expect(d).toMatchObject({ phase: 'backward', kernel: 'crossEntropy', path: 'loss.crossEntropy' });
  });

  test('the trace recorder covers every kernel call of a training step, forward and backward', async () => {
    const { model, tokens, targets } = setup(4);
    const rec = new TraceRecorder();
    const stop = rec.attach();
    const { cache } = await model.forward(tokens, 2, 8, targets);
    await model.backward(cache);
    stop();
    const paths = rec.summary().map((r) => `${r.path}:${r.phase}`);
    for (const p of ['wte.embedding:forward', 'h.0.ln_1.layerNorm:forward', 'h.0.attn.c_attn.matmul:forward', 'h.1.attn.attention:forward', 'h.1.mlp.gelu:forward', 'loss.crossEntropy:forward', 'loss.crossEntropy:backward', 'h.0.attn.attention:backward', 'wte.embedding:backward']) {
      expect(paths).toContain(p);
    }
    expect(rec.nonFinite()).toBe(0);
  });
});
