/**
 * The benchmark: every kernel, forward and backward, on every backend that
 * runs here, side by side with tfjs and a plain TypeScript loop, each result
 * checked against the FP64 reference before it is timed.
 *
 *   npx tsx bench/run.ts            quick (npm run bench): under 5 minutes on 2 cores
 *   npx tsx bench/run.ts --full     every case on every subject (npm run bench:full)
 *   options: --only <regex over kernel groups>  --subjects a,b,c  --no-report
 *            --merge (with --subjects): rerun those subjects and merge them into the
 *            existing bench-<mode>.json, keeping its other subjects, ceilings,
 *            dispatcher and rounding figures (a note records what was rerun, when)
 *
 * One child process per subject (bench/worker.ts; headlessgl under xvfb-run
 * when there is no display), then the memory-copy ceilings, the dispatcher
 * costs, fp16/bf16 array rounding (bench/precision/round.bench.ts, in full
 * mode; quick mode reports the cast kernel and the last saved rounding
 * summary) and the tfjs-wasm threads probe. Writes
 *   bench/results/bench-<mode>.json       everything (scripts/bench/report.ts reads it)
 *   bench/results/kernels-<mode>.json     benny's result format, one suite per case
 *   bench/results/charts/<mode>/*.html    benny's chart page per case
 *   bench/RESULTS.md                      via scripts/bench/report.ts
 * and exits with status 1 if any of our backends failed validation or errored.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRun, CeilingResult, DispatchResult, SubjectResult } from './lib/results.js';
import { fromJson, toJson } from './lib/results.js';
import { SUBJECTS } from './lib/subjects.js';
import { writeBennyFiles } from './lib/benny-files.js';
import { underXvfb, xvfbNeeded } from '../src/cli/xvfb.js';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = path.join(ROOT, 'bench', 'results');
const RAW = path.join(RESULTS, 'raw');
const TSX = require.resolve('tsx/cli');

function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}
function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Runs a TypeScript entry point in a child process; resolves with its exit code and captured stdout. */
function runTs(script: string, args: string[], opts: { display?: boolean; timeoutS: number; capture?: boolean; label: string }): Promise<{ code: number; stdout: string }> {
  const [cmd, argv] = opts.display && xvfbNeeded() ? underXvfb(process.execPath, [TSX, script, ...args]) : [process.execPath, [TSX, script, ...args]];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', opts.capture ? 'pipe' : 'inherit', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => {
      const s = d.toString();
      stderr += s;
      // dawn's adapter warnings are noise; anything else goes through
      for (const line of s.split('\n')) if (line.trim() && !/^Warning:|^\s+at operator\(\)|artificially reduced|^\s*$/.test(line)) process.stderr.write(`[${opts.label}] ${line}\n`);
    });
    const timer = setTimeout(() => {
      process.stderr.write(`[${opts.label}] timed out after ${opts.timeoutS} s; killing it\n`);
      child.kill('SIGKILL');
    }, opts.timeoutS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout: stdout + (code !== 0 ? `\n${stderr.slice(-2000)}` : '') });
    });
  });
}

function readJson<T>(file: string): T | undefined {
  try {
    return fromJson<T>(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const mode = flag('full') ? 'full' : 'quick';
  const only = option('only');
  const subjects = option('subjects')?.split(',') ?? [...SUBJECTS];
  const prior = flag('merge') ? readJson<BenchRun>(path.join(RESULTS, `bench-${mode}.json`)) : undefined;
  if (flag('merge') && (!prior || !option('subjects'))) throw new Error(`--merge needs --subjects and an existing bench/results/bench-${mode}.json`);
  const t0 = performance.now();
  const loadStart = os.loadavg()[0];
  const notes: string[] = [];
  const failures: string[] = [];
  rmSync(RAW, { recursive: true, force: true });
  mkdirSync(RAW, { recursive: true });
  // inputs, FP64 references and bounds computed once per run, shared by the subjects' processes (bench/lib/cache.ts)
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'stable-kernels-bench-'));
  process.env.BENCH_CACHE_DIR = cacheDir;
  process.on('exit', () => rmSync(cacheDir, { recursive: true, force: true }));
  console.log(`stable-kernels benchmark (${mode}) on ${os.cpus()[0]?.model?.trim()} × ${os.cpus().length}, load ${loadStart.toFixed(2)}\n`);

  // 1. one process per subject
  const results: SubjectResult[] = [];
  for (const s of subjects) {
    const out = path.join(RAW, `${s}.json`);
    const args = ['--subject', s, '--mode', mode, '--out', out, ...(only ? ['--only', only] : [])];
    const r = await runTs('bench/worker.ts', args, { display: s === 'headlessgl', timeoutS: mode === 'quick' ? 300 : 5400, label: s });
    const res = readJson<SubjectResult>(out);
    if (res) results.push(res);
    else failures.push(`${s}: the worker wrote no result (exit ${r.code})`);
    if (r.code !== 0) {
      for (const rec of res?.records ?? []) {
        if (res?.subject.kind === 'ours' && (rec.status === 'validation-failed' || rec.status === 'error')) failures.push(`${rec.id} on ${s} (${rec.variant}): ${rec.status}`);
      }
      if (!res) failures.push(`${s}: exit status ${r.code}`);
    }
  }

  // 2. ceilings, dispatcher, rounding, tfjs-wasm threads (kept from the earlier run when merging)
  let ceilings: CeilingResult[] = prior?.ceilings ?? [];
  if (!prior) {
    const out = path.join(RAW, 'ceilings.json');
    const r = await runTs('bench/ceilings.bench.ts', ['--mode', mode, '--out', out], { timeoutS: 120, label: 'ceilings' });
    ceilings = readJson<CeilingResult[]>(out) ?? [];
    if (r.code !== 0 || !ceilings.length) notes.push('the memory-copy ceiling could not be measured');
  }
  let dispatch: BenchRun['dispatch'] = prior?.dispatch ?? { backend: 'none', results: [] };
  if (!prior) {
    const out = path.join(RAW, 'dispatch.json');
    const backend = results.find((r) => r.subject.id === 'webgpu' && r.subject.available) ? 'webgpu' : 'webasm';
    const r = await runTs('bench/dispatch.bench.ts', ['--backend', backend, '--mode', mode, '--out', out], { timeoutS: 300, label: 'dispatch' });
    dispatch = readJson<{ backend: string; results: DispatchResult[] }>(out) ?? { backend, results: [], error: `exit ${r.code}` };
  }
  let rounding: BenchRun['rounding'] = prior?.rounding;
  if (!prior) {
    const summary = path.join(RESULTS, 'precision-round-summary.json');
    const script = path.join('bench', 'precision', 'round.bench.ts');
    if (mode === 'full' && existsSync(path.join(ROOT, script))) {
      const r = await runTs(script, [], { timeoutS: 600, label: 'rounding' });
      if (r.code !== 0) notes.push(`bench/precision/round.bench.ts exited with ${r.code}`);
    }
    const s = readJson<{ date: string; results: { name: string; elementsPerSecond: number; marginPercent: number }[] }>(summary);
    rounding = s
      ? { source: `bench/results/precision-round-summary.json (bench/precision/round.bench.ts, ${mode === 'full' ? 'this run' : `saved ${s.date}`})`, results: s.results }
      : { source: script, results: [], error: 'no rounding summary: run npx tsx bench/precision/round.bench.ts' };
  }
  let tfjsWasmThreads: Record<string, unknown> | undefined = prior?.tfjsWasmThreads;
  if (!prior) {
    const r = await runTs('bench/peers/tfjs-wasm-threads.ts', [], { timeoutS: 120, capture: true, label: 'tfjs-wasm threads' });
    const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
    tfjsWasmThreads = line ? (JSON.parse(line) as Record<string, unknown>) : { error: `probe exited with ${r.code}` };
  }

  // 3. merge, write, report
  if (prior) {
    const rerun = new Set(results.map((r) => r.subject.id));
    const kept = prior.subjects.filter((r) => !rerun.has(r.subject.id));
    const order = (id: string) => SUBJECTS.indexOf(id);
    results.splice(0, results.length, ...[...kept, ...results].sort((a, b) => order(a.subject.id) - order(b.subject.id)));
    failures.unshift(...prior.failures.filter((f) => ![...rerun].some((id) => f.startsWith(`${id}:`) || f.includes(` on ${id} `) || f.includes(` on ${id}:`))));
    notes.unshift(...prior.notes, `subjects ${[...rerun].join(', ')} were rerun on ${new Date().toISOString()} (load ${loadStart.toFixed(2)}) and merged into the run of ${prior.date}`);
  }
  const webgpu = results.find((r) => r.subject.id === 'webgpu');
  const run: BenchRun = {
    mode,
    date: prior?.date ?? new Date().toISOString(),
    seconds: (prior?.seconds ?? 0) + (performance.now() - t0) / 1000,
    machine: prior?.machine ?? {
      cpu: os.cpus()[0]?.model?.trim() ?? 'unknown CPU',
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      os: `${os.type()} ${os.release()}`,
      adapter: webgpu?.subject.available ? webgpu.subject.detail : `no WebGPU adapter (${webgpu?.subject.detail ?? 'not run'})`,
      loadStart,
      loadEnd: os.loadavg()[0],
    },
    subjects: results,
    ceilings,
    dispatch,
    rounding,
    tfjsWasmThreads,
    notes,
    failures,
  };
  const file = path.join(RESULTS, `bench-${mode}.json`);
  writeFileSync(file, toJson(run));
  writeBennyFiles(run, RESULTS);
  console.log(`\nwrote ${path.relative(ROOT, file)} (${(statSync(file).size / 1024).toFixed(0)} KiB), ${readdirSync(path.join(RESULTS, 'charts', mode)).length} chart pages`);
  const { caseViews, writeReport } = await import('../scripts/bench/report.js');
  console.log('\nour best against the best peer (median per call; ratio > 1: we are slower):');
  for (const v of caseViews(run)) {
    const o = v.ours?.timing?.medianMs;
    const p = v.peer?.timing?.medianMs;
    const name = (r: typeof v.ours) => (r ? (r.variant === 'host' ? r.subject : `${r.subject} (${r.variant})`) : '—');
    console.log(
      `  ${`${v.kernel} ${v.phase} ${v.size}`.slice(0, 54).padEnd(54)} ours ${o !== undefined ? `${o.toFixed(2)} ms`.padStart(11) : '—'.padStart(11)} ${name(v.ours).padEnd(20)}` +
        ` peer ${p !== undefined ? `${p.toFixed(2)} ms`.padStart(11) : '—'.padStart(11)} ${name(v.peer).padEnd(24)} ${o !== undefined && p !== undefined ? `${(o / p).toFixed(2)}×${o / p > 3 ? ' ✗' : ''}` : ''}`,
    );
  }
  if (!flag('no-report')) {
    const md = writeReport(run, path.join(ROOT, 'bench', 'RESULTS.md'));
    console.log(`wrote bench/RESULTS.md (${md.split('\n').length} lines)`);
  }
  console.log(`\nbenchmark finished in ${run.seconds.toFixed(0)} s`);
  if (failures.length) {
    console.error(`\nFAILED (${failures.length}):\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
