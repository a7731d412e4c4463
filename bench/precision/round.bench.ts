/**
 * Throughput of whole-array rounding (elements per second), float32 →
 * float16 / bfloat16 on 4M-element Float32Arrays, plus the other paths
 * (float64 sources, a float8 format through the generic loop, bit-pattern
 * encoding) and a size sweep for float16.
 *
 * Inputs look like gradients with outliers: mostly N(0, 1e-3)-ish values
 * (many below float16's normal range), 1% large values past float16's max,
 * 1% in its subnormal range, and a few NaN/±Inf. Every case is validated
 * against the scalar `roundTo` on the same data before anything is timed, and
 * each timed run feeds a checksum so the work cannot be optimised away.
 *
 *   npx tsx bench/precision/round.bench.ts
 *
 * Writes bench/results/precision-round.json (benny's raw results) and
 * bench/results/precision-round-summary.json (elements/s per case).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import b from 'benny';
import { encodeArray, encode, roundArray, roundTo } from '../../src/precision/round.js';
import type { FormatName } from '../../src/precision/formats.js';

const M4 = 4 * 1024 * 1024;
const loadBefore = os.loadavg()[0];

/** Deterministic gradient-like data with outliers (xorshift32 + Box–Muller). */
function gradients(n: number, seed = 12345): Float32Array {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = next();
    if (u < 0.01) out[i] = (next() < 0.5 ? -1 : 1) * 65504 * (1 + 100 * next()); // overflows float16
    else if (u < 0.02) out[i] = (next() - 0.5) * 2 ** -14; // float16 subnormal range
    else if (u < 0.0201) out[i] = [NaN, Infinity, -Infinity][Math.floor(next() * 3)];
    else out[i] = 1e-3 * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

function validateRound(format: FormatName, src: Float32Array | Float64Array, out: Float32Array | Float64Array): void {
  for (let i = 0; i < src.length; i++) {
    const want = roundTo(format, src[i]);
    if (!(Object.is(out[i], want) || (want !== want && out[i] !== out[i]))) {
      throw new Error(`validation failed for ${format} at ${i}: roundArray gave ${out[i]}, roundTo ${want} (input ${src[i]})`);
    }
  }
}

const data = gradients(M4);
const data64 = Float64Array.from(data);
const out32 = new Float32Array(M4);
const out64 = new Float64Array(M4);
const bits16 = new Uint16Array(M4);

// validate every case on its own data before timing
roundArray('float16', data, out32);
validateRound('float16', data, out32);
roundArray('bfloat16', data, out32);
validateRound('bfloat16', data, out32);
roundArray('float16', data64, out64);
validateRound('float16', data64, out64);
roundArray('float8_e4m3fn', data, out32);
validateRound('float8_e4m3fn', data, out32);
encodeArray('float16', data, bits16);
for (let i = 0; i < M4; i += 97) if (bits16[i] !== encode('float16', data[i])) throw new Error(`encodeArray validation failed at ${i}`);
const sweep = [1 << 16, 1 << 20, 1 << 24].map((n) => (n <= M4 ? data.subarray(0, n) : gradients(n, 99)));
for (const s of sweep) {
  const o = roundArray('float16', s);
  validateRound('float16', s.subarray(0, 1 << 16), o.subarray(0, 1 << 16));
}
console.log('validated: every case matches roundTo on its data');

let sink = 0;
const cases: { name: string; n: number; run: () => void }[] = [
  { name: 'float16 ← Float32Array (4M)', n: M4, run: () => void (sink += roundArray('float16', data, out32)[sink & 1023]) },
  { name: 'bfloat16 ← Float32Array (4M)', n: M4, run: () => void (sink += roundArray('bfloat16', data, out32)[sink & 1023]) },
  { name: 'float16 ← Float64Array (4M)', n: M4, run: () => void (sink += roundArray('float16', data64, out64)[sink & 1023]) },
  { name: 'float8_e4m3fn ← Float32Array (4M, generic loop)', n: M4, run: () => void (sink += roundArray('float8_e4m3fn', data, out32)[sink & 1023]) },
  { name: 'encodeArray float16 → Uint16Array (4M)', n: M4, run: () => void (sink += encodeArray('float16', data, bits16)[sink & 1023]) },
  ...sweep.map((s) => {
    const o = new Float32Array(s.length);
    return { name: `float16 ← Float32Array (${s.length >= 1 << 20 ? `${s.length >> 20}M` : `${s.length >> 10}K`}, sweep)`, n: s.length, run: () => void (sink += roundArray('float16', s, o)[sink & 1023]) };
  }),
];

const summary = await b.suite(
  'precision: roundArray throughput',
  ...cases.map((c) => b.add(c.name, c.run)),
  b.configure({ cases: { minSamples: 10, maxTime: 2 } }),
  b.cycle(),
  b.complete(),
  b.save({ file: 'precision-round', folder: 'bench/results', format: 'json', details: false }),
);

const rows = summary.results.map((r) => {
  const c = cases.find((x) => x.name === r.name)!;
  return { name: r.name, elements: c.n, elementsPerSecond: r.ops * c.n, marginPercent: r.margin, samples: r.samples };
});
console.log(`\nelements / second (1-minute load average ${loadBefore.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after, on ${os.cpus().length} cores):`);
for (const r of rows) console.log(`  ${r.name.padEnd(52)} ${(r.elementsPerSecond / 1e6).toFixed(0).padStart(5)} M/s  ±${r.marginPercent.toFixed(1)}%`);
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/precision-round-summary.json',
  JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpu: `${os.cpus()[0]?.model?.trim()} × ${os.cpus().length}`,
      // other work on the machine slows every case; record how busy it was (1-minute load average before and after)
      loadAverage: { before: loadBefore, after: os.loadavg()[0] },
      checksum: sink,
      results: rows,
    },
    null,
    2,
  ) + '\n',
);
