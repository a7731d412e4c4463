/**
 * Runs every planned case for one subject in this process and writes a
 * SubjectResult as JSON (bench/run.ts starts one of these per subject).
 *
 *   npx tsx bench/worker.ts --subject webgpu --mode quick --out bench/results/raw/webgpu.json [--only softmax]
 *
 * Per case and variant: build the runner, run it once and check every output
 * against the FP64 reference within the kernel's bound for the subject's
 * error model (ours: a failure is printed, recorded, the case is not timed
 * and the process exits with status 1; peers: the check is recorded and the
 * case is timed anyway), one warm-up call, then benny. Exit status 1 also for
 * an unexpected error in one of ours; an ArgumentError or an unavailable
 * backend (e.g. headlessgl refusing tensors beyond 2^24 elements) is recorded
 * as 'unsupported'.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ArgumentError, BackendUnavailableError } from '../src/errors.js';
import { GROUPS, type Scale } from './cases.js';
import type { BenchCase, Runner } from './lib/case.js';
import { sink } from './lib/case.js';
import { type TimingOptions, timeOnce, timeSuite } from './lib/harness.js';
import { type Mode, runsVariant, skipReason, timingOptions, warmUp } from './lib/plan.js';
import { type CaseRecord, type SubjectResult, type Variant, throughput, toJson } from './lib/results.js';
import { openSubject } from './lib/subjects.js';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  if (fallback !== undefined) return fallback;
  throw new Error(`bench/worker.ts: --${name} is required`);
}

const VARIANT_LABEL: Record<Variant, string> = { resident: 'resident', io: 'upload + readback', host: '' };

export interface RunOptions {
  only?: RegExp;
  log?: (s: string) => void;
  /** 'tiny' runs the same cases at toy sizes (the smoke test). */
  scale?: Scale;
  /** Overrides the planner's sample counts (the smoke test times each case with a couple of samples). */
  timing?: TimingOptions;
}

export async function runSubject(subjectId: string, mode: Mode, options: RunOptions = {}): Promise<{ result: SubjectResult; failed: string[] }> {
  const { only, scale = 'bench' } = options;
  const log = options.log ?? console.log;
  const started = new Date();
  const loadStart = os.loadavg()[0];
  const t0 = performance.now();
  const subject = await openSubject(subjectId);
  const records: CaseRecord[] = [];
  const failed: string[] = [];
  const ours = subject.info.kind === 'ours';
  log(`[${subjectId}] ${subject.info.available ? subject.info.detail : `unavailable: ${subject.info.detail}`}`);
  for (const group of GROUPS) {
    if (only && !only.test(group.name)) continue;
    let cases: BenchCase[];
    try {
      cases = await group.make(subject.finish, scale);
    } catch (e) {
      // a group whose module cannot be loaded costs its own cases only
      const msg = `${(e as Error).name}: ${(e as Error).message}`;
      log(`  ${group.name.padEnd(36)} ${subjectId.padEnd(34)} error: ${msg.split('\n')[0]}`);
      if (ours) failed.push(`${group.name} on ${subjectId}: ${msg.split('\n')[0]}`);
      records.push({ id: `${group.name}.*`, kernel: group.name, phase: 'forward', size: '—', metric: 'GB/s', work: 0, workNote: '', subject: subjectId, variant: 'host', status: 'error', message: msg });
      continue;
    }
    for (const c of cases) {
      const base = { id: c.id, kernel: c.kernel, phase: c.phase, size: c.size, metric: c.metric, work: c.work, workNote: c.workNote, subject: subjectId };
      if (skipReason(c, subjectId, mode)) continue;
      if (!subject.info.available) {
        records.push({ ...base, variant: 'host', status: 'missing', message: subject.info.detail });
        continue;
      }
      const tCase = performance.now();
      let variants: Partial<Record<Variant, Runner>>;
      try {
        const r = await subject.runners(c);
        variants = r.variants;
        if (r.missing) {
          records.push({ ...base, variant: 'host', status: 'missing', message: r.missing });
          if (ours) log(`  ${c.id.padEnd(36)} ${subjectId.padEnd(34)} not measured: ${r.missing}`);
          continue;
        }
      } catch (e) {
        records.push(errorRecord(base, 'host', e, ours, failed, log));
        continue;
      }
      const entries: { name: string; variant: Variant; fn: () => Promise<void> }[] = [];
      const byVariant = new Map<Variant, CaseRecord>();
      let slowest = 0;
      for (const [variant, runner] of Object.entries(variants) as [Variant, Runner][]) {
        if (!runsVariant(c, variant, mode)) continue;
        const rec: CaseRecord = { ...base, variant, status: 'ok' };
        byVariant.set(variant, rec);
        records.push(rec);
        try {
          const t1 = performance.now();
          const out = await runner.once();
          const onceMs = performance.now() - t1;
          rec.checks = c.check(out, subject.model);
          const bad = rec.checks.filter((k) => !k.ok);
          if (bad.length && ours) {
            rec.status = 'validation-failed';
            rec.message = bad.map((k) => k.message).join('\n');
            failed.push(`${c.id} on ${subjectId}${variant === 'host' ? '' : ` (${variant})`}: outside the kernel's bound`);
            log(`\n!!!! VALIDATION FAILED: ${c.id} on ${subjectId} (${variant}) — not timed\n${rec.message}\n`);
            continue;
          }
          slowest = Math.max(slowest, warmUp(mode) ? await timeOnce(() => runner.timed()) : onceMs);
          entries.push({ name: variant === 'host' ? subjectId : `${subjectId} (${VARIANT_LABEL[variant]})`, variant, fn: () => runner.timed() });
        } catch (e) {
          Object.assign(rec, errorRecord(base, variant, e, ours, failed, log));
        }
      }
      const overheadMs = performance.now() - tCase;
      for (const rec of byVariant.values()) rec.overheadMs = overheadMs;
      if (entries.length) {
        const opts = options.timing ?? timingOptions(slowest, mode);
        try {
          const { timings } = await timeSuite(`${c.id} @ ${subjectId}`, entries, opts);
          for (const e of entries) {
            const rec = byVariant.get(e.variant)!;
            rec.timing = timings[e.name];
            if (rec.timing && c.work > 0) rec.throughput = throughput(c.metric, c.work, rec.timing.medianMs);
            const t = rec.timing;
            const checkNote = rec.checks?.some((k) => !k.ok) ? '  [outside our float32 bound]' : '';
            log(
              `  ${c.id.padEnd(36)} ${e.name.padEnd(34)} ${t.medianMs.toFixed(2).padStart(10)} ms  (${t.p10Ms.toFixed(2)}–${t.p90Ms.toFixed(2)}, n=${t.samples})` +
                `${rec.throughput !== undefined ? `  ${fmtThroughput(rec.throughput, c.metric)}` : ''}  cpu/wall ${t.cpuPerWall.toFixed(2)}${checkNote}`,
            );
          }
        } catch (e) {
          for (const ent of entries) Object.assign(byVariant.get(ent.variant)!, errorRecord(base, ent.variant, e, ours, failed, log));
        }
      }
      for (const r of Object.values(variants)) await r?.dispose?.();
    }
  }
  await subject.close();
  const result: SubjectResult = {
    subject: subject.info,
    mode,
    started: started.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    load: { start: loadStart, end: os.loadavg()[0] },
    records,
  };
  return { result, failed };
}

function fmtThroughput(x: number, metric: string): string {
  return metric === 'tokens/s' ? `${x.toFixed(0)} tokens/s` : `${x.toPrecision(3)} ${metric}`;
}

function errorRecord(
  base: Omit<CaseRecord, 'variant' | 'status'>,
  variant: Variant,
  e: unknown,
  ours: boolean,
  failed: string[],
  log: (s: string) => void,
): CaseRecord {
  const err = e as Error;
  const unsupported = e instanceof ArgumentError || e instanceof BackendUnavailableError;
  const msg = `${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`;
  if (!unsupported && ours) {
    failed.push(`${base.id} on ${base.subject} (${variant}): ${msg.split('\n')[0]}`);
    log(`\n!!!! ERROR: ${base.id} on ${base.subject} (${variant})\n${err?.stack ?? msg}\n`);
  } else {
    log(`  ${base.id.padEnd(36)} ${base.subject.padEnd(34)} ${unsupported ? 'unsupported' : 'error'}: ${msg.split('\n')[0].slice(0, 160)}`);
  }
  return { ...base, variant, status: unsupported ? 'unsupported' : 'error', message: msg };
}

async function main(): Promise<void> {
  const subject = arg('subject');
  const mode = arg('mode', 'quick') as Mode;
  const out = arg('out', path.join('bench', 'results', 'raw', `${subject}.json`));
  const onlyArg = arg('only', '');
  const { result, failed } = await runSubject(subject, mode, { only: onlyArg ? new RegExp(onlyArg) : undefined });
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, toJson(result));
  if (sink.value < 0) console.log('(sink)');
  if (failed.length) {
    console.error(`\n${subject}: ${failed.length} failure(s):\n  ${failed.join('\n  ')}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]).endsWith(path.join('bench', 'worker.ts'))) {
  main()
    .catch((e) => {
      console.error(e);
      process.exitCode = 1;
    })
    .finally(() => {
      // gpu.js worker pools and dawn keep handles open; the result is written
      setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref();
    });
}
