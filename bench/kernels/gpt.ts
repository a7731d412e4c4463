/**
 * One training step of the default GPT — what `npx stable-kernels train`
 * runs: size 'tiny' (L = 2, NH = 4, C = 64, maxT = 64), batch 16 × 64
 * characters of the embedded Markov source, fp32, AdamW at lr 3e-3, seed 1 —
 * through `new Trainer({...}).trainStep()` (forward, backward, clipping,
 * AdamW), in tokens per second (B·T = 1024 tokens per step). Every call
 * trains on the same fixed batch, so every step does the same work.
 *
 * Validation: the loss of the first step (the fresh model's forward) against
 * the same step of the FP64 model (the reference backend, same seed, same
 * batch) within 1e-4 relative. No derived whole-model bound exists; float32
 * and FP64 agree to ~1e-6 on this model, and each kernel inside is held to its
 * own bound by its own case.
 *
 * The Trainer is found at run time (lib/optional.ts). There is no peer: tfjs
 * has no GPT to train, and writing one for the comparison would benchmark
 * the writer.
 */
import { createDevice, type Device } from '../../src/device.js';
import { importOptional, missingFunctions } from '../lib/optional.js';
import { type BenchCase, type CheckResult, consume, verdict } from '../lib/case.js';
import { diskCachedAsync } from '../lib/cache.js';

/** The parts of src/model that this case uses (imported at run time). */
interface Batch {
  B: number;
  T: number;
}
interface DataSourceLike {
  tokenizer: { vocabSize: number };
  nextBatch(B: number, T: number): Batch;
}
interface TrainerLike {
  trainStep(batch?: Batch): Promise<{ loss: number; tokens: number }>;
}
interface TrainModule {
  Trainer: new (o: Record<string, unknown>) => TrainerLike;
  DEFAULT_OPTIM: Record<string, number>;
}
interface DataModule {
  MarkovStream: new (seed: number) => DataSourceLike;
}
interface ParamsModule {
  MODEL_SIZES: Record<string, { maxT: number; L: number; NH: number; C: number }>;
}

const SIZE = 'tiny';
const LR = 3e-3;
const SEED = 1;
const LOSS_RTOL = 1e-4;

function trainer(m: { train: TrainModule; data: DataModule; params: ParamsModule }, device: Device, B: number, T: number): { trainer: TrainerLike; batch: Batch } {
  const size = m.params.MODEL_SIZES[SIZE];
  const data = new m.data.MarkovStream(SEED);
  const config = { V: data.tokenizer.vocabSize, maxT: size.maxT, L: size.L, NH: size.NH, C: size.C };
  const t = new m.train.Trainer({
    device,
    config,
    precision: 'fp32',
    data,
    B,
    T,
    seed: SEED,
    optim: { ...m.train.DEFAULT_OPTIM, lr: LR, minLr: LR / 10, totalSteps: 100000 },
  });
  // the batch every step trains on: the first one of a separate stream with the same seed
  return { trainer: t, batch: new m.data.MarkovStream(SEED).nextBatch(B, T) };
}

/** `tiny`: the same step on a batch of 2 × 8 (the smoke test). */
export async function gptCases(tiny = false): Promise<BenchCase[]> {
  const train = await importOptional<TrainModule>(['model/train']);
  const data = await importOptional<DataModule>(['model/data']);
  const params = await importOptional<ParamsModule>(['model/params']);
  let missing: string | undefined;
  const failed = [train, data, params].find((x) => x?.error !== undefined)?.error;
  if (!train) missing = 'the GPT Trainer has not landed (no src/model/train.ts)';
  else if (failed) missing = failed;
  else if (!train.module || missingFunctions(train.module, ['Trainer']).length) missing = `${train.path} exports no Trainer`;
  else if (!data?.module || typeof data.module.MarkovStream !== 'function') missing = 'src/model/data.ts has no MarkovStream';
  else if (!params?.module || !params.module.MODEL_SIZES?.[SIZE]) missing = `src/model/params.ts has no MODEL_SIZES.${SIZE}`;
  const base = {
    id: 'gpt.step.default',
    kernel: 'GPT training step',
    phase: 'step' as const,
    metric: 'tokens/s' as const,
    workNote: 'B·T tokens per step',
    quick: true,
  };
  if (missing || !train?.module || !data?.module || !params?.module) {
    return [{ ...base, size: 'default model', work: 0, data: () => undefined, check: () => [], oursMissing: missing }];
  }
  const m = { train: train.module, data: data.module, params: params.module };
  const T = tiny ? 8 : m.params.MODEL_SIZES[SIZE].maxT;
  const B = tiny ? 2 : 16;
  const s = m.params.MODEL_SIZES[SIZE];
  // the FP64 model's first-step loss, once per process (once per run through the cache)
  let refValue: Promise<number> | undefined;
  const reference = (): Promise<number> =>
    (refValue ??= diskCachedAsync(`gpt.default.${B}x${T}.refLoss`, async () => {
      const dev = await createDevice({ backend: 'reference' });
      try {
        const { trainer: t, batch } = trainer(m, dev, B, T);
        return (await t.trainStep(batch)).loss;
      } finally {
        await dev.destroy();
      }
    }));
  let refForCheck = NaN;
  return [
    {
      ...base,
      size: `${SIZE} (L=${s.L}, NH=${s.NH}, C=${s.C}), B=${B}, T=${T}, fp32`,
      work: B * T,
      ownsData: true,
      data: () => undefined,
      check: (out, M): CheckResult[] => [verdict('first-step loss (whole model, 1e-4 relative)', out.loss, [refForCheck], [LOSS_RTOL * Math.abs(refForCheck)], M)],
      ours: async (ctx) => {
        refForCheck = await reference();
        const { trainer: t, batch } = trainer(m, ctx.device, B, T);
        return {
          async once() {
            return { loss: Float64Array.of((await t.trainStep(batch)).loss) };
          },
          async timed() {
            consume([(await t.trainStep(batch)).loss]);
          },
        };
      },
    },
  ];
}
