/**
 * The suite can fail: two deliberately broken attention kernels, registered
 * over the real one on the cpu backend, must be caught by the shared checks:
 *   - attention without the 1/√hs scale (the scores are q·k);
 *   - a causal kernel that lets position t see position t + 1.
 * Afterwards the real kernel passes the same checks.
 */
import { afterAll, expect, test } from 'vitest';
import { createDevice } from '../../src/device.js';
import { registerKernel } from '../../src/dispatch.js';
import { attentionForwardGpuJs, type attnScoresKernel } from '../../src/kernels/attention.js';
import { attentionChecks } from '../../src/testing/suites/attention.js';
import { makeContext, type KernelCheck } from '../../src/testing/suite.js';
import type { Tensor } from '../../src/tensor.js';

const device = await createDevice({ backend: 'cpu' });
afterAll(() => device.destroy());

type Attrs = Parameters<typeof attentionForwardGpuJs>[2];
type Inputs = Parameters<typeof attentionForwardGpuJs>[1];

interface ScoreThis {
  thread: { x: number };
  constants: { NH: number; T: number; S: number; HS: number; CAUSAL: number; MODE: number; MB: number; MH: number; MT: number; MS: number };
}

/** The real score kernel with an off-by-one causal test: key j = t + 1 is let through. */
function leakyCausalScores(this: ScoreThis, q: number[], k: number[], mask: number[], scale: number, ninf: number): number {
  const row = Math.floor(this.thread.x / this.constants.S);
  const j = this.thread.x - row * this.constants.S;
  const bh = Math.floor(row / this.constants.T);
  const t = row - bh * this.constants.T;
  if (this.constants.CAUSAL > 0 && j > t + 1) {
    return ninf;
  }
  let a = 0;
  if (this.constants.MODE > 0) {
    const b = Math.floor(bh / this.constants.NH);
    const h = bh - b * this.constants.NH;
    const mv = mask[b * this.constants.MB + h * this.constants.MH + t * this.constants.MT + j * this.constants.MS];
    if (this.constants.MODE < 1.5) {
      if (mv < 0.5) {
        return ninf;
      }
    } else {
      if (mv < -3.4028234663852886e38) {
        return ninf;
      }
      a = mv;
    }
  }
  let acc = 0;
  for (let c = 0; c < this.constants.HS; c++) {
    acc += scale * q[row * this.constants.HS + c] * k[(bh * this.constants.S + j) * this.constants.HS + c];
  }
  return acc + a;
}

function withBroken(impl: (d: typeof device, inputs: Inputs, a: Attrs) => Promise<{ out: Tensor; lse: Tensor }>): () => void {
  return registerKernel<Attrs>({ kernel: 'attention', phase: 'forward', backend: 'cpu', impl: (d, inputs, a) => impl(d, inputs as Inputs, a) });
}

const find = (prefix: string): KernelCheck => {
  const c = attentionChecks.find((x) => x.id.startsWith(prefix));
  if (!c) throw new Error(`no check '${prefix}'`);
  return c;
};

async function expectCaught(check: KernelCheck, pattern: RegExp): Promise<void> {
  await expect(check.run(makeContext(device, { numRuns: check.defaultRuns, shrink: false }))).rejects.toThrow(pattern);
}

test('attention without the 1/√hs scale is caught', async () => {
  // the scale the caller asked for (or the default 1/√hs) is dropped: scores are q·k
  const restore = withBroken((d, inputs, a) => attentionForwardGpuJs(d, inputs, { ...a, scale: 1 }));
  try {
    await expectCaught(find('attention.forward: within bound'), /attention\.forward '(out|lse)' on cpu/);
    await expectCaught(find('attention.forward: default scale'), /attention\.forward '(out|lse)' on cpu/);
  } finally {
    restore();
  }
  await find('attention.forward: within bound').run(makeContext(device, { numRuns: 25 }));
  await find('attention.forward: default scale').run(makeContext(device, { numRuns: 10 }));
});

test('a causal kernel that lets position t see t + 1 is caught', async () => {
  const restore = withBroken((d, inputs, a) => attentionForwardGpuJs(d, inputs, a, leakyCausalScores as unknown as typeof attnScoresKernel));
  try {
    await expectCaught(find('attention.forward: within bound'), /attention\.forward '(out|lse)' on cpu/);
    await expectCaught(find('attention: causal output at position t'), /changed from .* when positions > \d+ changed/);
  } finally {
    restore();
  }
  await find('attention.forward: within bound').run(makeContext(device, { numRuns: 25 }));
  await find('attention: causal output at position t').run(makeContext(device, { numRuns: 10 }));
});
