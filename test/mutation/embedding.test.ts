/**
 * The suite can fail: an embedding backward that overwrites dwte instead of
 * accumulating (a repeated token keeps only its last position), registered
 * over the real kernel on the cpu backend, must be caught by the shared checks.
 */
import { afterAll, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { registerKernel } from '../../src/dispatch.js';
import { tokenIndex, type EmbeddingAttrs } from '../../src/kernels/embedding.js';
import { embeddingChecks } from '../../src/testing/suites/embedding.js';
import { makeContext } from '../../src/testing/suite.js';
import { Tensor } from '../../src/tensor.js';

const device = await createDevice({ backend: 'cpu' });
afterAll(() => device.destroy());

const check = (prefix: string) => embeddingChecks.find((c) => c.id.startsWith(prefix))!;

/** dwte[v, c] = dout at the last position of token v: `s = …` where `s += …` was meant. */
function overwrites(this: { thread: { x: number }; constants: { C: number; BT: number } }, dout: number[], positions: number[], offsets: number[]): number {
  const v = Math.floor(this.thread.x / this.constants.C);
  const c = this.thread.x - v * this.constants.C;
  const start = offsets[v];
  const count = offsets[v + 1] - start;
  let s = 0;
  for (let p = 0; p < this.constants.BT; p++) {
    if (p >= count) {
      break;
    }
    s = dout[positions[start + p] * this.constants.C + c];
  }
  return s;
}

function dwpe(this: { thread: { x: number }; constants: { B: number; T: number; C: number } }, dout: number[]): number {
  const t = Math.floor(this.thread.x / this.constants.C);
  const c = this.thread.x - t * this.constants.C;
  let s = 0;
  if (t < this.constants.T) {
    for (let b = 0; b < this.constants.B; b++) {
      s += dout[(b * this.constants.T + t) * this.constants.C + c];
    }
  }
  return s;
}

test('an embedding backward that overwrites repeated tokens is caught', async () => {
  const restore = registerKernel<EmbeddingAttrs>({
    kernel: 'embedding',
    phase: 'backward',
    backend: 'cpu',
    impl: async (d, { dout }, { B, T, C, V, maxT, ids }) => {
      const { positions, offsets } = tokenIndex(ids, V);
      const rt = d.gpujs!;
      return {
        dwte: await rt.run({ name: 'broken.dwte', fn: overwrites, outputs: V * C, constants: { C, BT: B * T } }, [dout, Tensor.fromHost(positions, [B * T]), Tensor.fromHost(offsets, [V + 1])], [V, C]),
        dwpe: await rt.run({ name: 'broken.dwpe', fn: dwpe, outputs: maxT * C, constants: { B, T, C } }, [dout], [maxT, C]),
      };
    },
  });
  try {
    await expect(check('embedding.backward: dwte accumulates').run(makeContext(device, { numRuns: 100, shrink: false }))).rejects.toThrow(/embedding\.backward 'dwte' on cpu/);
  } finally {
    restore();
  }
  // with the real kernel back, the same check passes
  await check('embedding.backward: dwte accumulates').run(makeContext(device, { numRuns: 25 }));
});
