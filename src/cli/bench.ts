/**
 * `stable-kernels bench`: the microbenchmark suite (bench/run.ts). It lives in
 * the repository, not in the published package, because it measures the
 * kernels against peers (tfjs-cpu, tfjs-wasm, tfjs-webgpu) that are
 * development dependencies; from a checkout this runs it with the arguments
 * given (`--full`, `--only softmax`, `--subjects wasm,tfjs-wasm-1t`, ...).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError } from '../errors.js';

export function runBench(args: string[], log: (s: string) => void = console.log): number {
  // dist/cli/bench.js and src/cli/bench.ts both sit two folders below the package root
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const runner = join(root, 'bench', 'run.ts');
  if (!existsSync(runner)) {
    throw new ArgumentError(
      'bench: the benchmark suite is part of the stable-kernels repository, not of the installed package ' +
        '(it compares against tfjs and needs its dev dependencies). Clone the repository, run `npm ci`, then `npx stable-kernels bench` or `npm run bench`.',
    );
  }
  let tsx: string;
  try {
    tsx = createRequire(join(root, 'package.json')).resolve('tsx/cli');
  } catch {
    throw new ArgumentError('bench: tsx is not installed; run `npm ci` in the repository first');
  }
  log(`running bench/run.ts ${args.join(' ')}`.trim());
  const r = spawnSync(process.execPath, [tsx, runner, ...args], { cwd: root, stdio: 'inherit' });
  return r.status ?? 1;
}
