/**
 * One training step of the default GPT (forward, backward, clipping, AdamW)
 * through `new Trainer({...}).trainStep()` from src/model/train.ts, in
 * tokens per second (B·T tokens per step).
 *
 * The Trainer is found at run time (lib/optional.ts). Until it exists the
 * case is reported as missing. There is no peer: tfjs has no GPT to train,
 * and writing one for the comparison would benchmark the writer.
 */
import { importOptional } from '../lib/optional.js';
import type { BenchCase } from '../lib/case.js';

export async function gptCases(): Promise<BenchCase[]> {
  const found = await importOptional<Record<string, unknown>>(['model/train']);
  const missing = !found
    ? 'the GPT Trainer has not landed (no src/model/train.ts)'
    : typeof found.module.Trainer !== 'function'
      ? `${found.path} exists but exports no Trainer`
      : `${found.path} exists, but bench/kernels/gpt.ts has no adapter for its API yet`;
  return [
    {
      id: 'gpt.step.default',
      kernel: 'GPT training step',
      phase: 'step',
      size: 'default model',
      metric: 'tokens/s',
      work: 0,
      workNote: 'B·T tokens per step',
      quick: true,
      data: () => undefined,
      check: () => [],
      oursMissing: missing,
    },
  ];
}
