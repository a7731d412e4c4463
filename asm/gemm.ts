/**
 * General matrix multiply C = op(A)·op(B) (+ bias) in float32, row-major:
 *   op(A) is (M, K): A itself (M, K) with row stride lda, or Aᵀ of A stored (K, M);
 *   op(B) is (K, N): B itself (K, N) with row stride ldb, or Bᵀ of B stored (N, K)
 *   (the layout of a PyTorch Linear weight); C is (M, N) with row stride ldc.
 *
 * Blocking (Goto & van de Geijn, "Anatomy of high-performance matrix
 * multiplication", 2008), sized for this machine kind (48 KiB L1d, 1 MiB L2
 * per core, shared L3):
 *   for jc in N by NC:  for pc in K by KC:  pack op(B)[pc:+KC, jc:+NC] into
 *   NR-column strips (KC·NC·4 = 1 MiB in all; one strip, KC × NR = 8 KiB,
 *   stays in L1 while the A strips stream past it)
 *     for ic in M by MC:  pack op(A)[ic:+MC, pc:+KC] into MR-row strips
 *     (MC·KC·4 = 240 KiB: lives in L2)
 *       for each NR strip, for each MR strip: the MR × NR micro-kernel.
 * KC, MC and NC were varied (KC 128–512, MC 120–480, NC 1024–3072): all
 * within ±3 % at 1024×768×3072 and 512³ on one core, so the smallest
 * workspace was kept.
 * Packing turns every operand layout (plain or transposed) into the same
 * unit-stride streams, so one micro-kernel serves all four cases; edges are
 * zero-padded to whole strips and only the valid part of a tile is written.
 *
 * Register tile: MR × NR = 4 × 8 floats = 8 f32x4 accumulators, + 2 B
 * vectors + 1 broadcast A value + 1 product temporary = 12 of the 16 xmm
 * registers. Per k step: 2 vector loads, 4 broadcast loads, 8 mul + 8 add.
 * A 6 × 8 tile (12 accumulators, the textbook fit for 16 registers) leaves
 * V8 11.3's register allocator too few free registers (it keeps scratch ones
 * for itself): its disassembly shows accumulators spilled to the stack every
 * step, and it ran at ~30 GFLOP/s against ~55 for 4 × 8 on one core (2 × 16
 * is as fast; 3 × 12, 4 × 12, 5 × 8 spill too). wasm SIMD has no FMA
 * (relaxed-simd is behind a flag in Node 20), so each product is rounded and
 * then each sum.
 *
 * Summation order, the same for every element whichever thread computes it:
 *   c = ((bias + s_0) + s_1) + … with s_p = Σ_{k in block p} a_ik·b_kj summed
 *   in k order from 0. An element passes through at most K + 1 roundings, so
 *   |ĉ − c| ≤ γ_{K+1}·(|bias_j| + Σ_k |a_ik·b_kj|) (Higham §3.1), and the
 *   result does not depend on how rows and columns are split across threads.
 *
 * IEEE semantics throughout: NaN and ±Inf propagate as in the naive triple
 * loop (0·Inf = NaN); products or partial sums beyond float32 range overflow
 * to ±Inf as they would in any float32 BLAS.
 */

const MR: i32 = 4;
const NR: i32 = 8;
/** Keep in step with GEMM_KC in src/backends/wasm/error-model.ts (its error bound depends on it). */
const KC: i32 = 256;
const MC: i32 = 240;
const NC: i32 = 1024;

export const GEMM_TRANS_A: i32 = 1;
export const GEMM_TRANS_B: i32 = 2;
/** C += op(A)·op(B) instead of C = op(A)·op(B) (+ bias). */
export const GEMM_ACCUMULATE: i32 = 4;

const BPACK_FLOATS: i32 = KC * NC;
const APACK_FLOATS: i32 = MC * KC;
const TILE_FLOATS: i32 = MR * NR;

/** The K block, which the error bound depends on (test/wasm/matmul.test.ts checks it against GEMM_KC). */
export function gemm_kc(): i32 {
  return KC;
}

/** Bytes of scratch one thread needs for gemm (packed panels and one tile). */
export function gemm_workspace_bytes(): i32 {
  return (BPACK_FLOATS + APACK_FLOATS + TILE_FLOATS) * 4 + 64;
}

/** Packs op(B)[pc:pc+kc, j0:j0+nc] into NR strips of kc × NR, zero-padding the last strip. */
function packB(transB: bool, B: usize, ldb: i32, pc: i32, kc: i32, j0: i32, nc: i32, dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    let d = dst + (<usize>(jr * kc) << 2);
    if (!transB) {
      let s = B + ((<usize>pc * <usize>ldb + <usize>(j0 + jr)) << 2);
      const step = <usize>ldb << 2;
      if (nr == NR) {
        for (let k = 0; k < kc; k++) {
          v128.store(d, v128.load(s), 0);
          v128.store(d, v128.load(s, 16), 16);
          d += NR << 2;
          s += step;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          for (let j = 0; j < NR; j++) store<f32>(d + (<usize>j << 2), j < nr ? load<f32>(s + (<usize>j << 2)) : 0);
          d += NR << 2;
          s += step;
        }
      }
    } else {
      // op(B)[k, j] = B[j, k]: column j of the strip is a contiguous row of B
      for (let j = 0; j < NR; j++) {
        let dj = d + (<usize>j << 2);
        if (j < nr) {
          let s = B + ((<usize>(j0 + jr + j) * <usize>ldb + <usize>pc) << 2);
          for (let k = 0; k < kc; k++) {
            store<f32>(dj, load<f32>(s));
            dj += NR << 2;
            s += 4;
          }
        } else {
          for (let k = 0; k < kc; k++) {
            store<f32>(dj, 0);
            dj += NR << 2;
          }
        }
      }
    }
  }
}

/** Packs op(A)[i0:i0+mc, pc:pc+kc] into MR strips of kc × MR (MR values per k), zero-padding the last strip. */
function packA(transA: bool, A: usize, lda: i32, i0: i32, mc: i32, pc: i32, kc: i32, dst: usize): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = min(MR, mc - ir);
    let d = dst + (<usize>(ir * kc) << 2);
    if (!transA) {
      for (let i = 0; i < MR; i++) {
        let di = d + (<usize>i << 2);
        if (i < mr) {
          let s = A + ((<usize>(i0 + ir + i) * <usize>lda + <usize>pc) << 2);
          for (let k = 0; k < kc; k++) {
            store<f32>(di, load<f32>(s));
            di += MR << 2;
            s += 4;
          }
        } else {
          for (let k = 0; k < kc; k++) {
            store<f32>(di, 0);
            di += MR << 2;
          }
        }
      }
    } else {
      // op(A)[i, k] = A[k, i]: the MR values of one k are contiguous in A
      let s = A + ((<usize>pc * <usize>lda + <usize>(i0 + ir)) << 2);
      const step = <usize>lda << 2;
      for (let k = 0; k < kc; k++) {
        for (let i = 0; i < MR; i++) store<f32>(d + (<usize>i << 2), i < mr ? load<f32>(s + (<usize>i << 2)) : 0);
        d += MR << 2;
        s += step;
      }
    }
  }
}

/**
 * The 4 × 8 micro-kernel: acc = Σ_k ap[k, 0:4] ⊗ bp[k, 0:8], then
 *   init:  c = acc + bias (bias ≠ 0) or c = acc;  otherwise c = c + acc.
 * `c` points at the tile's first element with row stride ldc (floats).
 * One k step per iteration: unrolling by 2 let the scheduler hoist the second
 * step's loads and spilled accumulators (bench/wasm/NOTES.md).
 */
// @ts-ignore: decorator
@inline function micro(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, init: bool, bias: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp, 0);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap, 0);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    ap += MR << 2;
    bp += NR << 2;
  }
  const ld = <usize>ldc << 2;
  let p = c;
  if (init) {
    if (bias != 0) {
      const z0 = v128.load(bias, 0);
      const z1 = v128.load(bias, 16);
      c00 = f32x4.add(z0, c00); c01 = f32x4.add(z1, c01);
      c10 = f32x4.add(z0, c10); c11 = f32x4.add(z1, c11);
      c20 = f32x4.add(z0, c20); c21 = f32x4.add(z1, c21);
      c30 = f32x4.add(z0, c30); c31 = f32x4.add(z1, c31);
    }
  } else {
    c00 = f32x4.add(v128.load(p, 0), c00); c01 = f32x4.add(v128.load(p, 16), c01); p += ld;
    c10 = f32x4.add(v128.load(p, 0), c10); c11 = f32x4.add(v128.load(p, 16), c11); p += ld;
    c20 = f32x4.add(v128.load(p, 0), c20); c21 = f32x4.add(v128.load(p, 16), c21); p += ld;
    c30 = f32x4.add(v128.load(p, 0), c30); c31 = f32x4.add(v128.load(p, 16), c31);
    p = c;
  }
  v128.store(p, c00, 0); v128.store(p, c01, 16); p += ld;
  v128.store(p, c10, 0); v128.store(p, c11, 16); p += ld;
  v128.store(p, c20, 0); v128.store(p, c21, 16); p += ld;
  v128.store(p, c30, 0); v128.store(p, c31, 16);
}

/**
 * C[m0:m1, n0:n1] = op(A)[m0:m1, :]·op(B)[:, n0:n1] (+ bias[n0:n1]), or += with
 * GEMM_ACCUMULATE. Threads call it on disjoint (m, n) ranges with their own
 * `work` (gemm_workspace_bytes() bytes, 16-byte aligned). `bias` is 0 for none.
 * K = 0 gives C = bias (or 0), or leaves C unchanged when accumulating.
 */
export function gemm(
  flags: i32, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32, C: usize, ldc: i32, bias: usize,
  m0: i32, m1: i32, n0: i32, n1: i32, work: usize,
): void {
  const transA = (flags & GEMM_TRANS_A) != 0;
  const transB = (flags & GEMM_TRANS_B) != 0;
  const accumulate = (flags & GEMM_ACCUMULATE) != 0;
  if (m1 <= m0 || n1 <= n0) return;
  if (K == 0) {
    if (accumulate) return;
    for (let i = m0; i < m1; i++) {
      for (let j = n0; j < n1; j++) {
        store<f32>(C + ((<usize>i * <usize>ldc + <usize>j) << 2), bias != 0 ? load<f32>(bias + (<usize>j << 2)) : 0);
      }
    }
    return;
  }
  const bpack = (work + 15) & ~(<usize>15);
  const apack = bpack + (<usize>BPACK_FLOATS << 2);
  const tile = apack + (<usize>APACK_FLOATS << 2);
  const ldcB = <usize>ldc << 2;
  for (let jc = n0; jc < n1; jc += NC) {
    const nc = min(NC, n1 - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      const init = pc == 0 && !accumulate;
      packB(transB, B, ldb, pc, kc, jc, nc, bpack);
      for (let ic = m0; ic < m1; ic += MC) {
        const mc = min(MC, m1 - ic);
        packA(transA, A, lda, ic, mc, pc, kc, apack);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bp = bpack + (<usize>(jr * kc) << 2);
          const j = jc + jr;
          const biasJ = bias != 0 ? bias + (<usize>j << 2) : 0;
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const ap = apack + (<usize>(ir * kc) << 2);
            const c = C + ((<usize>(ic + ir) * <usize>ldc + <usize>j) << 2);
            if (mr == MR && nr == NR) {
              if (init) micro(kc, ap, bp, c, ldc, true, biasJ);
              else micro(kc, ap, bp, c, ldc, false, 0);
            } else {
              // edge tile: compute the full tile into scratch, then write the valid part
              micro(kc, ap, bp, tile, NR, true, 0);
              for (let i = 0; i < mr; i++) {
                const row = c + <usize>i * ldcB;
                for (let jj = 0; jj < nr; jj++) {
                  const t = load<f32>(tile + (<usize>(i * NR + jj) << 2));
                  const q = row + (<usize>jj << 2);
                  if (init) store<f32>(q, biasJ != 0 ? load<f32>(biasJ + (<usize>jj << 2)) + t : t);
                  else store<f32>(q, load<f32>(q) + t);
                }
              }
            }
          }
        }
      }
    }
  }
}

/** Columns per block of colsum: 4 KiB of partial sums stay in L1 while the rows stream past. */
const COLSUM_BLOCK: i32 = 1024;

/**
 * out[j] = Σ_i x[i, j] for j in [n0, n1): column sums of x (M, N), each summed
 * in row order from 0 (M − 1 roundings: |error| ≤ γ_{M−1}·Σ_i |x_ij|). Rows are
 * read contiguously, a block of columns at a time.
 */
export function colsum(x: usize, M: i32, N: i32, out: usize, n0: i32, n1: i32): void {
  for (let jb = n0; jb < n1; jb += COLSUM_BLOCK) {
    const je = min(n1, jb + COLSUM_BLOCK);
    const je4 = jb + ((je - jb) & ~3);
    for (let j = jb; j < je; j++) store<f32>(out + (<usize>j << 2), 0);
    for (let i = 0; i < M; i++) {
      const row = x + (<usize>i * <usize>N << 2);
      let j = jb;
      for (; j < je4; j += 4) {
        const o = out + (<usize>j << 2);
        v128.store(o, f32x4.add(v128.load(o), v128.load(row + (<usize>j << 2))));
      }
      for (; j < je; j++) {
        const o = out + (<usize>j << 2);
        store<f32>(o, load<f32>(o) + load<f32>(row + (<usize>j << 2)));
      }
    }
  }
}
