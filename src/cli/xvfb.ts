/**
 * Running a child that needs an X display (headless-gl) on a machine without
 * one: under `xvfb-run -a`, when it is installed. Shared by `stable-kernels
 * check` and the benchmark runner (bench/run.ts).
 */
import { spawnSync } from 'node:child_process';

/** True when no X display is set and `xvfb-run` is on the PATH: a child needing a display should run under it. */
export function xvfbNeeded(): boolean {
  return !process.env.DISPLAY && spawnSync('sh', ['-c', 'command -v xvfb-run'], { encoding: 'utf8' }).status === 0;
}

/** `cmd argv` wrapped as `xvfb-run -a cmd argv`. */
export function underXvfb(cmd: string, argv: readonly string[]): [string, string[]] {
  return ['xvfb-run', ['-a', cmd, ...argv]];
}
