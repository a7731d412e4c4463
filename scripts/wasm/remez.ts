/**
 * Derives the polynomial coefficients of the wasm backend's vectorised float32
 * math (asm/vmath.ts) by the Remez exchange algorithm, in float64.
 *
 *   npx tsx scripts/wasm/remez.ts          # prints every fit and its error
 *
 * Each fit minimises the weighted maximum error
 *     max_{x ∈ [a, b]} |w(x)·(G(x) − Σ_i c_i·x^{p_i})|
 * where G is the part of the function the polynomial must supply and w turns
 * the error of G into the relative (or absolute) error of the function. For
 * exp, for example, exp(r) = 1 + r + r²·q(r), so G(r) = (e^r − 1 − r)/r² and
 * w(r) = r²/e^r: the fit's error is the relative error of exp(r) itself.
 *
 * Algorithm (Remez's second algorithm): start from the n + 1 Chebyshev
 * extrema of [a, b]; solve the linear system Σ c_i φ_i(x_j) + (−1)^j E/w(x_j)
 * = G(x_j) for the n coefficients and the levelled error E; move the
 * reference to the n + 1 alternating extrema of the new error curve (found on
 * a dense grid of 40,000 points); repeat until max|e| and |E| agree to 0.1 %.
 * Coefficients are then rounded to float32 one at a time from the lowest
 * power, re-fitting the remaining ones after each rounding, so the rounding of
 * one coefficient is compensated by the others. The error printed is that of
 * the rounded float32 coefficients evaluated in float64: the approximation
 * error alone. asm/vmath.ts adds the float32 evaluation error to it; the
 * total is what scripts/wasm/ulp-sweep.ts measures.
 */
import { pathToFileURL } from 'node:url';
import { erf64, erfc64 } from '../../src/backends/wasm/math64.js';

export interface FitSpec {
  name: string;
  /** Prefix of the constants' names in asm/vmath.ts (E0, E1, … for exp). */
  label: string;
  /** What the polynomial approximates. */
  G: (x: number) => number;
  /** Error weight: relative error of the full function is w·(G − p). */
  w: (x: number) => number;
  /** Powers of x in the polynomial, e.g. [0, 2, 4] for an even polynomial. */
  powers: number[];
  a: number;
  b: number;
}

export interface Fit {
  coeffs: number[];
  /** Levelled error before rounding the coefficients to float32. */
  levelled: number;
  /** Max weighted error with the float32-rounded coefficients. */
  rounded: number;
}

const GRID = 40_000;

function solve(A: number[][], y: number[]): number[] {
  const n = y.length;
  const M = A.map((row, i) => [...row, y[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let k = r + 1; k < n; k++) s -= M[r][k] * x[k];
    x[r] = s / M[r][r];
  }
  return x;
}

const evalPoly = (c: number[], powers: number[], x: number) => c.reduce((s, ci, i) => s + ci * x ** powers[i], 0);

/** Weighted error on a dense grid (Chebyshev-spaced, so the ends are well sampled). */
function errorCurve(spec: FitSpec, fixed: number[], free: number[]): { xs: number[]; es: number[] } {
  const c = [...fixed, ...free];
  const xs: number[] = [];
  const es: number[] = [];
  for (let i = 0; i <= GRID; i++) {
    const x = (spec.a + spec.b) / 2 - ((spec.b - spec.a) / 2) * Math.cos((Math.PI * i) / GRID);
    if (x === 0) continue; // G has a removable singularity at 0 in several fits
    xs.push(x);
    es.push(spec.w(x) * (spec.G(x) - evalPoly(c, spec.powers, x)));
  }
  return { xs, es };
}

/** Remez on the coefficients after the first `fixed.length` ones (which are held). */
function remez(spec: FitSpec, fixed: number[]): { free: number[]; E: number } {
  const powers = spec.powers.slice(fixed.length);
  const n = powers.length;
  // Chebyshev nodes of the first kind: interior points, so none sits where a
  // weight vanishes (w(0) = 0 for the odd fits), which would force E = 0
  let ref = Array.from({ length: n + 1 }, (_, j) => (spec.a + spec.b) / 2 - ((spec.b - spec.a) / 2) * Math.cos((Math.PI * (j + 0.5)) / (n + 1)));
  const rest = (x: number) => spec.G(x) - fixed.reduce((s, ci, i) => s + ci * x ** spec.powers[i], 0);
  let free: number[] = [];
  let E = 0;
  for (let iter = 0; iter < 60; iter++) {
    const A = ref.map((x, j) => [...powers.map((p) => x ** p), (j % 2 === 0 ? 1 : -1) / spec.w(x)]);
    const sol = solve(A, ref.map(rest));
    free = sol.slice(0, n);
    E = Math.abs(sol[n]);
    const { xs, es } = errorCurve(spec, fixed, free);
    // local extrema of the error, then one per sign run (the largest), then trim to n + 1
    const ext: number[] = [];
    for (let i = 0; i < xs.length; i++) {
      const l = i > 0 ? Math.abs(es[i - 1]) : -1;
      const r = i < xs.length - 1 ? Math.abs(es[i + 1]) : -1;
      if (Math.abs(es[i]) >= l && Math.abs(es[i]) >= r) ext.push(i);
    }
    const runs: number[] = [];
    for (const i of ext) {
      const last = runs[runs.length - 1];
      if (last !== undefined && Math.sign(es[last]) === Math.sign(es[i])) {
        if (Math.abs(es[i]) > Math.abs(es[last])) runs[runs.length - 1] = i;
      } else runs.push(i);
    }
    while (runs.length > n + 1) {
      if (Math.abs(es[runs[0]]) < Math.abs(es[runs[runs.length - 1]])) runs.shift();
      else runs.pop();
    }
    const maxErr = Math.max(...es.map(Math.abs));
    if (runs.length === n + 1) ref = runs.map((i) => xs[i]);

    if (maxErr <= E * 1.001) break;
  }
  return { free, E };
}

/** Fits, then rounds the coefficients to float32 one by one, re-fitting the rest. */
export function fit(spec: FitSpec): Fit {
  const { E } = remez(spec, []);
  const fixed: number[] = [];
  while (fixed.length < spec.powers.length) {
    const { free } = remez(spec, fixed);
    fixed.push(Math.fround(free[0]));
  }
  const { es } = errorCurve(spec, fixed, []);
  return { coeffs: fixed, levelled: E, rounded: Math.max(...es.map(Math.abs)) };
}

/** Series for small arguments where the closed forms of G cancel. */
const expG = (r: number) => (Math.abs(r) < 1e-3 ? 0.5 + r / 6 + (r * r) / 24 + (r * r * r) / 120 : (Math.expm1(r) - r) / (r * r));
/** R(s) = 2·atanh(s)/s − 2 = Σ_{k≥1} 2s^{2k}/(2k + 1). */
const logR = (s: number) => (Math.abs(s) < 1e-3 ? (2 / 3) * s * s + (2 / 5) * s ** 4 : (2 * Math.atanh(s)) / s - 2);
const tanhG = (x: number) => (x < 1e-3 ? -1 / 3 + (2 / 15) * x * x - (17 / 315) * x ** 4 : (Math.tanh(x) - x) / (x * x * x));

/** Interval ends shared with asm/vmath.ts (the thresholds it switches formulas at). */
export const LN2 = Math.LN2;
export const TANH_POLY_MAX = 0.625;
export const ERF_POLY_MAX = 1;
export const ERF_ONE = 3.9375;

export const FITS: FitSpec[] = [
  {
    // exp(r) = 1 + r + r²·q(r), |r| ≤ ln2/2 after r = x − n·ln2; relative error of exp(r)
    label: 'E',
    name: 'exp: q(r), exp(r) = 1 + r + r²·q(r)',
    G: expG,
    w: (r) => (r * r) / Math.exp(r),
    powers: [0, 1, 2, 3, 4],
    a: -LN2 / 2,
    b: LN2 / 2,
  },
  {
    // log(1 + f) = f − (f²/2 − s·(f²/2 + R(s²))) with s = f/(2 + f) ∈ [−0.1716, 0.1716]
    // (f = m − 1, m ∈ [√½, √2)); R = 2·atanh(s)/s − 2 is even in s. The error of R
    // enters log(1 + f) ≈ 2s multiplied by s: weight s/log(1 + f).
    label: 'L',
    name: 'log: R(s²), log(1+f) = f − (f²/2 − s·(f²/2 + R)), s = f/(2+f)',
    G: logR,
    w: (s) => s / Math.log1p((2 * s) / (1 - s)),
    powers: [2, 4, 6],
    a: 0,
    b: (Math.SQRT2 - 1) / (Math.SQRT2 + 1),
  },
  {
    // tanh(x) = x + x³·q(x²) for |x| ≤ 0.625; relative error of tanh
    label: 'T',
    name: 'tanh: q(x²), tanh(x) = x + x³·q(x²)',
    G: tanhG,
    w: (x) => (x * x * x) / Math.tanh(x),
    powers: [0, 2, 4, 6, 8],
    a: 0,
    b: TANH_POLY_MAX,
  },
  {
    // erf(x) = x + x·q(x²) for |x| ≤ 1; relative error of erf. Writing the
    // leading 2/√π as 1 + q(0) keeps its float32 rounding error 8× smaller
    // (q(0) = 0.128… has a finer ULP than 1.128…), which decides the error near 0.
    label: 'P',
    name: 'erf (small): q(x²), erf(x) = x + x·q(x²)',
    G: (x) => (x < 1e-6 ? 2 / Math.sqrt(Math.PI) - 1 : erf64(x) / x - 1),
    w: (x) => x / erf64(x),
    powers: [0, 2, 4, 6, 8, 10, 12],
    a: 0,
    b: ERF_POLY_MAX,
  },
  {
    // erf(x) = 1 − exp(−x²)·h(x) for 1 ≤ x ≤ 3.9375 (erf rounds to 1 above);
    // weight: the absolute error of erfc relative to erf(x) ≥ 0.84
    label: 'H',
    name: 'erf (large): h(x), erf(x) = 1 − exp(−x²)·h(x)',
    G: (x) => erfc64(x) * Math.exp(x * x),
    w: (x) => Math.exp(-x * x) / erf64(x),
    powers: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    a: ERF_POLY_MAX,
    b: ERF_ONE,
  },
];

function hexf32(v: number): string {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, v);
  return '0x' + b.getUint32(0).toString(16).padStart(8, '0');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const spec of FITS) {
    const f = fit(spec);
    console.log(`${spec.name} on [${spec.a}, ${spec.b}]`);
    console.log(`  levelled error ${f.levelled.toExponential(3)} (2^${Math.log2(f.levelled).toFixed(1)}), with float32 coefficients ${f.rounded.toExponential(3)} (2^${Math.log2(f.rounded).toFixed(1)})`);
    f.coeffs.forEach((c, i) => console.log(`  const ${spec.label}${spec.label === 'L' ? i + 1 : i}: f32 = ${c.toPrecision(9)}; // ${hexf32(c)}, power ${spec.powers[i]}`));
  }
}
