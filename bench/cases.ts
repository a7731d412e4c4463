/**
 * Every benchmark case, in groups (one per kernel file). A worker builds one
 * group at a time and drops it before the next, so the inputs and FP64
 * references of one kernel are garbage before the next kernel's are made.
 */
import type { BenchCase } from './lib/case.js';
import type { Finish } from './lib/tfjs.js';
import { importOptional, missingFunctions } from './lib/optional.js';
import { softmaxCases } from './kernels/softmax.js';
import { crossEntropyCases } from './kernels/cross-entropy.js';
import { LAYERNORM_FUNCTIONS, type LayerNormModule, layerNormCases } from './kernels/layernorm.js';
import { geluCases } from './kernels/gelu.js';
import { matmulCases } from './kernels/matmul.js';
import { attentionCases } from './kernels/attention.js';
import { extraCases } from './kernels/extras.js';
import { gptCases } from './kernels/gpt.js';

/** 'bench': the sizes the issue lists. 'tiny': the same cases a few elements large (the smoke test, test/bench/quick.test.ts). */
export type Scale = 'bench' | 'tiny';

export interface CaseGroup {
  name: string;
  make(finish: Finish, scale: Scale): Promise<BenchCase[]>;
}

/** The library's LayerNorm module if it has one, else why not (lib/optional.ts). */
export async function loadLayerNorm(): Promise<{ lib?: LayerNormModule; missing: string }> {
  const found = await importOptional<LayerNormModule>(['kernels/layernorm', 'kernels/layer-norm']);
  if (!found) return { missing: 'the library has no LayerNorm kernel yet (no src/kernels/layernorm.ts)' };
  if (found.error !== undefined) return { missing: found.error };
  const missing = missingFunctions(found.module, LAYERNORM_FUNCTIONS);
  if (missing.length) return { missing: `${found.path} exists but does not export ${missing.join(', ')} (bench/kernels/layernorm.ts expects them)` };
  return { lib: found.module, missing: '' };
}

const tiny = (scale: Scale) => scale === 'tiny';

export const GROUPS: CaseGroup[] = [
  { name: 'softmax', make: async (f, s) => softmaxCases(f, tiny(s) ? [{ N: 4, V: 37, quick: true }, { N: 3, V: 600, quick: true }] : undefined) },
  { name: 'crossEntropy', make: async (f, s) => crossEntropyCases(f, tiny(s) ? [{ N: 4, V: 37, quick: true }, { N: 3, V: 600, quick: true }] : undefined) },
  {
    name: 'layerNorm',
    make: async (f, s) => {
      const { lib, missing } = await loadLayerNorm();
      return layerNormCases(f, lib, missing, tiny(s) ? { N: 7, C: 24 } : undefined);
    },
  },
  { name: 'gelu', make: async (f, s) => geluCases(f, tiny(s) ? 1000 : undefined) },
  {
    name: 'matmul',
    make: async (f, s) =>
      matmulCases(
        f,
        tiny(s)
          ? [
              { M: 9, K: 12, N: 10, transB: false, bias: false, label: '9x12x10', size: '9×12×10', quick: true },
              { M: 30, K: 8, N: 28, transB: true, bias: true, label: '30x8x28', size: '(30×8)·(8×28) + bias', quick: true },
            ]
          : undefined,
      ),
  },
  { name: 'attention', make: async (f, s) => attentionCases(f, tiny(s) ? { B: 1, NH: 2, T: 9, hs: 4 } : undefined) },
  { name: 'extras', make: async (f, s) => extraCases(f, tiny(s) ? { B: 2, T: 5, C: 8, NH: 2, V: 13, maxT: 7, n: 1000 } : undefined) },
  { name: 'gpt', make: async (_f, s) => gptCases(tiny(s)) },
];
