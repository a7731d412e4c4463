/**
 * Exhaustive accuracy sweep of the wasm backend's vectorised float32 math
 * (asm/vmath.ts): every one of the 2^32 float32 bit patterns through exp, log,
 * tanh and erf, compared with float64 references (Math.exp, Math.log,
 * Math.tanh, erf64 of src/backends/wasm/math64.ts) rounded once to float32.
 * Writes docs/wasm-math-ulp.md.
 *
 *   npx tsx scripts/wasm/ulp-sweep.ts            # all patterns, one process per core (minutes)
 *   npx tsx scripts/wasm/ulp-sweep.ts --stride 4099   # a quick sample, no file written
 *
 * Measured per function:
 *   - worst ULP distance to the correctly rounded reference (integer; what the
 *     ErrorModel in src/backends/wasm/error-model.ts uses), and its argument;
 *   - worst error in ULPs against the unrounded float64 value (fractional:
 *     0.5 would be correct rounding);
 *   - how many results differ from the correctly rounded one at all;
 *   - NaN agreement (NaN exactly where the reference is NaN) and the sign of
 *     zero results.
 * tanh and erf are odd by construction (computed on |x|, sign copied): on the
 * negative half the sweep checks f(x) = −f(|x|) bit for bit instead of calling
 * the reference again. For erf, x ≥ 4 has erf(x) = 1 in float32 (erfc(4) =
 * 1.5·10^-8 < 2^-25, half an ULP below 1), so the reference is not evaluated
 * there.
 *
 * The work is split over child processes (one per core; tsx's loader does not
 * reach worker threads on Node 20) that each take every P-th chunk of 2^20
 * patterns and print their partial results as JSON.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { erf64 } from '../../src/backends/wasm/math64.js';
import { WasmRuntime } from '../../src/backends/wasm/runtime.js';

const FUNCS = ['exp', 'log', 'tanh', 'erf'] as const;
type Fn = (typeof FUNCS)[number];
const ODD: Record<Fn, boolean> = { exp: false, log: false, tanh: true, erf: true };
const REF: Record<Fn, (x: number) => number> = { exp: Math.exp, log: Math.log, tanh: Math.tanh, erf: erf64 };

const CHUNK = 1 << 20;
const CHUNKS = 2 ** 32 / CHUNK;

interface Partial {
  worstUlp: number;
  worstUlpX: number; // bit pattern of the argument
  worstFrac: number;
  worstFracX: number;
  inexact: number; // results that differ from the correctly rounded reference
  nanMismatch: number;
  zeroSignMismatch: number;
  oddMismatch: number;
  checked: number;
}

const empty = (): Partial => ({ worstUlp: 0, worstUlpX: 0, worstFrac: 0, worstFracX: 0, inexact: 0, nanMismatch: 0, zeroSignMismatch: 0, oddMismatch: 0, checked: 0 });

/** ULP of a float32 with the given bit pattern's exponent field (2^-149 for zero and subnormals). */
const ULP_OF_EXP = Array.from({ length: 256 }, (_, e) => (e === 0 ? 2 ** -149 : 2 ** (e - 150)));

async function runPart(part: number, parts: number, stride: number): Promise<Record<Fn, Partial>> {
  const rt = await WasmRuntime.create({ threads: 1 });
  const xin = rt.alloc(CHUNK);
  const xabs = rt.alloc(CHUNK);
  const uin = new Uint32Array(xin.buffer, xin.byteOffset, CHUNK);
  const uabs = new Uint32Array(xabs.buffer, xabs.byteOffset, CHUNK);
  const out = rt.alloc(CHUNK);
  const outAbs = rt.alloc(CHUNK);
  const iout = new Int32Array(out.buffer, out.byteOffset, CHUNK);
  const ioutAbs = new Int32Array(outAbs.buffer, outAbs.byteOffset, CHUNK);
  const scratch = new Float32Array(1);
  const sbits = new Int32Array(scratch.buffer);
  const res = Object.fromEntries(FUNCS.map((f) => [f, empty()])) as Record<Fn, Partial>;
  for (let c = part; c < CHUNKS; c += parts) {
    const base = c * CHUNK;
    const n = stride === 1 ? CHUNK : Math.floor(CHUNK / stride);
    for (let i = 0; i < n; i++) {
      const bits = (base + i * stride) >>> 0;
      uin[i] = bits;
      uabs[i] = bits & 0x7fffffff;
    }
    const negative = base >= 0x80000000 && stride === 1;
    const xs = xin.subarray(0, n);
    for (const f of FUNCS) {
      const r = res[f];
      rt[f](xs, { out: out.subarray(0, n) });
      if (ODD[f] && negative) {
        // f(x) = −f(|x|) bit for bit; for NaN arguments only NaN-ness counts
        // (the sign and payload of a NaN carry no meaning)
        rt[f](xabs.subarray(0, n), { out: outAbs.subarray(0, n) });
        for (let i = 0; i < n; i++) {
          if (xin[i] !== xin[i]) {
            if (out[i] === out[i]) r.nanMismatch++;
          } else if (iout[i] !== (ioutAbs[i] ^ 0x80000000)) r.oddMismatch++;
        }
        r.checked += n;
        continue;
      }
      const ref = REF[f];
      for (let i = 0; i < n; i++) {
        const x = xin[i];
        const y = out[i];
        let r64: number;
        if (f === 'erf' && Math.abs(x) >= 4) r64 = Math.sign(x);
        else r64 = ref(x);
        const rr = Math.fround(r64);
        if (rr !== rr || y !== y) {
          if ((rr !== rr) !== (y !== y)) r.nanMismatch++;
          continue;
        }
        scratch[0] = rr;
        const rb = sbits[0];
        const yb = iout[i];
        if (rb === yb) continue;
        r.inexact++;
        if (rr === 0 && y === 0) {
          r.zeroSignMismatch++;
          continue;
        }
        const ky = yb < 0 ? -(yb & 0x7fffffff) : yb;
        const kr = rb < 0 ? -(rb & 0x7fffffff) : rb;
        const d = Math.abs(ky - kr);
        if (d > r.worstUlp) {
          r.worstUlp = d;
          r.worstUlpX = uin[i];
        }
        if (Number.isFinite(rr) && Number.isFinite(y)) {
          const frac = Math.abs(y - r64) / ULP_OF_EXP[(rb >>> 23) & 0xff];
          if (frac > r.worstFrac) {
            r.worstFrac = frac;
            r.worstFracX = uin[i];
          }
        }
      }
      r.checked += n;
    }
  }
  await rt.destroy();
  return res;
}

function bitsToFloat(b: number): number {
  const u = new Uint32Array([b]);
  return new Float32Array(u.buffer)[0];
}

function hex(b: number): string {
  return '0x' + (b >>> 0).toString(16).padStart(8, '0');
}

function merge(parts: Record<Fn, Partial>[]): Record<Fn, Partial> {
  const out = Object.fromEntries(FUNCS.map((f) => [f, empty()])) as Record<Fn, Partial>;
  for (const p of parts) {
    for (const f of FUNCS) {
      const a = out[f];
      const b = p[f];
      if (b.worstUlp > a.worstUlp) {
        a.worstUlp = b.worstUlp;
        a.worstUlpX = b.worstUlpX;
      }
      if (b.worstFrac > a.worstFrac) {
        a.worstFrac = b.worstFrac;
        a.worstFracX = b.worstFracX;
      }
      a.inexact += b.inexact;
      a.nanMismatch += b.nanMismatch;
      a.zeroSignMismatch += b.zeroSignMismatch;
      a.oddMismatch += b.oddMismatch;
      a.checked += b.checked;
    }
  }
  return out;
}

function report(res: Record<Fn, Partial>, seconds: number, stride: number): string {
  const rows = FUNCS.map((f) => {
    const r = res[f];
    const x = bitsToFloat(r.worstUlpX);
    return `| ${f} | ${r.worstUlp} | ${x} (${hex(r.worstUlpX)}) | ${r.worstFrac.toFixed(3)} | ${((100 * r.inexact) / r.checked).toFixed(3)} % | ${r.nanMismatch} | ${r.zeroSignMismatch} | ${ODD[f] ? r.oddMismatch : '—'} |`;
  });
  return `# Accuracy of the wasm backend's float32 math (asm/vmath.ts)

Generated by \`npx tsx scripts/wasm/ulp-sweep.ts\`${stride === 1 ? '' : ` --stride ${stride}`} on ${os.cpus()[0]?.model?.trim()} × ${os.cpus().length}, Node ${process.version}, in ${seconds.toFixed(0)} s.
${stride === 1 ? 'Every one of the 2^32 float32 bit patterns' : `Every ${stride}th float32 bit pattern`} is evaluated by the wasm SIMD code and compared with a
float64 reference rounded once to float32 (Math.exp, Math.log, Math.tanh; erf64 from src/backends/wasm/math64.ts).

| function | worst ULP (vs. correctly rounded) | at x | worst ULP vs. float64 value | not correctly rounded | NaN mismatches | ±0 sign mismatches | f(−x) ≠ −f(x) |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}

- "worst ULP" is the distance in float32 steps between the result and the correctly rounded value;
  the ErrorModel of the backend (src/backends/wasm/error-model.ts) takes these integers as its bounds.
- "worst ULP vs. float64 value" is |result − exact|/ulp(exact): 0.5 would be correct rounding everywhere.
- NaN mismatches: a NaN where the reference is not, or the reverse (must be 0).
- tanh and erf are odd by construction; on negative inputs the sweep checks f(x) = −f(|x|) bit for bit (NaN inputs: NaN out).
- Algorithms, reductions and polynomial degrees: the comments of asm/vmath.ts; coefficients from
  scripts/wasm/remez.ts (Remez exchange in float64, float32 rounding compensated coefficient by coefficient).
`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const partAt = args.indexOf('--part');
  const strideAt = args.indexOf('--stride');
  const stride = strideAt >= 0 ? Number(args[strideAt + 1]) : 1;
  if (partAt >= 0) {
    const res = await runPart(Number(args[partAt + 1]), Number(args[partAt + 2]), stride);
    process.stdout.write(JSON.stringify(res));
    return;
  }
  const parts = os.availableParallelism();
  const t0 = performance.now();
  const script = fileURLToPath(import.meta.url);
  const results = await Promise.all(
    Array.from({ length: parts }, (_, i) =>
      new Promise<Record<Fn, Partial>>((resolve, reject) => {
        const child = spawn(process.execPath, [...process.execArgv, script, '--part', String(i), String(parts), '--stride', String(stride)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        child.stdout.on('data', (d) => (text += d));
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`part ${i} exited with ${code}`))));
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const merged = merge(results);
  const md = report(merged, seconds, stride);
  console.log(md);
  if (stride === 1) {
    const file = join(dirname(script), '..', '..', 'docs', 'wasm-math-ulp.md');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, md);
    console.log(`wrote ${file}`);
  }
}

await main();
