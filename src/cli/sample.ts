/** `stable-kernels sample`: text from a checkpoint written by `train`. */
import { createDevice, type BackendName } from '../device.js';
import { CheckpointError, loadCheckpoint } from '../model/checkpoint.js';
import { CharTokenizer } from '../model/data.js';
import { generate } from '../model/generate.js';
import { GPT, type PrecisionMode } from '../model/gpt.js';
import type { GPTConfig } from '../model/params.js';

export interface SampleArgs {
  checkpoint: string;
  backend: BackendName | 'auto';
  prompt: string;
  tokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  greedy: boolean;
  seed: number;
}

export async function runSample(a: SampleArgs, log: (s: string) => void = console.log): Promise<string> {
  const { tensors, state } = loadCheckpoint(a.checkpoint);
  const s = state as { config: GPTConfig; alphabet: string; precision: PrecisionMode };
  if (!s?.config || typeof s.alphabet !== 'string') throw new CheckpointError(`sample: '${a.checkpoint}' has no model configuration`);
  const device = await createDevice({ backend: a.backend });
  try {
    const model = new GPT(device, s.config, { precision: device.info.precision === 'float64' ? 'fp32' : s.precision });
    for (const spec of model.layout.specs) {
      const t = tensors.get(spec.name);
      if (!t || t.data.length !== spec.size) throw new CheckpointError(`sample: '${a.checkpoint}' lacks tensor '${spec.name}' [${spec.shape.join(', ')}]`);
      model.params.set(t.data, spec.offset);
    }
    model.paramsChanged();
    const tok = new CharTokenizer(s.alphabet);
    const ids = await generate(model, tok.encode(a.prompt), a.tokens, {
      temperature: a.temperature,
      seed: a.seed,
      greedy: a.greedy,
      ...(a.topK !== undefined ? { topK: a.topK } : {}),
      ...(a.topP !== undefined ? { topP: a.topP } : {}),
    });
    const text = a.prompt + tok.decode(ids);
    log(text);
    return text;
  } finally {
    await device.destroy();
  }
}
