/**
 * `stable-kernels train`: trains the GPT on the embedded default source (or a
 * text file) and reports the loss against the source's entropy floor.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { createDevice, type BackendName } from '../device.js';
import { ArgumentError } from '../errors.js';
import { MarkovStream, TextFileData, type DataSource } from '../model/data.js';
import { generate } from '../model/generate.js';
import { PRECISION_MODES, type PrecisionMode } from '../model/gpt.js';
import { MODEL_SIZES, type GPTConfig, type ModelSize } from '../model/params.js';
import { plotLossCurve, type CurvePoint } from '../model/plot.js';
import { DEFAULT_OPTIM, Trainer, type StepInfo } from '../model/train.js';
import { TraceRecorder } from '../trace/recorder.js';

export interface TrainArgs {
  backend: BackendName | 'auto';
  threads?: number;
  precision: PrecisionMode;
  size: ModelSize;
  steps: number;
  batch: number;
  seq?: number;
  lr: number;
  data?: string;
  checkpoint?: string;
  resume?: string;
  trace?: string;
  out: string;
  seed: number;
  evalEvery: number;
  evalBatches: number;
  quiet: boolean;
}

export interface TrainReport {
  backend: string;
  adapter: string;
  precision: PrecisionMode;
  steps: number;
  finalTrainLoss: number;
  valLoss: number;
  perplexity: number;
  /** Best achievable mean loss over T-character windows (expectation). */
  floor?: number;
  /** The optimal predictor's loss on the very validation characters (the exact comparison). */
  valOptimal?: number;
  entropyRate?: number;
  skipped: StepInfo[];
  seconds: number;
  tokensPerSecond: number;
  sample: string;
  plot?: { svg: string; png: string };
  traceTable: string;
  traceNonFinite: number;
}

const fmt = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

export async function runTrain(a: TrainArgs, log: (s: string) => void = console.log): Promise<TrainReport> {
  if (!PRECISION_MODES.includes(a.precision)) throw new ArgumentError(`--precision must be one of ${PRECISION_MODES.join(', ')}, got '${a.precision}'`);
  if (!(a.size in MODEL_SIZES)) throw new ArgumentError(`--size must be one of ${Object.keys(MODEL_SIZES).join(', ')}, got '${a.size}'`);
  const t0 = performance.now();
  const device = await createDevice({ backend: a.backend, ...(a.threads !== undefined ? { threads: a.threads } : {}) });
  try {
    log(`device: ${device.backend} on ${device.info.adapter}${device.info.software ? ' (software)' : ''} — ${device.info.reason}`);
    const data: DataSource = a.data ? new TextFileData(a.data, a.seed) : new MarkovStream(a.seed);
    const size = MODEL_SIZES[a.size];
    const T = a.seq ?? size.maxT;
    const config: GPTConfig = { V: data.tokenizer.vocabSize, maxT: size.maxT, L: size.L, NH: size.NH, C: size.C };
    const floor = data.floor(T);
    log(`data: ${data.description}`);
    log(`model: ${a.size} (L=${config.L}, NH=${config.NH}, C=${config.C}, V=${config.V}, maxT=${config.maxT}), precision ${a.precision}, batch ${a.batch}×${T}, ${a.steps} steps`);
    if (floor !== undefined) log(`entropy rate ${fmt(data.entropyRate!)} nats/char; best achievable mean loss over windows of ${T} predictions: ${fmt(floor)}`);
    const trainer = new Trainer({
      device,
      config,
      precision: a.precision,
      data,
      B: a.batch,
      T,
      seed: a.seed,
      optim: { ...DEFAULT_OPTIM, lr: a.lr, minLr: a.lr / 10, totalSteps: a.steps },
    });
    if (a.resume) {
      trainer.load(a.resume);
      log(`resumed from ${a.resume} at step ${trainer.step}`);
    }
    const val = data.validationBatches(a.batch, T, a.evalBatches);
    const valOptimal = data.optimalLoss(val);
    const traceAll = a.trace ? new TraceRecorder({ file: a.trace }) : undefined;
    const stopTraceAll = traceAll?.attach();

    const points: CurvePoint[] = [];
    const bar = a.quiet
      ? undefined
      : new cliProgress.SingleBar(
          {
            format: 'train |{bar}| {value}/{total} | loss {loss} (floor {floor}) | {tps} tok/s | lr {lr} | scale {scale}',
            barsize: 24,
            hideCursor: true,
            clearOnComplete: false,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        );
    bar?.start(a.steps, trainer.step, { loss: '—', floor: floor !== undefined ? fmt(floor, 3) : 'n/a', tps: '—', lr: '—', scale: '—' });
    let ema: number | undefined;
    let tokens = 0;
    let trainMs = 0;
    let last: StepInfo | undefined;
    while (trainer.step < a.steps) {
      const info = await trainer.trainStep();
      last = info;
      tokens += info.tokens;
      trainMs += info.ms;
      if (Number.isFinite(info.loss)) ema = ema === undefined ? info.loss : 0.9 * ema + 0.1 * info.loss;
      points.push({ step: info.step, loss: info.loss, series: 'train (batch)' });
      if (info.skipped && !a.quiet) bar?.updateETA();
      if (info.skipped) log(`\nstep ${info.step} skipped: ${info.reason}`);
      if (a.evalEvery > 0 && (trainer.step % a.evalEvery === 0 || trainer.step === a.steps)) {
        const v = await trainer.evaluate(val);
        points.push({ step: info.step, loss: v, series: 'validation' });
        if (a.checkpoint) trainer.save(a.checkpoint);
      }
      bar?.update(trainer.step, {
        loss: fmt(ema ?? info.loss, 3),
        tps: Math.round((tokens / trainMs) * 1000),
        lr: info.lr.toExponential(2),
        scale: info.scale,
      });
    }
    bar?.stop();
    stopTraceAll?.();
    if (a.checkpoint) {
      trainer.save(a.checkpoint);
      log(`checkpoint: ${a.checkpoint}`);
    }

    // validation with one traced pass: statistics of every kernel output, per scope
    const rec = new TraceRecorder();
    const stop = rec.attach();
    const valLoss = await trainer.evaluate(val);
    // one traced training step (forward and backward) on a validation batch, without applying it
    trainer.model.zeroGrad();
    const probe = val[0];
    const { cache } = await trainer.model.forward(probe.inputs, probe.B, probe.T, probe.targets);
    await trainer.model.backward(cache, trainer.scaler?.scale ?? 1);
    trainer.model.zeroGrad();
    stop();

    const tok = data.tokenizer;
    const prompt = tok.encode(tok.alphabet.includes('t') ? 't' : tok.alphabet[0]);
    const sampleIds = await generate(trainer.model, prompt, 200, { temperature: 0.8, topK: 8, seed: a.seed });
    const sample = tok.decode(prompt) + tok.decode(sampleIds);

    mkdirSync(a.out, { recursive: true });
    const plot = await plotLossCurve(join(a.out, 'loss'), points, `GPT ${a.size}, ${a.precision}, ${device.backend}`, floor);
    const seconds = (performance.now() - t0) / 1000;
    const report: TrainReport = {
      backend: device.backend,
      adapter: device.info.adapter,
      precision: a.precision,
      steps: trainer.step,
      finalTrainLoss: last?.loss ?? NaN,
      valLoss,
      perplexity: Math.exp(valLoss),
      floor,
      valOptimal,
      entropyRate: data.entropyRate,
      skipped: trainer.skipped,
      seconds,
      tokensPerSecond: (tokens / trainMs) * 1000,
      sample,
      plot,
      traceTable: rec.table(),
      traceNonFinite: rec.nonFinite(),
    };
    log('');
    log(`validation loss ${fmt(valLoss)} nats/char, perplexity ${fmt(Math.exp(valLoss), 3)}`);
    if (valOptimal !== undefined) {
      log(`the optimal predictor on the same ${a.evalBatches * a.batch * T} validation characters: ${fmt(valOptimal)} (floor ${fmt(floor!)} in expectation); gap ${fmt(valLoss - valOptimal)} nats/char`);
    }
    log(`skipped steps: ${trainer.skipped.length}${trainer.scaler ? `, final loss scale ${trainer.scaler.scale}` : ''}`);
    log(`time ${seconds.toFixed(1)} s, ${Math.round(report.tokensPerSecond)} tokens/s`);
    log(`\nsample (temperature 0.8, top-k 8):\n  ${sample}`);
    log(`\ntrace of one validation forward + backward (${rec.calls} kernel calls, ${report.traceNonFinite} non-finite values):`);
    log(rec.table());
    log(`\nloss curve: ${plot.png} (and ${plot.svg})`);
    if (a.trace) log(`trace: ${a.trace} (${traceAll!.calls} kernel calls)`);
    return report;
  } finally {
    await device.destroy();
  }
}
