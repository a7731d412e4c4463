/**
 * softmax forward, numbered versions (llm.c style). Version 1 is the
 * library's (src/kernels/softmax.ts through the dispatcher); the others are
 * prototypes measured in bench/NOTES.md, validated with the library's
 * softmaxBound before they are timed.
 *
 *   softmax1  library: rowMax (chunks of 256 + a pass over the chunk maxima),
 *             rowSumExp (the same two levels), then one thread per output.
 *             5 launches for V > 256, x read 3 times.
 *   softmax2  one thread per row for each statistic (no chunking): rowMax,
 *             rowSumExp, output. 3 launches, x read 3 times. On a CPU
 *             rasteriser (llvmpipe: 2 cores × 8 lanes) 1024 rows are plenty of
 *             parallel work, and the chunk partials cost a launch and a pass.
 *   softmax3  online statistics (Milakov & Gimelshein 2018): one pass per
 *             (row, chunk) keeps the running max m and Σexp(x − m), rescaling
 *             s by exp(m_old − m_new) when the max grows; (m, s) come out
 *             interleaved (thread 2p gives m of pair p, 2p + 1 gives s: gpu.js
 *             kernels return one float per thread, and kernel maps are not
 *             supported on webgpu), a combine pass merges the chunk pairs
 *             with the same rule, then the output kernel. 3 launches, x read
 *             twice (each pair of threads reads its chunk together).
 */
import type { Device } from '../../src/device.js';
import { idiv } from '../../src/kernels/gpujs/index-math.js';
import { softmax } from '../../src/kernels/softmax.js';
import type { Tensor } from '../../src/tensor.js';

interface RowThis {
  thread: { x: number };
  constants: { L: number; CH: number; NC: number; V: number };
}

function rowMax2(this: RowThis, x: number[], nan: number, inf: number): number {
  const base = this.thread.x * this.constants.L;
  let m = -inf;
  let sawNaN = 0;
  for (let i = 0; i < this.constants.L; i++) {
    const v = x[base + i];
    if (v != v) {
      sawNaN = 1;
    } else if (v > m) {
      m = v;
    }
  }
  if (sawNaN > 0) {
    return nan;
  }
  return m;
}

function rowSumExp2(this: RowThis, x: number[], m: number[]): number {
  const base = this.thread.x * this.constants.L;
  const mr = m[this.thread.x];
  let s = 0;
  for (let i = 0; i < this.constants.L; i++) {
    s += Math.exp(x[base + i] - mr);
  }
  return s;
}

/** The library's output kernel, reading m and s from separate arrays. */
function softmaxOut2(this: RowThis, x: number[], m: number[], s: number[], nan: number): number {
  const r = idiv(this.thread.x, this.constants.V);
  const mr = m[r];
  if (mr != mr || mr > 3.4028234663852886e38 || mr < -3.4028234663852886e38) {
    return nan;
  }
  return Math.exp(x[this.thread.x] - mr) / s[r];
}

/** Online (m, s) of chunk c of row r; thread = 2·(r·NC + c) + which. */
function onlineStats3(this: RowThis, x: number[], nan: number, inf: number): number {
  const pair = idiv(this.thread.x, 2);
  const which = this.thread.x - pair * 2;
  const r = idiv(pair, this.constants.NC);
  const c = pair - r * this.constants.NC;
  const start = r * this.constants.L + c * this.constants.CH;
  let m = -inf;
  let s = 0;
  let sawNaN = 0;
  for (let i = 0; i < this.constants.CH; i++) {
    if (c * this.constants.CH + i < this.constants.L) {
      const v = x[start + i];
      if (v != v) {
        sawNaN = 1;
      } else if (v > m) {
        s = s * Math.exp(m - v) + 1;
        m = v;
      } else if (m > -inf) {
        s += Math.exp(v - m);
      }
    }
  }
  if (which < 1) {
    if (sawNaN > 0) {
      return nan;
    }
    return m;
  }
  return s;
}

/** Merges the NC chunk pairs of row r with the same rule; thread = 2r + which. */
function combine3(this: RowThis, p: number[], nan: number, inf: number): number {
  const r = idiv(this.thread.x, 2);
  const which = this.thread.x - r * 2;
  let m = -inf;
  let s = 0;
  let sawNaN = 0;
  for (let c = 0; c < this.constants.NC; c++) {
    const mc = p[(r * this.constants.NC + c) * 2];
    const sc = p[(r * this.constants.NC + c) * 2 + 1];
    if (mc != mc) {
      sawNaN = 1;
    } else if (mc > m) {
      s = s * Math.exp(m - mc) + sc;
      m = mc;
    } else if (mc > -inf) {
      s += sc * Math.exp(mc - m);
    }
  }
  if (which < 1) {
    if (sawNaN > 0) {
      return nan;
    }
    return m;
  }
  return s;
}

/** Output from interleaved statistics st = [m0, s0, m1, s1, …]. */
function softmaxOut3(this: RowThis, x: number[], st: number[], nan: number): number {
  const r = idiv(this.thread.x, this.constants.V);
  const mr = st[2 * r];
  if (mr != mr || mr > 3.4028234663852886e38 || mr < -3.4028234663852886e38) {
    return nan;
  }
  return Math.exp(x[this.thread.x] - mr) / st[2 * r + 1];
}

export type SoftmaxVersion = (d: Device, x: Tensor, N: number, V: number) => Promise<Tensor[]>;

/** Each version returns [y, …intermediates to dispose]. */
export const SOFTMAX_VERSIONS: Record<string, SoftmaxVersion> = {
  softmax1: async (d, x) => [await softmax(d, x)],
  softmax2: async (d, x, N, V) => {
    const rt = d.gpujs!;
    const c = { L: V, CH: V, NC: 1, V };
    const m = await rt.run({ name: 'v.softmax2.max', fn: rowMax2, outputs: N, constants: c }, [x, NaN, Infinity], [N]);
    const s = await rt.run({ name: 'v.softmax2.sumexp', fn: rowSumExp2, outputs: N, constants: c }, [x, m], [N]);
    const y = await rt.run({ name: 'v.softmax2.out', fn: softmaxOut2, outputs: N * V, constants: c }, [x, m, s, NaN], [N, V]);
    return [y, m, s];
  },
  softmax3: async (d, x, N, V) => {
    const rt = d.gpujs!;
    const CH = Math.min(V, 1024);
    const NC = Math.ceil(V / CH);
    const c = { L: V, CH, NC, V };
    const p = await rt.run({ name: 'v.softmax3.stats', fn: onlineStats3, outputs: 2 * N * NC, constants: c }, [x, NaN, Infinity], [N * NC, 2]);
    const st = NC > 1 ? await rt.run({ name: 'v.softmax3.combine', fn: combine3, outputs: 2 * N, constants: c }, [p, NaN, Infinity], [N, 2]) : p;
    const y = await rt.run({ name: 'v.softmax3.out', fn: softmaxOut3, outputs: N * V, constants: c }, [x, st, NaN], [N, V]);
    return st === p ? [y, p] : [y, p, st];
  },
};
