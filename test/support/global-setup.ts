/**
 * Runs once before the suite: starts a virtual X display for headlessgl when
 * none is set and Xvfb is installed, probes every backend, prints which ran
 * and which were skipped and why, and hands the list to the test workers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { probeBackends } from '../../src/device.js';

let xvfb: ChildProcess | undefined;

async function startXvfb(): Promise<string | undefined> {
  if (process.env.DISPLAY) return undefined;
  if (spawnSync('sh', ['-c', 'command -v Xvfb'], { stdio: 'ignore' }).status !== 0) return 'Xvfb is not installed (apt-get install -y xvfb)';
  for (let n = 91; n < 99; n++) {
    const display = `:${n}`;
    const p = spawn('Xvfb', [display, '-screen', '0', '64x64x24', '-nolisten', 'tcp'], { stdio: 'ignore', detached: false });
    await new Promise((r) => setTimeout(r, 700));
    if (p.exitCode === null) {
      xvfb = p;
      process.env.DISPLAY = display;
      return undefined;
    }
  }
  return 'Xvfb did not start';
}

interface Probed {
  run: string[];
  accuracyDir: string;
}
const g = globalThis as { __skProbe?: Promise<Probed> };

/** Global setup runs once per project; the probe and its printout happen once. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  g.__skProbe ??= probeOnce();
  const { run, accuracyDir } = await g.__skProbe;
  project.provide('backends', run);
  project.provide('accuracyDir', accuracyDir);
  return async () => {
    xvfb?.kill();
    xvfb = undefined;
  };
}

async function probeOnce(): Promise<Probed> {
  const xvfbProblem = await startXvfb();
  const requested = process.env.SK_BACKENDS?.split(',').map((s) => s.trim()).filter(Boolean);
  const probes = await probeBackends();
  const lines = ['', 'stable-kernels test backends:'];
  const run: string[] = [];
  for (const p of probes) {
    const skippedByEnv = requested && !requested.includes(p.backend);
    if (p.available && !skippedByEnv) run.push(p.backend);
    const status = skippedByEnv ? 'skipped (not in SK_BACKENDS)' : p.available ? 'runs' : 'skipped';
    lines.push(`  ${p.backend.padEnd(11)} ${status.padEnd(8)} ${p.detail}${!p.available && p.backend === 'headlessgl' && xvfbProblem ? ` [${xvfbProblem}]` : ''}`);
  }
  console.log(lines.join('\n') + '\n');
  // each run writes its measured accuracy to a folder of its own, so runs in
  // parallel never mix; `npm run accuracy` reads the newest, older ones are pruned
  const accuracyDir = `.accuracy/run-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
  mkdirSync(accuracyDir, { recursive: true });
  const runs = readdirSync('.accuracy').filter((d) => d.startsWith('run-')).sort();
  for (const old of runs.slice(0, Math.max(0, runs.length - 5))) rmSync(`.accuracy/${old}`, { recursive: true, force: true });
  return { run, accuracyDir };
}

declare module 'vitest' {
  export interface ProvidedContext {
    backends: string[];
    accuracyDir: string;
  }
}
