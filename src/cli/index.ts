/**
 * The `stable-kernels` command: train, sample, check, trace, bench.
 * Exit codes: 0 success, 1 a check failed or the run hit a numerical error,
 * 2 bad usage, a backend that cannot start, or a checkpoint that cannot be used.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { BACKENDS } from '../device.js';
import { ArgumentError, BackendUnavailableError } from '../errors.js';
import { CheckpointError } from '../model/checkpoint.js';
import { MODEL_SIZES } from '../model/params.js';
import { PRECISION_MODES } from '../model/gpt.js';

function int(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return n;
  };
}

function num(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
    return n;
  };
}

const backendOption = () =>
  new Option('-b, --backend <name>', 'compute backend').choices(['auto', ...BACKENDS]).default('auto');

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('stable-kernels')
    .description('Numerically stable tensor kernels on every gpu.js backend, a stability suite, and a small GPT built from them.')
    .showHelpAfterError('(run with --help for usage)')
    // before the subcommands are added, so they inherit it: errors come back to main() for the exit code
    .exitOverride();

  program
    .command('train')
    .description('train the GPT on the embedded default source (or --data FILE) and compare its loss with the entropy floor')
    .addOption(backendOption())
    .option('--threads <n>', 'worker threads (webasm default 1; wasm default: every core, at most 8)', int('--threads', 1))
    .addOption(new Option('-p, --precision <mode>', 'numeric precision').choices([...PRECISION_MODES]).default('fp32'))
    .addOption(new Option('-s, --size <size>', 'model size').choices(Object.keys(MODEL_SIZES)).default('tiny'))
    .option('-n, --steps <n>', 'training steps', int('--steps', 1), 1500)
    .option('--batch <B>', 'sequences per batch', int('--batch', 1), 16)
    .option('--seq <T>', 'sequence length (default: the model size maxT)', int('--seq', 2))
    .option('--lr <rate>', 'peak learning rate (cosine decay to a tenth)', num('--lr'), 1e-2)
    .option('--data <file>', 'train on a UTF-8 text file instead of the embedded source')
    .option('--checkpoint <file>', 'save a checkpoint here (at every evaluation and at the end)')
    .option('--resume <file>', 'resume from a checkpoint')
    .option('--trace <file>', 'record every kernel call to a JSON Lines file')
    .option('--out <dir>', 'where the loss plot goes', 'stable-kernels-out')
    .option('--seed <n>', 'random seed', int('--seed'), 1)
    .option('--eval-every <n>', 'evaluate every n steps (0: only at the end)', int('--eval-every'), 100)
    .option('--eval-batches <n>', 'validation batches', int('--eval-batches', 1), 8)
    .option('-q, --quiet', 'no progress bar', false)
    .action(async (o) => {
      const { runTrain } = await import('./train.js');
      await runTrain({ ...o, size: o.size, backend: o.backend });
    });

  program
    .command('sample')
    .description('generate text from a checkpoint')
    .requiredOption('--checkpoint <file>', 'checkpoint written by train')
    .addOption(backendOption())
    .option('--prompt <text>', 'text to continue', 't')
    .option('-n, --tokens <n>', 'characters to generate', int('--tokens', 1), 200)
    .option('--temperature <t>', 'sampling temperature', num('--temperature'), 0.8)
    .option('--top-k <k>', 'keep the k most likely characters', int('--top-k', 1))
    .option('--top-p <p>', 'nucleus sampling threshold in (0, 1]', num('--top-p'))
    .option('--greedy', 'always take the most likely character', false)
    .option('--seed <n>', 'random seed', int('--seed'), 1)
    .action(async (o) => {
      const { runSample } = await import('./sample.js');
      await runSample(o);
    });

  program
    .command('check')
    .description('run the kernel property suite on every backend that works here and print the worst error per kernel as a fraction of its bound; exit 1 if a bound is broken')
    .addOption(new Option('-b, --backend <name>', 'one backend only (not reference: the FP64 oracle itself)').choices(['all', ...BACKENDS.filter((b) => b !== 'reference')]).default('all'))
    .option('-k, --kernel <group>', 'only this kernel group (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--runs <n>', 'property runs per check (default: each check\'s CI count)', int('--runs', 1))
    .option('--seconds <s>', 'time budget per backend', num('--seconds'), 120)
    .option('--seed <n>', 'property seed', int('--seed'), 20261204)
    .option('--import <module>', 'load a module first, e.g. one that registers your own kernel implementation (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--json', 'machine-readable result for one backend (used internally)', false)
    .action(async (o) => {
      const { runCheck } = await import('./check.js');
      const code = await runCheck({ backend: o.backend, kernels: o.kernel, runs: o.runs, seconds: o.seconds, seed: o.seed, import: o.import, json: o.json });
      if (code !== 0) throw new ExitCode(code);
    });

  program
    .command('trace')
    .description('run one kernel forward and backward on generated inputs and print per-call statistics (NaN/Inf counts, max |x|, float16/bfloat16 headroom); trace a training run with `train --trace FILE`')
    .argument('<kernel>', 'softmax, logSoftmax, crossEntropy, layerNorm, gelu, matmul or attention')
    .addOption(backendOption())
    .requiredOption('--shape <dims>', 'comma-separated sizes, e.g. 64,50304 for softmax (N,V); 4,12,256,64 for attention (B,NH,T,hs)', (v: string) => v.split(',').map((x) => int('--shape')(x.trim())))
    .addOption(new Option('--values <profile>', 'how inputs are drawn').choices(['normal', 'wide', 'huge', 'tiny', 'ties', 'zeros']).default('normal'))
    .option('--scale <s>', 'standard deviation of ordinary values', num('--scale'), 1)
    .option('--nan <p>', 'probability of a NaN per input element', Number, 0)
    .option('--inf <p>', 'probability of ±Inf per input element', Number, 0)
    .option('--seed <n>', 'input seed', int('--seed'), 1)
    .option('--out <file>', 'also write every call as JSON Lines')
    .option('--anomalies', 'stop at the first kernel whose output holds NaN/Inf and say where it was created', false)
    .option('--overflow <format>', 'with anomaly mode: also stop when an output would overflow this format (float16, bfloat16, ...)')
    .action(async (kernel: string, o) => {
      const { runTrace } = await import('./trace.js');
      const code = await runTrace({ kernel, backend: o.backend, shape: o.shape, profile: o.values, scale: o.scale, nan: o.nan, inf: o.inf, seed: o.seed, out: o.out, anomalies: o.anomalies, overflow: o.overflow });
      if (code !== 0) throw new ExitCode(code);
    });

  program
    .command('bench')
    .description('run the microbenchmarks (from a repository checkout): every kernel on every backend here, beside tfjs and a TypeScript loop; writes bench/RESULTS.md')
    .allowUnknownOption(true)
    .helpOption('-h, --help', 'show this help (the suite itself takes --full, --only <regex>, --subjects a,b,c, --no-report)')
    .argument('[args...]', 'passed to bench/run.ts')
    .action(async (args: string[]) => {
      const { runBench } = await import('./bench.js');
      const code = runBench(args ?? []);
      if (code !== 0) throw new ExitCode(code);
    });

  return program;
}

/** Thrown by a command to end with a given exit code after its output. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    if (e instanceof ExitCode) return e.code;
    if (err.code?.startsWith('commander.')) return 2;
    if (e instanceof ArgumentError || e instanceof BackendUnavailableError || e instanceof CheckpointError) {
      console.error(`error: ${err.message}`);
      return 2;
    }
    console.error(err.stack ?? String(err));
    return 1;
  }
}
