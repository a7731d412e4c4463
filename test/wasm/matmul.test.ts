/**
 * WasmRuntime.matmul and matmulBackward against the float64 reference of
 * src/kernels/matmul.ts (matmulRef, matmulBackwardRef).
 *
 * Bound (derived in src/backends/wasm/error-model.ts, `wasmGemmDepth`): every
 * product a_ik·b_kj passes through at most depth = min(K, 256) + ⌈K/256⌉ − 1
 * (+1 with a bias) roundings, so
 *   |ĉ_ij − c_ij| ≤ γ(depth)·(Σ_k |a_ik·b_kj| + |bias_j|) + (K + 2)·2^-149,
 * the last term for products and sums that underflow into the subnormal range
 * (each loses at most half of 2^-149 absolutely). The float64 reference adds
 * its own γ_K(2^-53) relative error, which the 1.01 factor covers (it is 2^-29
 * of γ(depth) in float32). Backward: da and db are matmuls with inner sizes N
 * and M; dbias is a column sum in row order: γ(M − 1)·Σ_i |dout_ij|.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GEMM_KC, WASM_SIMD_MODEL, wasmColsumDepth, wasmGemmDepth } from '../../src/backends/wasm/error-model.js';
import type { Bound } from '../../src/kernels/bounds.js';
import { gamma } from '../../src/kernels/bounds.js';
import { matmulBackwardRef, matmulRef } from '../../src/kernels/matmul.js';
import { propertyParams } from '../../src/testing/arbitraries.js';
import { expectSameBits, expectUnchanged, expectWithin, matmulValues, runtime, snapshot } from './support.js';

const rt = await runtime();
const u = WASM_SIMD_MODEL.u;
const tiny = WASM_SIMD_MODEL.tiny;
const SECOND_ORDER = 1.01;

/** Allowed error of each of `count` dot products of length L, from Σ|x_k y_k| (+ |extra|). */
function dotBound(count: number, L: number, bias: boolean, term: (e: number, k: number) => number, extraAbs: (e: number) => number, note: string): Bound {
  const allowed = new Float64Array(count);
  const g = gamma(wasmGemmDepth(L, bias), u);
  for (let e = 0; e < count; e++) {
    let S = extraAbs(e);
    for (let k = 0; k < L; k++) S += Math.abs(term(e, k));
    allowed[e] = SECOND_ORDER * (g * S + (L + 2) * tiny);
  }
  return { allowed, note };
}

const bAt = (b: Float32Array, k: number, j: number, K: number, N: number, transB: boolean) => (transB ? b[j * K + k] : b[k * N + j]);

function forwardBound(a: Float32Array, b: Float32Array, M: number, K: number, N: number, transB: boolean, bias?: Float32Array): Bound {
  return dotBound(
    M * N,
    K,
    bias !== undefined,
    (e, k) => a[Math.floor(e / N) * K + k] * bAt(b, k, e % N, K, N, transB),
    (e) => (bias ? Math.abs(bias[e % N]) : 0),
    `γ(${wasmGemmDepth(K, bias !== undefined)})·(Σ|a b| + |bias|) + (K + 2)·2^-149`,
  );
}

interface Case {
  M: number;
  K: number;
  N: number;
  transB: boolean;
  bias: boolean;
  seed: number;
  scale: number;
}

/** Sizes around the tile edges (MR = 4, NR = 8, vector width 4) and the K block (256), up to ~2M multiply-adds. */
const dim = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 20 }) },
  { weight: 2, arbitrary: fc.constantFrom(1, 3, 4, 5, 7, 8, 9, 12, 13, 17, 31, 33, 255, 256, 257) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 300 }) },
);
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    M: dim,
    K: fc.oneof(dim, fc.constantFrom(0, 511, 513, 1023)),
    N: dim,
    transB: fc.boolean(),
    bias: fc.boolean(),
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    scale: fc.constantFrom(1, 1e-3, 100),
  })
  .filter((c) => c.M * c.N * Math.max(1, c.K) <= 2_000_000);

function inputs(c: Case) {
  const a = matmulValues(c.seed, c.M * c.K, c.scale);
  const b = matmulValues(c.seed + 1, c.K * c.N, c.scale);
  const bias = c.bias ? matmulValues(c.seed + 2, c.N, c.scale) : undefined;
  return { a, b, bias };
}

describe('wasm matmul: forward', () => {
  it('the compiled K block is the one the bound assumes', () => {
    expect(rt.gemmKC).toBe(GEMM_KC);
  });

  it('property: within γ(depth)·Σ|a b| of the float64 reference, any sizes, b plain or transposed, with or without bias; inputs untouched', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { a, b, bias } = inputs(c);
        const before = snapshot(a, b, bias);
        const out = rt.matmul(a, b, c.M, c.K, c.N, { bias, transB: c.transB });
        expectUnchanged('matmul', before, [a, b, bias]);
        const ref = matmulRef(Float64Array.from(a), Float64Array.from(b), c.M, c.K, c.N, c.transB, bias && Float64Array.from(bias));
        expectWithin(`matmul ${c.M}×${c.K}×${c.N}${c.transB ? ' transB' : ''}${c.bias ? ' +bias' : ''}`, out, ref, forwardBound(a, b, c.M, c.K, c.N, c.transB, bias), [c.M, c.N]);
      }),
      propertyParams(60),
    );
  });

  it('threaded splits (by rows and by columns) give the same bits as one thread', () => {
    // 120×300×250 = 18 MFLOP: split by rows; 5×700×3000 = 21 MFLOP: split by columns
    for (const [M, K, N] of [[120, 300, 250], [5, 700, 3000]]) {
      for (const transB of [false, true]) {
        const a = matmulValues(M, M * K);
        const b = matmulValues(N, K * N);
        const bias = matmulValues(K, N);
        const one = rt.matmul(a, b, M, K, N, { bias, transB, threads: 1 });
        const two = rt.matmul(a, b, M, K, N, { bias, transB, threads: 2 });
        expectSameBits(`matmul ${M}×${K}×${N} transB=${transB}`, two, one);
      }
    }
    expect(rt.workersStarted).toBe(true);
  });

  it('K = 0 gives the bias (or zeros); M = 0 or N = 0 gives an empty result', () => {
    const bias = new Float32Array([1, -2, 3]);
    expect(Array.from(rt.matmul(new Float32Array(0), new Float32Array(0), 2, 0, 3, { bias }))).toEqual([1, -2, 3, 1, -2, 3]);
    expect(Array.from(rt.matmul(new Float32Array(0), new Float32Array(0), 2, 0, 3))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(rt.matmul(new Float32Array(0), new Float32Array(12), 0, 4, 3).length).toBe(0);
    expect(rt.matmul(new Float32Array(8), new Float32Array(0), 2, 4, 0).length).toBe(0);
  });

  it('NaN and ±Inf propagate per IEEE (0·Inf = NaN, Inf − Inf = NaN), like the float64 reference', () => {
    const M = 7, K = 9, N = 10;
    const a = matmulValues(1, M * K);
    const b = matmulValues(2, K * N);
    a[0 * K + 3] = NaN; // row 0 of c: NaN
    a[2 * K + 4] = Infinity; // row 2: ±Inf, or NaN where b[4, j] = 0
    b[4 * N + 5] = 0;
    b[6 * N + 7] = -Infinity; // column 7: ±Inf; row 2 col 7 may meet Inf − Inf only if signs clash
    const bias = new Float32Array(N);
    bias[9] = NaN; // column 9: NaN
    const out = rt.matmul(a, b, M, K, N, { bias });
    const ref = matmulRef(Float64Array.from(a), Float64Array.from(b), M, K, N, false, Float64Array.from(bias));
    expectWithin('matmul with NaN/Inf', out, ref, forwardBound(a, b, M, K, N, false, bias), [M, N]);
    expect(out[0 * N + 0]).toBeNaN();
    expect(out[2 * N + 5]).toBeNaN();
    expect(out[5 * N + 9]).toBeNaN();
  });

  it('products beyond float32 range give ±Inf, as rounding the exact value does', () => {
    const a = new Float32Array([1e20, 1e20]);
    const b = new Float32Array([1e20, 1e20]);
    expect(rt.matmul(a, b, 1, 2, 1)[0]).toBe(Infinity);
    expect(rt.matmul(a, b.map((v) => -v), 1, 2, 1)[0]).toBe(-Infinity);
  });

  it('reads and writes heap views in place (no copies) with the same result', () => {
    const M = 33, K = 65, N = 17;
    const a = matmulValues(5, M * K);
    const b = matmulValues(6, K * N);
    const ra = rt.alloc(M * K);
    const rb = rt.alloc(K * N);
    const rc = rt.alloc(M * N);
    ra.set(a);
    rb.set(b);
    expect(rt.isResident(ra)).toBe(true);
    expect(rt.isResident(a)).toBe(false);
    const back = rt.matmul(ra, rb, M, K, N, { out: rc });
    expect(back).toBe(rc);
    expectSameBits('resident vs copied', rc, rt.matmul(a, b, M, K, N));
    const outside = new Float32Array(M * N);
    expect(rt.matmul(a, b, M, K, N, { out: outside })).toBe(outside);
    expectSameBits('out outside the heap', outside, rc);
    for (const v of [ra, rb, rc]) rt.free(v);
  });

  it('rejects wrong lengths, sizes and arrays with messages naming the argument and the shape', () => {
    expect(() => rt.matmul(new Float32Array(5), new Float32Array(6), 2, 3, 2)).toThrow(/'a' has length 5 but shape \[M, K\] = \[2, 3\] needs 6/);
    expect(() => rt.matmul(new Float32Array(6), new Float32Array(6), 2, 3, 2, { transB: true, bias: new Float32Array(3) })).toThrow(/'bias' has length 3 but shape \[N\] = \[2\]/);
    expect(() => rt.matmul(new Float32Array(6), new Float32Array(5), 2, 3, 2, { transB: true })).toThrow(/'b' has length 5 but shape \[N, K\] = \[2, 3\]/);
    expect(() => rt.matmul(new Float32Array(6), new Float32Array(6), 2, 3.5, 2)).toThrow(/K must be a non-negative integer/);
    expect(() => rt.matmul(new Float64Array(6) as unknown as Float32Array, new Float32Array(6), 2, 3, 2)).toThrow(/'a' must be a Float32Array/);
  });
});

describe('wasm matmul: backward', () => {
  it('property: da, db (in b\'s layout) and dbias within their bounds of matmulBackwardRef; inputs untouched', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { M, K, N, transB } = c;
        const { a, b } = inputs(c);
        const dout = matmulValues(c.seed + 3, M * N, 1);
        const before = snapshot(dout, a, b);
        const g = rt.matmulBackward(dout, a, b, M, K, N, { transB, bias: true });
        expectUnchanged('matmulBackward', before, [dout, a, b]);
        const ref = matmulBackwardRef(Float64Array.from(dout), Float64Array.from(a), Float64Array.from(b), M, K, N, transB);
        const daBound = dotBound(M * K, N, false, (e, j) => dout[Math.floor(e / K) * N + j] * bAt(b, e % K, j, K, N, transB), () => 0, 'da: γ(depth(N))·Σ_j|dout b|');
        // db in b's layout: element e is (k, j) = (⌊e/N⌋, e mod N), or (j, k) = (⌊e/K⌋, e mod K) with transB
        const kj = (e: number) => (transB ? [e % K, Math.floor(e / K)] : [Math.floor(e / N), e % N]);
        const dbBound = dotBound(K * N, M, false, (e, i) => { const [k, j] = kj(e); return a[i * K + k] * dout[i * N + j]; }, () => 0, 'db: γ(depth(M))·Σ_i|a dout|');
        const dbiasAllowed = new Float64Array(N);
        for (let j = 0; j < N; j++) {
          let S = 0;
          for (let i = 0; i < M; i++) S += Math.abs(dout[i * N + j]);
          dbiasAllowed[j] = SECOND_ORDER * (gamma(wasmColsumDepth(M), u) * S + M * tiny);
        }
        const shape = `${M}×${K}×${N}${transB ? ' transB' : ''}`;
        expectWithin(`da ${shape}`, g.da, ref.da, daBound, [M, K]);
        expectWithin(`db ${shape}`, g.db, ref.db, dbBound, transB ? [N, K] : [K, N]);
        expectWithin(`dbias ${shape}`, g.dbias!, ref.dbias, { allowed: dbiasAllowed, note: 'γ(M − 1)·Σ_i|dout_ij|' }, [N]);
      }),
      propertyParams(40),
    );
  });

  it('empty sizes follow src/kernels/matmul.ts: K = 0 → empty da, db and dbias = Σ_i dout; M = 0 → zero db, dbias; N = 0 → zero da', () => {
    const dout = new Float32Array([1, 2, 3, 4, 5, 6]); // (M, N) = (2, 3)
    const k0 = rt.matmulBackward(dout, new Float32Array(0), new Float32Array(0), 2, 0, 3, { bias: true });
    expect([k0.da.length, k0.db.length]).toEqual([0, 0]);
    expect(Array.from(k0.dbias!)).toEqual([5, 7, 9]);
    const m0 = rt.matmulBackward(new Float32Array(0), new Float32Array(0), new Float32Array(4 * 3), 0, 4, 3, { bias: true });
    expect(m0.da.length).toBe(0);
    expect(Array.from(m0.db)).toEqual(new Array(12).fill(0));
    expect(Array.from(m0.dbias!)).toEqual([0, 0, 0]);
    const n0 = rt.matmulBackward(new Float32Array(0), new Float32Array(2 * 4).fill(1), new Float32Array(0), 2, 4, 0, { bias: true, transB: true });
    expect(Array.from(n0.da)).toEqual(new Array(8).fill(0));
    expect([n0.db.length, n0.dbias!.length]).toEqual([0, 0]);
  });

  it('threaded and single-threaded backward agree bit for bit; dbias only when asked', () => {
    const M = 96, K = 200, N = 300;
    const a = matmulValues(7, M * K);
    const b = matmulValues(8, K * N);
    const dout = matmulValues(9, M * N);
    for (const transB of [false, true]) {
      const one = rt.matmulBackward(dout, a, b, M, K, N, { transB, bias: true, threads: 1 });
      const two = rt.matmulBackward(dout, a, b, M, K, N, { transB, bias: true, threads: 2 });
      expectSameBits('da', two.da, one.da);
      expectSameBits('db', two.db, one.db);
      expectSameBits('dbias', two.dbias!, one.dbias!);
    }
    expect(rt.matmulBackward(dout, a, b, M, K, N).dbias).toBeUndefined();
  });
});
