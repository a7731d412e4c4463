/**
 * Training: AdamW with decoupled weight decay on matrices only, linear warmup
 * then cosine decay, global-norm gradient clipping, and the three precision
 * modes (fp16 with dynamic loss scaling). Seeded and deterministic on a
 * given backend; checkpoints resume the exact same loss sequence.
 *
 * One step:
 *   1. batch ← data (seeded stream);
 *   2. forward; loss; backward with dloss = S (S = loss scale in fp16, else 1);
 *   3. fp16: unscale the gradients by 1/S and check them — a non-finite value
 *      skips the optimizer step (nothing changes but the scaler) and halves S;
 *      fp32/bf16: a non-finite gradient also skips the step, with its reason;
 *   4. clip the global 2-norm to `gradClip`;
 *   5. AdamW (through the dispatcher), one call for the decayed group
 *      (embeddings and weight matrices) and one for biases and LayerNorm
 *      parameters (no decay, as nanoGPT).
 */
import type { Device } from '../device.js';
import { scope } from '../dispatch.js';
import { ArgumentError } from '../errors.js';
import { adamw } from '../kernels/adamw.js';
import { clipGradNorm } from '../precision/clip.js';
import { DynamicLossScaler, type LossScalerState } from '../precision/loss-scaler.js';
import { Tensor } from '../tensor.js';
import { CheckpointError, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import type { Batch, DataSource, LoaderState } from './data.js';
import { GPT, type PrecisionMode } from './gpt.js';
import type { GPTConfig } from './params.js';

export interface OptimConfig {
  /** Peak learning rate. */
  lr: number;
  /** Final learning rate of the cosine decay. */
  minLr: number;
  warmupSteps: number;
  /** Steps of the schedule (the cosine reaches minLr here). */
  totalSteps: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Global 2-norm clip (PyTorch clip_grad_norm_). */
  gradClip: number;
}

export const DEFAULT_OPTIM: Omit<OptimConfig, 'totalSteps'> = {
  lr: 1e-2,
  minLr: 1e-3,
  warmupSteps: 30,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  gradClip: 1.0,
};

/** Linear warmup from 0 to lr over warmupSteps, then cosine decay to minLr at totalSteps.
 *
 * @example
 * learningRate({ ...DEFAULT_OPTIM, totalSteps: 1000 }, 500); // on the cosine, between lr and minLr
 */
export function learningRate(o: OptimConfig, step: number): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  if (step >= o.totalSteps) return o.minLr;
  const progress = (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps);
  return o.minLr + 0.5 * (o.lr - o.minLr) * (1 + Math.cos(Math.PI * progress));
}

export interface StepInfo {
  step: number;
  loss: number;
  lr: number;
  /** Loss scale used (1 outside fp16). */
  scale: number;
  skipped: boolean;
  /** Why the step was skipped, e.g. "non-finite gradient: h.1.mlp.c_fc.weight[37] = Infinity". */
  reason?: string;
  gradNorm: number;
  tokens: number;
  ms: number;
}

export interface TrainerOptions {
  device: Device;
  config: GPTConfig;
  precision: PrecisionMode;
  data: DataSource;
  B: number;
  T: number;
  optim: OptimConfig;
  seed: number;
}

interface TrainerState {
  version: 1;
  config: GPTConfig;
  precision: PrecisionMode;
  B: number;
  T: number;
  optim: OptimConfig;
  seed: number;
  step: number;
  adamSteps: number;
  loader: LoaderState;
  scaler: LossScalerState | null;
  alphabet: string;
  backend: string;
}

export class Trainer {
  readonly model: GPT;
  readonly m: Float32Array | Float64Array;
  readonly v: Float32Array | Float64Array;
  readonly scaler: DynamicLossScaler | undefined;
  /** Steps taken (skipped ones included). */
  step = 0;
  /** Optimizer steps actually applied (the AdamW bias-correction counter). */
  adamSteps = 0;
  readonly skipped: StepInfo[] = [];

  constructor(readonly options: TrainerOptions) {
    const { device, config, precision, seed, data } = options;
    if (data.tokenizer.vocabSize !== config.V) {
      throw new ArgumentError(`Trainer: the data's vocabulary has ${data.tokenizer.vocabSize} tokens but config.V = ${config.V}`);
    }
    if (options.T > config.maxT) throw new ArgumentError(`Trainer: T = ${options.T} exceeds config.maxT = ${config.maxT}`);
    this.model = new GPT(device, config, { seed, precision });
    const F = device.info.precision === 'float64' ? Float64Array : Float32Array;
    this.m = new F(this.model.layout.size);
    this.v = new F(this.model.layout.size);
    this.scaler = precision === 'fp16' ? new DynamicLossScaler() : undefined;
  }

  get device(): Device {
    return this.options.device;
  }

  /** Named views of the gradient buffer (for clipping and the loss scaler). */
  #namedGrads(): Record<string, Float32Array | Float64Array> {
    const out: Record<string, Float32Array | Float64Array> = {};
    for (const s of this.model.layout.specs) out[s.name] = this.model.grads.subarray(s.offset, s.offset + s.size);
    return out;
  }

  /** One training step on the next batch of the data source. */
  async trainStep(batch?: Batch): Promise<StepInfo> {
    const { B, T, optim, data } = this.options;
    const t0 = performance.now();
    const b = batch ?? data.nextBatch(B, T);
    const lr = learningRate(optim, this.step);
    const scale = this.scaler?.scale ?? 1;
    this.model.zeroGrad();
    const { loss, cache } = await scope('forward', () => this.model.forward(b.inputs, b.B, b.T, b.targets));
    await scope('backward', () => this.model.backward(cache, scale));
    const grads = this.#namedGrads();
    let skipped = false;
    let reason: string | undefined;
    if (this.scaler) {
      const check = this.scaler.unscaleAndCheck(grads);
      if (!check.finite) {
        skipped = true;
        const c = check.culprit!;
        reason = `non-finite gradient at loss scale ${scale}: ${c.tensor}[${c.index}] = ${c.value}`;
      }
      this.scaler.update(check);
    } else {
      for (const [name, g] of Object.entries(grads)) {
        const i = g.findIndex((x) => !Number.isFinite(x));
        if (i >= 0) {
          skipped = true;
          reason = `non-finite gradient: ${name}[${i}] = ${g[i]}`;
          break;
        }
      }
    }
    let gradNorm = NaN;
    if (!skipped) {
      gradNorm = clipGradNorm(grads, optim.gradClip).totalNorm;
      await this.#optimizerStep(lr);
    }
    const info: StepInfo = { step: this.step, loss: loss!, lr, scale, skipped, reason, gradNorm, tokens: b.B * b.T, ms: performance.now() - t0 };
    if (skipped) this.skipped.push(info);
    this.step++;
    return info;
  }

  async #optimizerStep(lr: number): Promise<void> {
    const { optim } = this.options;
    const layout = this.model.layout;
    this.adamSteps++;
    await scope('optimizer', async () => {
      for (const [range, weightDecay] of [
        [layout.decayRange, optim.weightDecay],
        [layout.noDecayRange, 0],
      ] as const) {
        const [a, z] = range;
        if (z <= a) continue;
        const view = (buf: Float32Array | Float64Array) => Tensor.fromHost(buf.subarray(a, z), [z - a]);
        const r = await adamw(
          this.device,
          { param: view(this.model.params), grad: view(this.model.grads), m: view(this.m), v: view(this.v) },
          { lr, step: this.adamSteps, beta1: optim.beta1, beta2: optim.beta2, eps: optim.eps, weightDecay },
        );
        // the kernel returns new tensors; the flat buffers take their values
        this.model.params.set(await r.param.read(), a);
        this.m.set(await r.m.read(), a);
        this.v.set(await r.v.read(), a);
        r.param.dispose();
        r.m.dispose();
        r.v.dispose();
      }
    });
    this.model.paramsChanged();
  }

  /** Mean loss over fixed validation batches (no gradients). */
  async evaluate(batches: Batch[]): Promise<number> {
    let total = 0;
    for (const b of batches) {
      const { loss, cache } = await this.model.forward(b.inputs, b.B, b.T, b.targets);
      this.model.release(cache);
      total += loss!;
    }
    return total / batches.length;
  }

  /** Saves model, optimizer, scaler and data-loader state atomically. */
  save(path: string): void {
    const { config, precision, B, T, optim, seed, data } = this.options;
    const state: TrainerState = {
      version: 1,
      config,
      precision,
      B,
      T,
      optim,
      seed,
      step: this.step,
      adamSteps: this.adamSteps,
      loader: data.state(),
      scaler: this.scaler ? this.scaler.state() : null,
      alphabet: data.tokenizer.alphabet,
      backend: this.device.backend,
    };
    const tensors: Record<string, { shape: number[]; data: Float32Array | Float64Array }> = {};
    for (const s of this.model.layout.specs) {
      tensors[s.name] = { shape: s.shape, data: this.model.params.subarray(s.offset, s.offset + s.size) };
      tensors[`optimizer.m.${s.name}`] = { shape: s.shape, data: this.m.subarray(s.offset, s.offset + s.size) };
      tensors[`optimizer.v.${s.name}`] = { shape: s.shape, data: this.v.subarray(s.offset, s.offset + s.size) };
    }
    saveCheckpoint(path, tensors, state);
  }

  /**
   * Restores a checkpoint into this trainer. The configuration, precision and
   * vocabulary must match; a truncated or corrupted file is refused.
   */
  load(path: string): void {
    const { tensors, state } = loadCheckpoint(path);
    const s = state as TrainerState;
    if (!s || s.version !== 1) throw new CheckpointError(`Trainer.load: '${path}' has an unknown training-state version`);
    const mine = this.options;
    const diff: string[] = [];
    for (const k of ['V', 'maxT', 'L', 'NH', 'C'] as const) if (s.config[k] !== mine.config[k]) diff.push(`${k}: checkpoint ${s.config[k]}, model ${mine.config[k]}`);
    if (s.precision !== mine.precision) diff.push(`precision: checkpoint ${s.precision}, trainer ${mine.precision}`);
    if (s.alphabet !== mine.data.tokenizer.alphabet) diff.push(`vocabulary: checkpoint ${JSON.stringify(s.alphabet)}, data ${JSON.stringify(mine.data.tokenizer.alphabet)}`);
    if (diff.length > 0) throw new CheckpointError(`Trainer.load: '${path}' does not match this model (${diff.join('; ')})`);
    const F = this.model.params instanceof Float64Array ? Float64Array : Float32Array;
    for (const spec of this.model.layout.specs) {
      for (const [prefix, buf] of [
        ['', this.model.params],
        ['optimizer.m.', this.m],
        ['optimizer.v.', this.v],
      ] as const) {
        const t = tensors.get(prefix + spec.name);
        if (!t || t.data.length !== spec.size) throw new CheckpointError(`Trainer.load: '${path}' lacks tensor '${prefix}${spec.name}' of shape [${spec.shape.join(', ')}]`);
        buf.set(t.data instanceof F ? t.data : F.from(t.data), spec.offset);
      }
    }
    this.step = s.step;
    this.adamSteps = s.adamSteps;
    mine.data.loadState(s.loader);
    if (this.scaler && s.scaler) this.scaler.loadState(s.scaler);
    this.model.paramsChanged();
  }
}
