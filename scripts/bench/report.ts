/**
 * Writes bench/RESULTS.md from a benchmark run (bench/results/bench-<mode>.json).
 *
 *   npx tsx scripts/bench/report.ts [--mode quick|full] [--in file.json] [--out bench/RESULTS.md]
 *
 * bench/run.ts calls writeReport() at the end of every run. Without --mode
 * the newer of bench-full.json and bench-quick.json is used.
 *
 * Conventions in the tables:
 *   - "ours" is the best of the library's backends on the case, by median
 *     time, among its primary figures (webgpu resident; the host backends as
 *     they run); "peer" the best of tfjs-cpu, tfjs-wasm (1 and 2 threads),
 *     tfjs-webgpu (resident) and the TypeScript loop.
 *   - ratio = our median / the peer's median: above 1 we are slower; ✗ marks
 *     more than 3× (bench/NOTES.md takes each of those up).
 *   - the ceiling time is the case's bytes at the best measured memory copy
 *     (GB/s kernels) or its FLOPs at the best matmul rate of the run
 *     (GFLOP/s kernels); "× ceiling" = our median / that time.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRun, CaseRecord, SubjectResult } from '../../bench/lib/results.js';
import { fromJson } from '../../bench/lib/results.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The issue's goals: tfjs-wasm (2 threads) measured on this machine kind. */
const ISSUE_GOALS: { id: string; ms: number; label: string }[] = [
  { id: 'softmax.forward.1024x4096', ms: 7, label: 'softmax (1024×4096)' },
  { id: 'layerNorm.forward.4096x768', ms: 12, label: 'LayerNorm (4096×768)' },
  { id: 'gelu.forward.erf.4M', ms: 82, label: 'GELU 4M' },
  { id: 'matmul.forward.512x512x512', ms: 5.2, label: 'matmul 512³' },
  { id: 'attention.forward.4x12x256x64', ms: 350, label: 'causal attention' },
];

const PRIMARY = new Set(['resident', 'host']);

function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

function fmtSpread(r: CaseRecord): string {
  const t = r.timing!;
  return `${fmtMs(t.medianMs)} (${fmtMs(t.p10Ms)}–${fmtMs(t.p90Ms)})`;
}

function fmtThroughput(r: CaseRecord): string {
  if (r.throughput === undefined) return '—';
  if (r.metric === 'tokens/s') return `${r.throughput.toFixed(0)} tok/s`;
  return `${r.throughput.toPrecision(3)} ${r.metric}`;
}

function fmtRatio(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  const s = x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(2);
  return `${s}×${x > 3 ? ' ✗' : ''}`;
}

function label(r: CaseRecord): string {
  return r.variant === 'resident' ? `${r.subject} (resident)` : r.variant === 'io' ? `${r.subject} (upload + readback)` : r.subject;
}

/** A peer's label, flagged when its output was outside our float32 bound. */
function peerLabel(r: CaseRecord): string {
  const bad = r.checks?.filter((c) => !c.ok) ?? [];
  if (!bad.length) return label(r);
  const worst = Math.max(...bad.map((c) => c.maxRatio));
  return `${label(r)} (outside our bound${Number.isFinite(worst) ? `, ${worst.toPrecision(2)}×` : ': non-finite mismatch'})`;
}

function kindOf(run: BenchRun, subject: string): 'ours' | 'peer' {
  return run.subjects.find((s) => s.subject.id === subject)?.subject.kind ?? 'peer';
}

interface CaseView {
  id: string;
  kernel: string;
  phase: string;
  size: string;
  metric: string;
  work: number;
  records: CaseRecord[];
  ours?: CaseRecord;
  peer?: CaseRecord;
  ceilingMs?: number;
}

function best(recs: CaseRecord[]): CaseRecord | undefined {
  let b: CaseRecord | undefined;
  for (const r of recs) if (r.timing && PRIMARY.has(r.variant) && (!b || r.timing.medianMs < b.timing!.medianMs)) b = r;
  return b;
}

export function caseViews(run: BenchRun): CaseView[] {
  const bandwidth = Math.max(0, ...run.ceilings.map((c) => c.gbps));
  const flops = bestMatmul(run)?.throughput ?? 0;
  const views = new Map<string, CaseView>();
  for (const s of run.subjects)
    for (const r of s.records) {
      let v = views.get(r.id);
      if (!v) {
        v = { id: r.id, kernel: r.kernel, phase: r.phase, size: r.size, metric: r.metric, work: r.work, records: [] };
        views.set(r.id, v);
      }
      v.records.push(r);
    }
  for (const v of views.values()) {
    v.ours = best(v.records.filter((r) => kindOf(run, r.subject) === 'ours'));
    v.peer = best(v.records.filter((r) => kindOf(run, r.subject) === 'peer'));
    if (v.metric === 'GB/s' && bandwidth > 0) v.ceilingMs = (v.work / (bandwidth * 1e9)) * 1000;
    if (v.metric === 'GFLOP/s' && flops > 0) v.ceilingMs = (v.work / (flops * 1e9)) * 1000;
  }
  return [...views.values()];
}

/** The fastest matmul of the run (any subject), by GFLOP/s: the compute ceiling. */
export function bestMatmul(run: BenchRun): CaseRecord | undefined {
  let b: CaseRecord | undefined;
  for (const s of run.subjects)
    for (const r of s.records) if (r.kernel === 'matmul' && r.throughput !== undefined && PRIMARY.has(r.variant) && (!b || r.throughput > b.throughput!)) b = r;
  return b;
}

function cpuShare(s: SubjectResult): string {
  const xs = s.records.filter((r) => r.timing).map((r) => r.timing!.cpuPerWall).sort((a, b) => a - b);
  return xs.length ? xs[Math.floor(xs.length / 2)].toFixed(2) : '—';
}

function worstCheck(r: CaseRecord): string {
  if (!r.checks?.length) return '—';
  const worst = Math.max(...r.checks.map((c) => c.maxRatio));
  const ok = r.checks.every((c) => c.ok);
  return `${ok ? '✓' : '✗'} ${worst === 0 ? 'exact' : `${worst.toPrecision(2)} of bound`}`;
}

export function renderReport(run: BenchRun): string {
  const L: string[] = [];
  const views = caseViews(run);
  const m = run.machine;
  const bw = [...run.ceilings].sort((a, b) => b.gbps - a.gbps)[0];
  const mm = bestMatmul(run);
  const cmd = run.mode === 'full' ? 'npm run bench:full' : 'npm run bench';
  // notes that bench/run.ts --merge leaves: 'subjects a, b were rerun on <date> (load x) and merged into the run of <date>'
  const merged = run.notes.filter((n) => /were rerun on .* merged into the run of/.test(n)).map((n) => n.replace(/ and merged into the run of .*/, ''));
  L.push('# Benchmark results');
  L.push('');
  L.push(`Generated by \`scripts/bench/report.ts\` from \`bench/results/bench-${run.mode}.json\` (\`${cmd}\`, ${run.date}, ${run.seconds.toFixed(0)} s). ${merged.length ? `Every figure below was measured in that run, except those of the subjects rerun later and merged into it (${merged.join('; ')}): they sit beside peers measured earlier on the same machine` : 'Every figure below was measured in that one run'}; every result of ours was checked against the FP64 reference within its kernel's error bound before it was timed. Method, FLOP and byte counts: bench/NOTES.md and the case files under bench/kernels/. Charts (benny): \`bench/results/charts/${run.mode}/index.html\`.`);
  L.push('');
  L.push('## Machine');
  L.push('');
  L.push(`- CPU: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}`);
  L.push(`- WebGPU adapter: ${m.adapter}`);
  L.push(`- Load average (1 min) at start ${m.loadStart.toFixed(2)}, at end ${m.loadEnd.toFixed(2)}${Math.max(m.loadStart, m.loadEnd) > m.cores ? ` — **the machine was shared with other work during this run** (load above its ${m.cores} cores), so every figure is slower than on an idle machine; the cpu/wall column shows how much CPU each measurement got` : ''}.`);
  L.push(`- Subjects: ${run.subjects.map((s) => `${s.subject.id}${s.subject.available ? '' : ' (unavailable)'}`).join(', ')}.`);
  L.push('');
  L.push('| subject | what | available | median cpu/wall |');
  L.push('| --- | --- | --- | --- |');
  for (const s of run.subjects) L.push(`| ${s.subject.id} | ${s.subject.available ? s.subject.detail : '—'} | ${s.subject.available ? 'yes' : `no: ${s.subject.detail}`} | ${cpuShare(s)} |`);
  L.push('');
  L.push('## Method');
  L.push('');
  L.push('- Inputs carry outliers (bench/lib/inputs.ts): ±(10…100) logits, rows with ±1e30, masked (−Inf) entries, a fully masked row and a NaN row for softmax, subnormals, ±Inf and NaN for the elementwise kernels, LayerNorm rows offset by 300 and a constant row. The same seed gives the same arrays in every process.');
  L.push("- Before timing, each subject's outputs are compared with the kernel's FP64 reference (`*Ref`) element by element within the kernel's own bound (`*Bound` with `errorModelFor(backend)`) through `compareWithAllowed`. A failure of ours is printed, recorded, not timed, and makes the run exit 1. matmul and attention check a fixed sample (24 rows/columns, 4 of 48 heads) against the full reduction. Peers are checked the same way under our loosest float32 model, for information only.");
  L.push('- webgpu "resident": inputs uploaded once with `device.upload`, outputs left on the device; every timed call ends with `await device.queue.onSubmittedWorkDone()`, which resolves only after all submitted GPU work has completed (tfjs-webgpu: its open compute pass is ended and its encoder submitted first). "upload + readback": host arrays in, every output read back with `read()` inside the call. On dawn\'s OpenGL backend over llvmpipe, submission already executes the work (the queue wait adds ≈0–5 ms), on a real GPU the wait is what makes the figure honest.');
  L.push('- Host backends and peers compute synchronously (or await their worker threads) inside the call; results are consumed by reading an element of each output.');
  L.push('- Throughput: GB/s counts each input read once and each output written once (float32); GFLOP/s counts 2·M·K·N per matmul (attention: its dense products, causal or not, as the issue does); the cast rows also give values/s.');
  L.push('');
  L.push('## Ceilings (measured in this run)');
  L.push('');
  L.push('| ceiling | value | how |');
  L.push('| --- | --- | --- |');
  for (const c of run.ceilings) L.push(`| memory: ${c.name} | ${c.gbps.toFixed(1)} GB/s | ${c.detail}; bytes read + written |`);
  if (mm) L.push(`| compute: best matmul | ${mm.throughput!.toFixed(1)} GFLOP/s | ${label(mm)} on ${mm.id} |`);
  L.push('');
  L.push(`Memory-bound cases are held against ${bw ? `${bw.gbps.toFixed(1)} GB/s (${bw.name})` : 'no measured bandwidth'}; compute-bound ones against ${mm ? `${mm.throughput!.toFixed(1)} GFLOP/s` : 'no measured matmul'}. (For scale: a STREAM copy in C reaches ≈25 GB/s on one core of this machine kind and the float32 FMA peak is ≈229 GFLOP/s on two; JavaScript and WebAssembly reach less.)`);
  L.push('');

  L.push('## Per case: our best backend against the best peer and the ceiling');
  L.push('');
  L.push('A peer marked "outside our bound" returned values farther from the FP64 reference than our float32 bound for the kernel allows (×: the worst error as a multiple of it); it is still counted as the best peer.');
  L.push('');
  L.push('| kernel | phase | size | ours (best backend) | median (p10–p90) | throughput | best peer | peer median | ours / peer | ceiling | ours / ceiling |');
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const v of views) {
    const o = v.ours;
    const p = v.peer;
    const ratio = o && p ? o.timing!.medianMs / p.timing!.medianMs : undefined;
    const ceil = o && v.ceilingMs ? o.timing!.medianMs / v.ceilingMs : undefined;
    const why = !o ? (v.records.find((r) => kindOf(run, r.subject) === 'ours' && r.status !== 'ok')?.message?.split('\n')[0] ?? 'not run') : '';
    L.push(
      `| ${v.kernel} | ${v.phase} | ${v.size} | ${o ? label(o) : `— (${why})`} | ${o ? fmtSpread(o) : '—'} | ${o ? fmtThroughput(o) : '—'} | ${p ? peerLabel(p) : '—'} | ${p ? fmtSpread(p) : '—'} | ${fmtRatio(ratio)} | ${v.ceilingMs ? fmtMs(v.ceilingMs) : '—'} | ${fmtRatio(ceil).replace(' ✗', '')} |`,
    );
  }
  L.push('');

  // per kernel roll-up
  L.push('## Per kernel');
  L.push('');
  L.push('| kernel | cases | our best backends | ours / best peer (per case) | ours / ceiling (per case) |');
  L.push('| --- | --- | --- | --- | --- |');
  const kernels = [...new Set(views.map((v) => v.kernel))];
  for (const k of kernels) {
    const vs = views.filter((v) => v.kernel === k);
    const backends = [...new Set(vs.filter((v) => v.ours).map((v) => label(v.ours!)))];
    const ratios = vs.map((v) => (v.ours && v.peer ? `${v.phase} ${shortSize(v)} ${fmtRatio(v.ours.timing!.medianMs / v.peer.timing!.medianMs)}` : `${v.phase} ${shortSize(v)} —`));
    const ceils = vs.map((v) => (v.ours && v.ceilingMs ? `${v.phase} ${shortSize(v)} ${fmtRatio(v.ours.timing!.medianMs / v.ceilingMs).replace(' ✗', '')}` : `${v.phase} ${shortSize(v)} —`));
    L.push(`| ${k} | ${vs.length} | ${backends.join(', ') || '—'} | ${ratios.join('; ')} | ${ceils.join('; ')} |`);
  }
  L.push('');

  // issue goals
  L.push("## The issue's goals (tfjs-wasm, 2 threads, as the issue measured it) against this run");
  L.push('');
  L.push('| case | issue: tfjs-wasm 2 threads | this run: tfjs-wasm-2t | this run: best peer | this run: ours (best) |');
  L.push('| --- | --- | --- | --- | --- |');
  for (const g of ISSUE_GOALS) {
    const v = views.find((x) => x.id === g.id);
    const t2 = v?.records.find((r) => r.subject === 'tfjs-wasm-2t' && r.timing);
    L.push(`| ${g.label} | ${fmtMs(g.ms)} | ${t2 ? fmtMs(t2.timing!.medianMs) : '—'} | ${v?.peer ? `${fmtMs(v.peer.timing!.medianMs)} (${label(v.peer)})` : '—'} | ${v?.ours ? `${fmtMs(v.ours.timing!.medianMs)} (${label(v.ours)})` : '—'} |`);
  }
  const probe = run.tfjsWasmThreads as { conclusion?: string; matmul512Ms?: number; cpuPerWall?: number; flagInNode?: boolean } | undefined;
  L.push('');
  L.push(
    `tfjs-wasm and threads in Node: \`setThreadsCount(2)\` is accepted but tfjs-wasm 4.22 never loads its threaded build in Node (WASM_HAS_MULTITHREAD_SUPPORT is hard-wired to false when IS_NODE, tfjs issue #3830), so tfjs-wasm-2t is the single-threaded backend again (its getThreadsCount() is in the subjects table).` +
      (probe?.conclusion ? ` Forcing the threaded build (bench/peers/tfjs-wasm-threads.ts): ${probe.conclusion}${probe.matmul512Ms ? `; 512³ matMul ${fmtMs(probe.matmul512Ms)} at cpu/wall ${probe.cpuPerWall?.toFixed(2)}` : ''}.` : ''),
  );
  L.push('');

  // the wasm backend's own acceptance (issue 8)
  L.push(...wasmAcceptance(run, views));

  // full tables
  L.push('## Every subject, per case');
  L.push('');
  L.push('Median per call with the 10th–90th percentile of the benchmark.js samples; n samples; throughput at the median; ratio to the best peer; the check against the FP64 reference (largest error as a fraction of the kernel\'s bound; for peers, under our loosest float32 bound, informational); CPU time / wall time while it ran.');
  for (const v of views) {
    L.push('');
    L.push(`### ${v.kernel} ${v.phase}, ${v.size}`);
    L.push('');
    L.push(`${v.records[0]?.workNote ?? ''}: ${fmtWork(v)} per call.`);
    L.push('');
    L.push('| subject | median (p10–p90) | n | throughput | / best peer | check | cpu/wall |');
    L.push('| --- | --- | --- | --- | --- | --- | --- |');
    const sorted = [...v.records].sort((a, b) => (a.timing?.medianMs ?? Infinity) - (b.timing?.medianMs ?? Infinity));
    for (const r of sorted) {
      if (!r.timing) {
        L.push(`| ${label(r)} | ${r.status}: ${(r.message ?? '').split('\n')[0].replace(/\|/g, '/').slice(0, 140)} | | | | ${worstCheck(r)} | |`);
        continue;
      }
      const ratio = v.peer ? r.timing.medianMs / v.peer.timing!.medianMs : undefined;
      L.push(`| ${kindOf(run, r.subject) === 'ours' ? `**${label(r)}**` : label(r)} | ${fmtSpread(r)} | ${r.timing.samples} | ${fmtThroughput(r)} | ${fmtRatio(ratio)} | ${worstCheck(r)} | ${r.timing.cpuPerWall.toFixed(2)} |`);
    }
  }
  L.push('');

  // dispatcher
  L.push('## The dispatcher and tracing');
  L.push('');
  if (run.dispatch.results.length) {
    L.push(`Measured by bench/dispatch.bench.ts on ${run.dispatch.backend}.`);
    L.push('');
    L.push('| what | per call (median) | p10–p90 | note |');
    L.push('| --- | --- | --- | --- |');
    for (const d of run.dispatch.results) {
      const f = (us: number) => (us >= 1000 ? fmtMs(us / 1000) : `${us.toFixed(2)} µs`);
      L.push(`| ${d.name} | ${f(d.us)} | ${f(d.p10)}–${f(d.p90)} | ${d.detail} |`);
    }
  } else L.push(`Not measured: ${run.dispatch.error ?? 'unknown error'}.`);
  L.push('');

  // rounding
  L.push('## fp16 / bf16 array rounding');
  L.push('');
  const castRows = views.filter((v) => v.kernel.startsWith('cast'));
  for (const v of castRows) {
    const recs = v.records.filter((r) => r.timing).sort((a, b) => a.timing!.medianMs - b.timing!.medianMs);
    L.push(`- ${v.kernel} on the device (the dispatched cast kernel, 4M values): ${recs.map((r) => `${label(r)} ${fmtMs(r.timing!.medianMs)} (${((v.work / 8 / (r.timing!.medianMs / 1000)) / 1e6).toFixed(0)} M values/s)`).join('; ') || '—'}`);
  }
  if (run.rounding?.results.length) {
    L.push(`- Host \`roundArray\` (${run.rounding.source}):`);
    L.push('');
    L.push('| case | values / s | ± |');
    L.push('| --- | --- | --- |');
    for (const r of run.rounding.results) L.push(`| ${r.name} | ${(r.elementsPerSecond / 1e6).toFixed(0)} M | ${r.marginPercent.toFixed(1)}% |`);
  } else L.push(`- Host roundArray: ${run.rounding?.error ?? 'not measured'}`);
  L.push('');

  // not run
  const missing = new Map<string, string>();
  for (const s of run.subjects)
    for (const r of s.records)
      if (s.subject.kind === 'ours' && r.status === 'missing' && r.message) missing.set(`${r.kernel}`, r.message);
  const unavailable = run.subjects.filter((s) => !s.subject.available);
  if (missing.size || unavailable.length || run.notes.length) {
    L.push('## Not measured, and why');
    L.push('');
    for (const [k, msg] of missing) L.push(`- ${k}: ${msg}`);
    for (const s of unavailable) L.push(`- subject ${s.subject.id}: ${s.subject.detail}`);
    for (const n of run.notes) L.push(`- ${n}`);
    if (run.mode === 'quick') L.push('- Quick mode runs every case on our fastest CPU backend and tfjs-wasm, the headline cases (softmax, cross-entropy, LayerNorm, GELU, the GPT step) on every subject, and the rest on a subset (bench/lib/plan.ts); `npm run bench:full` runs every case on every subject.');
    L.push('');
  }
  if (run.failures.length) {
    L.push('## FAILURES');
    L.push('');
    for (const f of run.failures) L.push(`- ${f}`);
    L.push('');
  }
  return L.join('\n');
}

/** The size part of a case id ('1024x4096', 'erf.4M', '4x12x256x64'). */
/** The CPU peers issue 8 names: tfjs-wasm as it runs in Node, tfjs-cpu and the TypeScript loop. */
const CPU_PEERS = new Set(['tfjs-wasm-1t', 'tfjs-wasm-2t', 'tfjs-cpu', 'ts-loop']);
const WASM_FAMILY = new Set(['wasm', 'wasm-2t']);
const GPUJS = new Set(['webgpu', 'headlessgl', 'webasm', 'webasm-2t', 'cpu']);

/**
 * The wasm backend's goals, each measured in this run: every case at least as
 * fast as the best CPU peer; matmul 1024×768×3072 ≥ 50 GFLOP/s on 2 threads;
 * softmax (1024, 4096) ≥ 10 GB/s; causal attention ≥ 10× tfjs-wasm; the GPT
 * step ≥ 3× the tokens/s of the best gpu.js backend.
 */
export function wasmAcceptance(run: BenchRun, views: CaseView[]): string[] {
  const L: string[] = [];
  const wasmBest = (v: CaseView | undefined) => best(v?.records.filter((r) => WASM_FAMILY.has(r.subject)) ?? []);
  const cpuPeer = (v: CaseView | undefined) => best(v?.records.filter((r) => CPU_PEERS.has(r.subject)) ?? []);
  const byId = (id: string) => views.find((v) => v.id === id);
  const mark = (ok: boolean | undefined) => (ok === undefined ? '— not measured' : ok ? '✓' : '✗');
  L.push('## The wasm backend against its goals');
  L.push('');
  L.push('Best of `wasm` (1 thread) and `wasm-2t` (2 threads) on each case, against the CPU peers the goal names (tfjs-wasm as it runs in Node, tfjs-cpu, the TypeScript loop; tfjs-webgpu on the software adapter is left out here, it is in the tables above).');
  L.push('');
  L.push('| goal | measured | met |');
  L.push('| --- | --- | --- |');
  const mm = byId('matmul.forward.1024x768x3072')?.records.find((r) => r.subject === 'wasm-2t' && r.timing);
  L.push(`| matmul (1024×768)·(768×3072) ≥ 50 GFLOP/s, 2 threads | ${mm ? `${mm.throughput!.toPrecision(3)} GFLOP/s` : '—'} | ${mark(mm ? mm.throughput! >= 50 : undefined)} |`);
  const sm = wasmBest(byId('softmax.forward.1024x4096'));
  L.push(`| softmax (1024, 4096) ≥ 10 GB/s | ${sm ? `${sm.throughput!.toPrecision(3)} GB/s (${sm.subject})` : '—'} | ${mark(sm ? sm.throughput! >= 10 : undefined)} |`);
  const at = byId('attention.forward.4x12x256x64');
  const aw = wasmBest(at);
  const atf = at?.records.find((r) => r.subject === 'tfjs-wasm-1t' && r.timing);
  const aRatio = aw && atf ? atf.timing!.medianMs / aw.timing!.medianMs : undefined;
  L.push(`| causal attention B=4, NH=12, T=256, hs=64 ≥ 10× tfjs-wasm | ${aRatio !== undefined ? `${aRatio.toFixed(1)}× (${fmtMs(aw!.timing!.medianMs)} vs ${fmtMs(atf!.timing!.medianMs)})` : '—'} | ${mark(aRatio !== undefined ? aRatio >= 10 : undefined)} |`);
  const gpt = views.find((v) => v.kernel === 'GPT training step');
  const gw = wasmBest(gpt);
  const gg = best(gpt?.records.filter((r) => GPUJS.has(r.subject)) ?? []);
  const gRatio = gw && gg ? gg.timing!.medianMs / gw.timing!.medianMs : undefined;
  L.push(`| GPT training step ≥ 3× the tokens/s of the best gpu.js backend | ${gRatio !== undefined ? `${gRatio.toFixed(1)}× (${gw!.throughput!.toFixed(0)} tok/s ${gw!.subject} vs ${gg!.throughput!.toFixed(0)} tok/s ${label(gg!)})` : '—'} | ${mark(gRatio !== undefined ? gRatio >= 3 : undefined)} |`);
  const cases = views.filter((v) => v.kernel !== 'GPT training step' && wasmBest(v) && cpuPeer(v));
  const behind = cases.filter((v) => wasmBest(v)!.timing!.medianMs > cpuPeer(v)!.timing!.medianMs);
  L.push(`| every case at least as fast as the best CPU peer | ${cases.length - behind.length} of ${cases.length} cases | ${mark(behind.length === 0)} |`);
  L.push('');
  if (behind.length) {
    L.push('Cases where the wasm backend is slower than the best CPU peer:');
    L.push('');
    L.push('| case | wasm (best) | CPU peer | ratio |');
    L.push('| --- | --- | --- | --- |');
    for (const v of behind) {
      const w = wasmBest(v)!;
      const p = cpuPeer(v)!;
      L.push(`| ${v.kernel} ${v.phase} ${v.size} | ${fmtMs(w.timing!.medianMs)} (${w.subject}) | ${fmtMs(p.timing!.medianMs)} (${peerLabel(p)}) | ${(w.timing!.medianMs / p.timing!.medianMs).toFixed(2)}× |`);
    }
    L.push('');
  }
  return L;
}

function shortSize(v: CaseView): string {
  return v.id.split('.').slice(2).join('.');
}

function fmtWork(v: CaseView): string {
  if (v.metric === 'GB/s') return `${(v.work / 1e6).toFixed(1)} MB`;
  if (v.metric === 'GFLOP/s') return `${(v.work / 1e9).toFixed(3)} GFLOP`;
  if (v.metric === 'tokens/s') return `${v.work} tokens`;
  return `${v.work}`;
}

export function writeReport(run: BenchRun, file: string): string {
  const md = renderReport(run);
  writeFileSync(file, md + '\n');
  return md;
}

function main(): void {
  const get = (n: string) => {
    const i = process.argv.indexOf(`--${n}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const out = get('out') ?? path.join(ROOT, 'bench', 'RESULTS.md');
  let input = get('in');
  if (!input) {
    const mode = get('mode');
    const candidates = (mode ? [mode] : ['full', 'quick']).map((m) => path.join(ROOT, 'bench', 'results', `bench-${m}.json`)).filter((f) => existsSync(f));
    candidates.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    input = candidates[0];
  }
  if (!input) throw new Error('scripts/bench/report.ts: no bench/results/bench-*.json; run `npm run bench` first');
  const run = fromJson<BenchRun>(readFileSync(input, 'utf8'));
  writeReport(run, out);
  console.log(`wrote ${path.relative(ROOT, out)} from ${path.relative(ROOT, input)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]).endsWith(path.join('scripts', 'bench', 'report.ts'))) main();
