/**
 * Causal attention forward, numbered versions.
 *
 *   attention1  library (src/kernels/attention.ts): scores → rowMax → rowSumExp
 *               → lse and P → P·v, every loop over all S keys; the causal
 *               rule excludes j > t by a −Inf score and a P of −1 ("skip")
 *               that the P·v loop tests and passes over.
 *   attention2  the same chain, but the P·v loop stops at the diagonal
 *               (`break` once j > t): for causal rows it does (t + 1) of S
 *               iterations, half the P·v work on average, and reads half of P.
 */
import type { Device } from '../../src/device.js';
import { attention, attnScoresKernel } from '../../src/kernels/attention.js';
import { idiv } from '../../src/kernels/gpujs/index-math.js';
import { rowMax, rowSumExp } from '../../src/kernels/gpujs/rows.js';
import type { Tensor } from '../../src/tensor.js';

interface PvThis {
  thread: { x: number };
  constants: { T: number; S: number; HS: number };
}

function lse2(this: { thread: { x: number } }, m: number[], l: number[]): number {
  const mr = m[this.thread.x];
  if (mr != mr || mr > 3.4028234663852886e38 || mr < -3.4028234663852886e38) {
    return mr;
  }
  return mr + Math.log(l[this.thread.x]);
}

function probs2(this: PvThis, s: number[], m: number[], l: number[], nan: number, skip: number): number {
  const r = idiv(this.thread.x, this.constants.S);
  const mr = m[r];
  if (mr != mr || mr > 3.4028234663852886e38) {
    return nan;
  }
  if (mr < -3.4028234663852886e38) {
    return skip;
  }
  const sv = s[this.thread.x];
  if (sv < -3.4028234663852886e38) {
    return skip;
  }
  return Math.exp(sv - mr) / l[r];
}

/** out[row, d] = Σ_{j ≤ t} P[row, j]·v[j, d]: the causal P·v, stopping at the diagonal. */
function outCausal2(this: PvThis, p: number[], v: number[]): number {
  const row = idiv(this.thread.x, this.constants.HS);
  const d = this.thread.x - row * this.constants.HS;
  const bh = idiv(row, this.constants.T);
  const t = row - bh * this.constants.T;
  let acc = 0;
  for (let j = 0; j < this.constants.S; j++) {
    if (j > t) {
      break;
    }
    const pj = p[row * this.constants.S + j];
    if (pj != pj) {
      acc = acc + pj;
    } else if (pj > -0.5) {
      const vv = v[(bh * this.constants.S + j) * this.constants.HS + d];
      if (vv > 3.4028234663852886e38 || vv < -3.4028234663852886e38) {
        acc = acc + vv;
      } else {
        acc = acc + pj * vv;
      }
    }
  }
  return acc;
}

export interface AttnShape {
  B: number;
  NH: number;
  T: number;
  hs: number;
}

export type AttentionVersion = (d: Device, q: Tensor, k: Tensor, v: Tensor, s: AttnShape) => Promise<Tensor[]>;

/** Each version returns [out, lse, …intermediates to dispose]. */
export const ATTENTION_VERSIONS: Record<string, AttentionVersion> = {
  attention1: async (d, q, k, v) => {
    const r = await attention(d, q, k, v, { causal: true });
    return [r.out, r.lse];
  },
  attention2: async (d, q, k, v, { B, NH, T, hs }) => {
    const rt = d.gpujs!;
    const S = T;
    const N = B * NH * T;
    const constants = { NH, T, S, HS: hs, CAUSAL: 1, MODE: 0, MB: 0, MH: 0, MT: 0, MS: 0 };
    const noMask = q; // never read: MODE = 0
    const s = await rt.run({ name: 'attention.scores', fn: attnScoresKernel, outputs: N * S, constants }, [q, k, noMask, 1 / Math.sqrt(hs), -Infinity], [N, S]);
    const m = await rowMax(rt, s, N, S);
    const l = await rowSumExp(rt, s, m, N, S);
    const lse = await rt.run({ name: 'v.attention2.lse', fn: lse2, outputs: N }, [m, l], [B, NH, T]);
    const p = await rt.run({ name: 'v.attention2.probs', fn: probs2, outputs: N * S, constants: { T, S, HS: hs } }, [s, m, l, NaN, -1], [N, S]);
    const out = await rt.run({ name: 'v.attention2.out', fn: outCausal2, outputs: N * hs, constants: { T, S, HS: hs } }, [p, v], [B, NH, T, hs]);
    return [out, lse, s, m, l, p];
  },
};
