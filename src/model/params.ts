/**
 * GPT configuration and the parameter layout: every parameter lives in one
 * flat buffer with named views (as llm.c does), so AdamW, clipping and a NaN
 * scan are each one pass, and checkpoints are one array.
 *
 * Layout, in order: the 2-D tensors (embeddings and weight matrices) first,
 * then the 1-D ones (biases, LayerNorm gains and biases). Weight decay applies
 * to the first group only — nanoGPT's rule "decay tensors of rank ≥ 2" — and
 * the groups are contiguous, so the optimizer makes one call per group.
 *
 * Names and shapes follow nanoGPT / Hugging Face GPT-2 (Linear weights are
 * (out, in) and applied as x·Wᵀ):
 *   wte (V, C), wpe (maxT, C)
 *   h.{l}.ln_1.weight (C), h.{l}.ln_1.bias (C)
 *   h.{l}.attn.c_attn.weight (3C, C), h.{l}.attn.c_attn.bias (3C)
 *   h.{l}.attn.c_proj.weight (C, C),  h.{l}.attn.c_proj.bias (C)
 *   h.{l}.ln_2.weight (C), h.{l}.ln_2.bias (C)
 *   h.{l}.mlp.c_fc.weight (4C, C),   h.{l}.mlp.c_fc.bias (4C)
 *   h.{l}.mlp.c_proj.weight (C, 4C), h.{l}.mlp.c_proj.bias (C)
 *   ln_f.weight (C), ln_f.bias (C)
 */
import { ArgumentError, checkOptions } from '../errors.js';
import { Rng } from '../random.js';

export interface GPTConfig {
  /** Vocabulary size. */
  V: number;
  /** Longest sequence (positions in wpe). */
  maxT: number;
  /** Transformer blocks. */
  L: number;
  /** Attention heads. */
  NH: number;
  /** Channels (C = NH·hs). */
  C: number;
}

/**
 * Validates a GPT configuration: positive integers, C divisible by NH, no unknown keys.
 *
 * @example
 * checkConfig({ V: 27, maxT: 64, L: 2, NH: 4, C: 64 }); // returns it; C not divisible by NH throws
 */
export function checkConfig(c: GPTConfig): GPTConfig {
  checkOptions('GPTConfig', c, ['V', 'maxT', 'L', 'NH', 'C']);
  for (const k of ['V', 'maxT', 'L', 'NH', 'C'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new ArgumentError(`GPTConfig: '${k}' must be a positive integer, got ${String(c[k])}`);
  }
  if (c.C % c.NH !== 0) throw new ArgumentError(`GPTConfig: C = ${c.C} must be divisible by NH = ${c.NH}`);
  return c;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  /** Rank ≥ 2: takes weight decay. */
  decay: boolean;
  init: 'normal' | 'residual' | 'zeros' | 'ones';
}

export class ParamLayout {
  readonly specs: ParamSpec[];
  readonly byName: Map<string, ParamSpec>;
  readonly size: number;
  /** [start, end) of the decayed group and of the rest. */
  readonly decayRange: [number, number];
  readonly noDecayRange: [number, number];

  constructor(readonly config: GPTConfig) {
    const { V, maxT, L, C } = checkConfig(config);
    const mats: Omit<ParamSpec, 'offset' | 'size' | 'decay'>[] = [
      { name: 'wte', shape: [V, C], init: 'normal' },
      { name: 'wpe', shape: [maxT, C], init: 'normal' },
    ];
    const vecs: Omit<ParamSpec, 'offset' | 'size' | 'decay'>[] = [];
    for (let l = 0; l < L; l++) {
      const h = `h.${l}`;
      mats.push(
        { name: `${h}.attn.c_attn.weight`, shape: [3 * C, C], init: 'normal' },
        { name: `${h}.attn.c_proj.weight`, shape: [C, C], init: 'residual' },
        { name: `${h}.mlp.c_fc.weight`, shape: [4 * C, C], init: 'normal' },
        { name: `${h}.mlp.c_proj.weight`, shape: [C, 4 * C], init: 'residual' },
      );
      vecs.push(
        { name: `${h}.ln_1.weight`, shape: [C], init: 'ones' },
        { name: `${h}.ln_1.bias`, shape: [C], init: 'zeros' },
        { name: `${h}.attn.c_attn.bias`, shape: [3 * C], init: 'zeros' },
        { name: `${h}.attn.c_proj.bias`, shape: [C], init: 'zeros' },
        { name: `${h}.ln_2.weight`, shape: [C], init: 'ones' },
        { name: `${h}.ln_2.bias`, shape: [C], init: 'zeros' },
        { name: `${h}.mlp.c_fc.bias`, shape: [4 * C], init: 'zeros' },
        { name: `${h}.mlp.c_proj.bias`, shape: [C], init: 'zeros' },
      );
    }
    vecs.push({ name: 'ln_f.weight', shape: [C], init: 'ones' }, { name: 'ln_f.bias', shape: [C], init: 'zeros' });
    let offset = 0;
    const specs: ParamSpec[] = [];
    for (const [group, decay] of [
      [mats, true],
      [vecs, false],
    ] as const) {
      for (const p of group) {
        const size = p.shape.reduce((a, b) => a * b, 1);
        specs.push({ ...p, offset, size, decay });
        offset += size;
      }
    }
    this.specs = specs;
    this.byName = new Map(specs.map((s) => [s.name, s]));
    this.size = offset;
    const firstVec = specs.find((s) => !s.decay)!.offset;
    this.decayRange = [0, firstVec];
    this.noDecayRange = [firstVec, offset];
  }

  get(name: string): ParamSpec {
    const s = this.byName.get(name);
    if (!s) throw new ArgumentError(`ParamLayout: no parameter named '${name}'`);
    return s;
  }

  /** A view of `name` in a flat buffer (no copy). */
  view<A extends Float32Array | Float64Array>(buf: A, name: string): A {
    const s = this.get(name);
    return buf.subarray(s.offset, s.offset + s.size) as A;
  }

  /**
   * GPT-2 initialisation: weights and embeddings N(0, 0.02²); the residual
   * projections (attn.c_proj, mlp.c_proj) N(0, (0.02/√(2L))²) so the residual
   * stream's variance does not grow with depth; biases 0; LayerNorm gains 1.
   */
  initialize(buf: Float32Array | Float64Array, seed: number): void {
    const rng = new Rng(seed);
    const std = 0.02;
    const resid = std / Math.sqrt(2 * this.config.L);
    for (const s of this.specs) {
      const v = buf.subarray(s.offset, s.offset + s.size);
      switch (s.init) {
        case 'normal':
          for (let i = 0; i < v.length; i++) v[i] = rng.normal() * std;
          break;
        case 'residual':
          for (let i = 0; i < v.length; i++) v[i] = rng.normal() * resid;
          break;
        case 'zeros':
          v.fill(0);
          break;
        case 'ones':
          v.fill(1);
          break;
      }
    }
  }
}

/** Model sizes the CLI offers. `tiny` is the default main job (minutes on 2 CPU cores). */
export const MODEL_SIZES = {
  tiny: { maxT: 64, L: 2, NH: 4, C: 64 },
  small: { maxT: 128, L: 4, NH: 4, C: 128 },
  medium: { maxT: 256, L: 6, NH: 6, C: 192 },
} as const;
export type ModelSize = keyof typeof MODEL_SIZES;
