/**
 * benny's own output formats for the merged run: each case becomes one benny
 * summary whose entries are the subjects (timed in separate processes, so
 * benny never saw them together), written with benny's JSON layout and its
 * chart.js page (benny's prepareFileContent, the function behind b.save()).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { BenchRun, CaseRecord } from './results.js';

const require = createRequire(import.meta.url);

interface BennyResult {
  name: string;
  ops: number;
  margin: number;
  percentSlower: number;
  samples: number;
  details: { median: number; min: number; mean: number };
}
interface BennySummary {
  name: string;
  date: Date;
  results: BennyResult[];
  fastest: { name: string; index: number };
  slowest: { name: string; index: number };
}

type PrepareFileContent = (summary: BennySummary, options: { format: string; details: boolean; version: string | null }) => string;

export function entryName(r: CaseRecord): string {
  return r.variant === 'resident' ? `${r.subject} (resident)` : r.variant === 'io' ? `${r.subject} (upload + readback)` : r.subject;
}

/** Timed records grouped by case id, in first-seen order. */
export function byCase(run: BenchRun): Map<string, CaseRecord[]> {
  const m = new Map<string, CaseRecord[]>();
  for (const s of run.subjects) {
    for (const r of s.records) {
      if (!m.has(r.id)) m.set(r.id, []);
      m.get(r.id)!.push(r);
    }
  }
  return m;
}

export function writeBennyFiles(run: BenchRun, resultsDir: string): void {
  const prepare = (require('benny/lib/internal/prepareFileContent') as { default: PrepareFileContent }).default;
  const chartDir = path.join(resultsDir, 'charts', run.mode);
  rmSync(chartDir, { recursive: true, force: true });
  mkdirSync(chartDir, { recursive: true });
  const summaries: BennySummary[] = [];
  const links: string[] = [];
  for (const [id, recs] of byCase(run)) {
    const timed = recs.filter((r) => r.timing);
    if (!timed.length) continue;
    const results = timed.map((r) => ({
      name: entryName(r),
      ops: 1000 / r.timing!.medianMs,
      margin: r.timing!.rme,
      percentSlower: 0,
      samples: r.timing!.samples,
      details: { median: r.timing!.medianMs / 1000, min: r.timing!.minMs / 1000, mean: r.timing!.meanMs / 1000 },
    }));
    let fastest = 0;
    let slowest = 0;
    results.forEach((r, i) => {
      if (r.ops > results[fastest].ops) fastest = i;
      if (r.ops < results[slowest].ops) slowest = i;
    });
    for (const r of results) r.percentSlower = Number(((1 - r.ops / results[fastest].ops) * 100).toFixed(2));
    const summary: BennySummary = {
      name: `${id} — calls per second (median)`,
      date: new Date(run.date),
      results,
      fastest: { name: results[fastest].name, index: fastest },
      slowest: { name: results[slowest].name, index: slowest },
    };
    summaries.push(summary);
    const file = `${id}.chart.html`;
    writeFileSync(path.join(chartDir, file), prepare(summary, { format: 'chart.html', details: true, version: null }));
    links.push(`<li><a href="${file}">${id}</a></li>`);
  }
  writeFileSync(path.join(chartDir, 'index.html'), `<!DOCTYPE html><html><head><meta charset="utf-8"><title>stable-kernels benchmark (${run.mode}, ${run.date})</title></head><body><h1>stable-kernels benchmark (${run.mode})</h1><p>${run.date}, ${run.machine.cpu} × ${run.machine.cores}</p><ul>${links.join('')}</ul></body></html>\n`);
  const json = summaries.map((s) => JSON.parse(prepare(s, { format: 'json', details: true, version: null })) as unknown);
  writeFileSync(path.join(resultsDir, `kernels-${run.mode}.json`), JSON.stringify(json, null, 2) + '\n');
}
