/**
 * `stable-kernels check`: runs the kernel property suite on every backend that
 * works on this machine (a real GPU included), for a bounded time, and prints
 * the worst error each kernel reached on each backend as a fraction of its
 * documented bound. Exits 1 if any bound is broken.
 *
 * Each backend runs in its own child process (`check --backend X --json`):
 * dawn's EGL and headless-gl's GLX cannot share a process, and a crash on one
 * backend must not hide the others' results.
 *
 * The `reference` device is not checked: it is the FP64 oracle the checks
 * compare against, and the suite's float32 contracts (sums beyond float32 max
 * are ±Inf) do not apply to it. headlessgl needs an X display; without one,
 * and with `xvfb-run` installed, its child runs under `xvfb-run -a`.
 *
 * `--import <module>` loads a module first (e.g. one that calls
 * `registerKernel` with your own implementation), so the suite checks your
 * kernels too.
 */
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { createDevice, probeBackends, type BackendName } from '../device.js';
import { underXvfb, xvfbNeeded } from './xvfb.js';
import { allChecks } from '../testing/suites/index.js';
import { AccuracyRecorder, makeContext, type AccuracyEntry } from '../testing/suite.js';

export interface CheckArgs {
  backend?: BackendName | 'all';
  kernels?: string[];
  runs?: number;
  seconds: number;
  seed: number;
  import?: string[];
  json: boolean;
}

export interface CheckOutcome {
  backend: string;
  adapter: string;
  results: { check: string; kernel: string; status: 'pass' | 'fail' | 'not run'; ms: number; error?: string; worstRatio?: number }[];
  accuracy: AccuracyEntry[];
}

async function importUserModules(mods: string[] | undefined): Promise<void> {
  for (const m of mods ?? []) await import(m.startsWith('.') || m.startsWith('/') ? pathToFileURL(resolve(m)).href : m);
}

/** Runs the suite on one backend in this process. */
export async function checkBackend(backend: BackendName, a: CheckArgs): Promise<CheckOutcome> {
  await importUserModules(a.import);
  const device = await createDevice({ backend });
  const recorder = new AccuracyRecorder();
  const results: CheckOutcome['results'] = [];
  const deadline = performance.now() + a.seconds * 1000;
  try {
    for (const [group, checks] of Object.entries(allChecks)) {
      if (a.kernels && !a.kernels.includes(group)) continue;
      for (const c of checks) {
        if (performance.now() > deadline) {
          results.push({ check: c.id, kernel: group, status: 'not run', ms: 0 });
          continue;
        }
        const t0 = performance.now();
        const mine = new AccuracyRecorder();
        const worst = () => mine.toJSON().reduce((m, e) => Math.max(m, e.maxRatio), 0);
        try {
          await c.run(makeContext(device, { seed: a.seed, numRuns: a.runs ?? c.defaultRuns, recorder: mine, shrink: false }));
          results.push({ check: c.id, kernel: group, status: 'pass', ms: performance.now() - t0, worstRatio: worst() });
        } catch (e) {
          results.push({ check: c.id, kernel: group, status: 'fail', ms: performance.now() - t0, error: (e as Error).message, worstRatio: worst() });
        }
        for (const e of mine.toJSON()) recorder.record(e);
      }
    }
    return { backend, adapter: device.info.adapter + (device.info.software ? ' (software)' : ''), results, accuracy: recorder.toJSON() };
  } finally {
    await device.destroy();
  }
}

function table(outcomes: CheckOutcome[]): string {
  const lines: string[] = [];
  const kernels = [...new Set(outcomes.flatMap((o) => o.results.map((r) => r.kernel)))];
  const backends = outcomes.map((o) => o.backend);
  const header = ['kernel', ...backends];
  const rows: string[][] = [];
  for (const k of kernels) {
    const cells = outcomes.map((o) => {
      const rs = o.results.filter((r) => r.kernel === k);
      const failed = rs.filter((r) => r.status === 'fail').length;
      const notRun = rs.filter((r) => r.status === 'not run').length;
      const ratios = rs.filter((r) => r.worstRatio !== undefined).map((r) => r.worstRatio!);
      const worst = ratios.reduce((m, x) => Math.max(m, x), 0);
      const used = ratios.length ? `worst error ${(worst * 100).toFixed(worst < 0.01 ? 2 : 0)}% of bound` : 'no data';
      if (failed) return `FAIL ${failed}/${rs.length}`;
      if (notRun === rs.length) return 'not run';
      return `ok ${used}${notRun ? ` (${notRun} not run)` : ''}`;
    });
    rows.push([k, ...cells]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  lines.push(header.map((h, i) => h.padEnd(widths[i])).join('  '));
  lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) lines.push(r.map((c, i) => c.padEnd(widths[i])).join('  '));
  return lines.join('\n');
}

/** The command: one child process per backend, then one table. Returns the exit code. */
export async function runCheck(a: CheckArgs, log: (s: string) => void = console.log): Promise<number> {
  if (a.json && a.backend && a.backend !== 'all') {
    const outcome = await checkBackend(a.backend, a);
    process.stdout.write(JSON.stringify(outcome) + '\n');
    return outcome.results.some((r) => r.status === 'fail') ? 1 : 0;
  }
  if (a.backend === 'reference') {
    log('reference: not checked — it is the FP64 oracle the checks compare against; choose a float32 backend (webgpu, headlessgl, webasm, cpu, wasm)');
    return 2;
  }
  const probes = await probeBackends();
  const targets = probes.filter((p) => p.backend !== 'reference' && (a.backend && a.backend !== 'all' ? p.backend === a.backend : true));
  const outcomes: CheckOutcome[] = [];
  for (const p of targets) {
    const xvfb = p.backend === 'headlessgl' && !p.available && xvfbNeeded();
    if (!p.available && !xvfb) {
      log(`${p.backend}: skipped — ${p.detail}`);
      continue;
    }
    log(xvfb ? `${p.backend}: no X display; running the suite under xvfb-run -a (up to ${a.seconds} s)…` : `${p.backend}: running the suite on ${p.detail} (up to ${a.seconds} s)…`);
    const args = [process.argv[1], 'check', '--backend', p.backend, '--json', '--seconds', String(a.seconds), '--seed', String(a.seed)];
    if (a.runs !== undefined) args.push('--runs', String(a.runs));
    for (const k of a.kernels ?? []) args.push('--kernel', k);
    for (const m of a.import ?? []) args.push('--import', m);
    const nodeArgs = [...process.execArgv, ...args];
    const [cmd, argv] = xvfb ? underXvfb(process.execPath, nodeArgs) : [process.execPath, nodeArgs];
    const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 28, timeout: (a.seconds + 300) * 1000 });
    const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
    if (!line) {
      log(`${p.backend}: the check process failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
      outcomes.push({ backend: p.backend, adapter: p.detail, results: [{ check: 'start', kernel: '(process)', status: 'fail', ms: 0, error: r.stderr.slice(-2000) }], accuracy: [] });
      continue;
    }
    outcomes.push(JSON.parse(line) as CheckOutcome);
  }
  log('');
  log(table(outcomes));
  const failures = outcomes.flatMap((o) => o.results.filter((r) => r.status === 'fail').map((r) => ({ ...r, backend: o.backend })));
  for (const f of failures) log(`\nFAIL ${f.backend} · ${f.check}\n${f.error ?? ''}`);
  log(failures.length ? `\n${failures.length} check(s) broke their bound.` : '\nEvery kernel stayed within its documented bound on every backend that runs here.');
  return failures.length ? 1 : 0;
}
