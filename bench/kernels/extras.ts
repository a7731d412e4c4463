/**
 * The rest of the library's kernels, at the sizes GPT-2 small meets them on
 * 1024 tokens (B = 4, T = 256, C = 768, NH = 12): residual add, the token +
 * position embedding (V = 8192: the gpu.js backends index in float32, so
 * GPT-2's 50257 × 768 table is past their 2^24-element limit), splitHeads /
 * mergeHeads, one AdamW step over 4M parameters, and cast (emulated float16 /
 * bfloat16 storage) over 4M values. All memory-bound: bytes read + written once.
 *
 * Bounds: the kernels' own (residualBound, embeddingBound, adamwBound, …);
 * splitHeads, mergeHeads and cast are exact by contract (cast bit-identical to
 * roundArray), so their allowed error is 0 — `tiny` on a backend that flushes
 * subnormals (headlessgl), which their contracts allow.
 */
import { f16round } from '@petamoriken/float16';
import { adamw, adamwBound, adamwConfig, adamwRef, type AdamWOptions } from '../../src/kernels/adamw.js';
import { cast } from '../../src/kernels/cast.js';
import { embedding, embeddingBackward, embeddingBackwardBound, embeddingBackwardRef, embeddingBound, embeddingRef } from '../../src/kernels/embedding.js';
import { mergeHeads, mergeHeadsBackward, mergeHeadsRef, splitHeads, splitHeadsBackward, splitHeadsRef, unmergeHeadsRef, unsplitHeadsRef } from '../../src/kernels/heads.js';
import { residual, residualBackward, residualBackwardBound, residualBackwardRef, residualBound, residualRef } from '../../src/kernels/residual.js';
import type { ErrorModel } from '../../src/kernels/bounds.js';
import { roundArray } from '../../src/precision/round.js';
import { activations, matrix, tokens } from '../lib/inputs.js';
import { type BenchCase, type Tf, host, hostRunner, cachedLazy, cachedPerModel, oursRunner, tfjsRunner, verdict } from '../lib/case.js';
import type { Finish } from '../lib/tfjs.js';

export const EXTRA_DIMS = { B: 4, T: 256, C: 768, NH: 12, V: 8192, maxT: 1024, n: 4 * 1024 * 1024 };

/** Exact kernels: no error, except subnormals on a flushing backend. */
const exact = (n: number, M: ErrorModel) => new Float64Array(n).fill(M.tiny > 2 ** -149 ? M.tiny : 0);

export function extraCases(finish: Finish, dims = EXTRA_DIMS): BenchCase[] {
  const { B, T, C, NH, V, maxT } = dims;
  const hs = C / NH;
  const BTC = B * T * C;
  const M4 = dims.n;
  const tag = `${B}x${T}x${C}`;
  const nTag = M4 === EXTRA_DIMS.n ? '4M' : String(M4);
  const nSize = M4 === EXTRA_DIMS.n ? '4M (4·2^20)' : String(M4);
  const key = (n: string) => `extras.${tag}.${M4}.${n}`;
  const cases: BenchCase[] = [];

  // residual -----------------------------------------------------------------
  const res = cachedLazy(key('res'), () => {
    const a = activations(BTC, 8000);
    const b = activations(BTC, 8001);
    return { a, b, ref: residualRef(Float64Array.from(a), Float64Array.from(b)) };
  });
  const resBound = cachedPerModel(key('resBound'), (M) => residualBound(M, res().ref));
  cases.push({
    id: `residual.forward.${tag}`,
    kernel: 'residual',
    phase: 'forward',
    size: `(${B}, ${T}, ${C})`,
    metric: 'GB/s',
    work: 3 * BTC * 4,
    workNote: 'read a, b; write a + b',
    quick: true,
    data: res,
    check: (out, M) => [verdict('out', out.out, res().ref, resBound(M), M)],
    ours: (ctx, d = res()) => oursRunner(ctx, { a: host(d.a, [B, T, C]), b: host(d.b, [B, T, C]) }, ['a', 'b'], async ({ a, b }) => ({ out: await residual(ctx.device, a, b) })),
    tfjs: (tf, d = res()) => {
      const a = tf.tensor3d(d.a, [B, T, C]);
      const b = tf.tensor3d(d.b, [B, T, C]);
      return tfjsRunner(tf, () => ({ out: tf.add(a, b) }), finish, [a, b]);
    },
    loop: (d = res()) =>
      hostRunner(() => {
        const out = new Float32Array(BTC);
        for (let i = 0; i < BTC; i++) out[i] = d.a[i] + d.b[i];
        return { out };
      }),
  });
  const resB = cachedLazy(key('resB'), () => {
    const dout = activations(BTC, 8002);
    return { dout, ref: residualBackwardRef(Float64Array.from(dout)) };
  });
  cases.push({
    id: `residual.backward.${tag}`,
    kernel: 'residual',
    phase: 'backward',
    size: `(${B}, ${T}, ${C})`,
    metric: 'GB/s',
    work: 3 * BTC * 4,
    workNote: 'read dout; write da, db',
    quick: true,
    data: resB,
    check: (out, M) => [verdict('da', out.da, resB().ref.da, residualBackwardBound(M, BTC), M), verdict('db', out.db, resB().ref.db, residualBackwardBound(M, BTC), M)],
    ours: (ctx, d = resB()) =>
      oursRunner(ctx, { dout: host(d.dout, [B, T, C]) }, ['dout'], async ({ dout }) => {
        const r = await residualBackward(ctx.device, dout);
        return { da: r.da, db: r.db };
      }),
    // no tfjs formulation: tfjs's gradient of a + b hands back the upstream tensor
    // itself for both operands (tf.clone shares the buffer) and moves no data
    loop: (d = resB()) => hostRunner(() => ({ da: d.dout.slice(), db: d.dout.slice() })),
  });

  // embedding ------------------------------------------------------------------
  const emb = cachedLazy(key('emb'), () => {
    const tok = tokens(B * T, V, 8100);
    const wte = matrix(V, C, 1, 8101);
    const wpe = matrix(maxT, C, 1, 8102);
    const dout = activations(BTC, 8103);
    return { tok, wte, wpe, dout, wte64: Float64Array.from(wte), wpe64: Float64Array.from(wpe), dout64: Float64Array.from(dout) };
  });
  const embRef = cachedLazy(key('embRef'), () => embeddingRef(emb().tok, emb().wte64, emb().wpe64, B, T, C));
  const embBound = cachedPerModel(key('embBound'), (M) => embeddingBound(M, embRef()));
  cases.push({
    id: `embedding.forward.${tag}`,
    kernel: 'embedding',
    phase: 'forward',
    size: `B=${B}, T=${T}, C=${C}, V=${V}`,
    metric: 'GB/s',
    work: B * T * 4 + 2 * BTC * 4 + T * C * 4,
    workNote: 'read tokens, the B·T rows of wte and T rows of wpe; write out',
    quick: true,
    data: emb,
    check: (out, M) => [verdict('out', out.out, embRef(), embBound(M), M)],
    ours: (ctx, d = emb()) =>
      oursRunner(ctx, { tok: host(d.tok, [B, T]), wte: host(d.wte, [V, C]), wpe: host(d.wpe, [maxT, C]) }, ['wte', 'wpe'], async ({ tok, wte, wpe }) => ({
        out: await embedding(ctx.device, tok, wte, wpe),
      })),
    tfjs: (tf, d = emb()) => {
      const tok = tf.tensor2d(d.tok, [B, T], 'int32');
      const wte = tf.tensor2d(d.wte, [V, C]);
      const wpe = tf.tensor2d(d.wpe, [maxT, C]);
      const pos = tf.range(0, T, 1, 'int32');
      return tfjsRunner(tf, () => ({ out: tf.add(tf.gather(wte, tok), tf.gather(wpe, pos)) }), finish, [tok, wte, wpe, pos]);
    },
    loop: (d = emb()) =>
      hostRunner(() => {
        const out = new Float32Array(BTC);
        for (let b = 0; b < B; b++)
          for (let t = 0; t < T; t++) {
            const o = (b * T + t) * C;
            const e = d.tok[b * T + t] * C;
            for (let c = 0; c < C; c++) out[o + c] = d.wte[e + c] + d.wpe[t * C + c];
          }
        return { out };
      }),
  });
  const embBRef = cachedLazy(key('embBRef'), () => embeddingBackwardRef(emb().dout64, emb().tok, B, T, C, V, maxT));
  const embBBound = cachedPerModel(key('embBBound'), (M) => embeddingBackwardBound(M, emb().dout64, emb().tok, B, T, C, V, maxT, embBRef()));
  cases.push({
    id: `embedding.backward.${tag}`,
    kernel: 'embedding',
    phase: 'backward',
    size: `B=${B}, T=${T}, C=${C}, V=${V}`,
    metric: 'GB/s',
    work: BTC * 4 + B * T * 4 + (V + maxT) * C * 4,
    workNote: 'read dout and tokens; write dwte (V, C) and dwpe (maxT, C)',
    quick: true,
    data: emb,
    check: (out, M) => [verdict('dwte', out.dwte, embBRef().dwte, embBBound(M).dwte, M), verdict('dwpe', out.dwpe, embBRef().dwpe, embBBound(M).dwpe, M)],
    ours: (ctx, d = emb()) =>
      oursRunner(ctx, { dout: host(d.dout, [B, T, C]), tok: host(d.tok, [B, T]) }, ['dout'], async ({ dout, tok }) => {
        const r = await embeddingBackward(ctx.device, dout, tok, V, maxT);
        return { dwte: r.dwte, dwpe: r.dwpe };
      }),
    tfjs: (tf, d = emb()) => {
      const dout = tf.tensor2d(d.dout, [B * T, C]);
      const tok = tf.tensor1d(d.tok, 'int32');
      return tfjsRunner(
        tf,
        // scatterND accumulates repeated indices (tfjs-wasm has no UnsortedSegmentSum kernel)
        () => ({ dwte: tf.scatterND(tf.reshape(tok, [B * T, 1]), dout, [V, C]), dwpe: tf.pad(tf.sum(tf.reshape(dout, [B, T, C]), 0), [[0, maxT - T], [0, 0]]) }),
        finish,
        [dout, tok],
      );
    },
    loop: (d = emb()) =>
      hostRunner(() => {
        const dwte = new Float32Array(V * C);
        const dwpe = new Float32Array(maxT * C);
        for (let b = 0; b < B; b++)
          for (let t = 0; t < T; t++) {
            const o = (b * T + t) * C;
            const e = d.tok[b * T + t] * C;
            for (let c = 0; c < C; c++) {
              dwte[e + c] += d.dout[o + c];
              dwpe[t * C + c] += d.dout[o + c];
            }
          }
        return { dwte, dwpe };
      }),
  });

  // splitHeads / mergeHeads ------------------------------------------------------
  const headDims = { B, T, NH, hs };
  const heads = cachedLazy(key('heads'), () => {
    const qkv = activations(3 * BTC, 8200);
    const y = activations(BTC, 8201);
    const q64 = splitHeadsRef(Float64Array.from(qkv), headDims, 0);
    const k64 = splitHeadsRef(Float64Array.from(qkv), headDims, 1);
    const v64 = splitHeadsRef(Float64Array.from(qkv), headDims, 2);
    return { qkv, y, q64, k64, v64, merged: mergeHeadsRef(Float64Array.from(y), headDims) };
  });
  cases.push({
    id: `splitHeads.forward.${tag}`,
    kernel: 'splitHeads',
    phase: 'forward',
    size: `(${B}, ${T}, 3·${C}) → 3 × (${B}, ${NH}, ${T}, ${hs})`,
    metric: 'GB/s',
    work: 2 * 3 * BTC * 4,
    workNote: 'read qkv, write q, k, v',
    quick: true,
    data: heads,
    check: (out, M) => (['q', 'k', 'v'] as const).map((n) => verdict(n, out[n], heads()[`${n}64`], exact(BTC, M), M)),
    ours: (ctx, d = heads()) =>
      oursRunner(ctx, { qkv: host(d.qkv, [B, T, 3 * C]) }, ['qkv'], async ({ qkv }) => {
        const r = await splitHeads(ctx.device, qkv, NH);
        return { q: r.q, k: r.k, v: r.v };
      }),
    tfjs: (tf, d = heads()) => {
      const qkv = tf.tensor3d(d.qkv, [B, T, 3 * C]);
      return tfjsRunner(
        tf,
        () => {
          const [q, k, v] = tf.split(qkv, 3, 2).map((p) => tf.transpose(tf.reshape(p, [B, T, NH, hs]), [0, 2, 1, 3]));
          return { q, k, v };
        },
        finish,
        [qkv],
      );
    },
    loop: (d = heads()) =>
      hostRunner(() => {
        const parts = [new Float32Array(BTC), new Float32Array(BTC), new Float32Array(BTC)];
        for (let b = 0; b < B; b++)
          for (let t = 0; t < T; t++)
            for (let p = 0; p < 3; p++)
              for (let h = 0; h < NH; h++)
                for (let e = 0; e < hs; e++) parts[p][((b * NH + h) * T + t) * hs + e] = d.qkv[(b * T + t) * 3 * C + p * C + h * hs + e];
        return { q: parts[0], k: parts[1], v: parts[2] };
      }),
  });
  const splitBRef = cachedLazy(key('splitBRef'), () => unsplitHeadsRef(heads().q64, heads().k64, heads().v64, headDims));
  cases.push({
    id: `splitHeads.backward.${tag}`,
    kernel: 'splitHeads',
    phase: 'backward',
    size: `3 × (${B}, ${NH}, ${T}, ${hs}) → (${B}, ${T}, 3·${C})`,
    metric: 'GB/s',
    work: 2 * 3 * BTC * 4,
    workNote: 'read dq, dk, dv; write dqkv',
    quick: false,
    data: heads,
    check: (out, M) => [verdict('dqkv', out.dqkv, splitBRef(), exact(3 * BTC, M), M)],
    ours: (ctx, d = heads()) =>
      oursRunner(
        ctx,
        { dq: host(Float32Array.from(d.q64), [B, NH, T, hs]), dk: host(Float32Array.from(d.k64), [B, NH, T, hs]), dv: host(Float32Array.from(d.v64), [B, NH, T, hs]) },
        ['dq', 'dk', 'dv'],
        async ({ dq, dk, dv }) => ({ dqkv: await splitHeadsBackward(ctx.device, dq, dk, dv) }),
      ),
    tfjs: (tf, d = heads()) => {
      const parts = [d.q64, d.k64, d.v64].map((p) => tf.tensor4d(Float32Array.from(p), [B, NH, T, hs]));
      return tfjsRunner(tf, () => ({ dqkv: tf.concat(parts.map((p) => tf.reshape(tf.transpose(p, [0, 2, 1, 3]), [B, T, C])), 2) }), finish, parts);
    },
  });
  cases.push({
    id: `mergeHeads.forward.${tag}`,
    kernel: 'mergeHeads',
    phase: 'forward',
    size: `(${B}, ${NH}, ${T}, ${hs}) → (${B}, ${T}, ${C})`,
    metric: 'GB/s',
    work: 2 * BTC * 4,
    workNote: 'read y, write out',
    quick: false,
    data: heads,
    check: (out, M) => [verdict('out', out.out, heads().merged, exact(BTC, M), M)],
    ours: (ctx, d = heads()) => oursRunner(ctx, { y: host(d.y, [B, NH, T, hs]) }, ['y'], async ({ y }) => ({ out: await mergeHeads(ctx.device, y) })),
    tfjs: (tf, d = heads()) => {
      const y = tf.tensor4d(d.y, [B, NH, T, hs]);
      return tfjsRunner(tf, () => ({ out: tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B, T, C]) }), finish, [y]);
    },
  });
  const mergeBRef = cachedLazy(key('mergeBRef'), () => unmergeHeadsRef(heads().merged, headDims));
  cases.push({
    id: `mergeHeads.backward.${tag}`,
    kernel: 'mergeHeads',
    phase: 'backward',
    size: `(${B}, ${T}, ${C}) → (${B}, ${NH}, ${T}, ${hs})`,
    metric: 'GB/s',
    work: 2 * BTC * 4,
    workNote: 'read dout, write dy',
    quick: false,
    data: heads,
    check: (out, M) => [verdict('dy', out.dy, mergeBRef(), exact(BTC, M), M)],
    ours: (ctx, d = heads()) =>
      oursRunner(ctx, { dout: host(Float32Array.from(d.merged), [B, T, C]) }, ['dout'], async ({ dout }) => ({ dy: await mergeHeadsBackward(ctx.device, dout, NH) })),
  });

  // AdamW ------------------------------------------------------------------------
  const opts: AdamWOptions = { lr: 3e-4, step: 10, weightDecay: 0.1 };
  const cfg = adamwConfig('bench', opts);
  const adam = cachedLazy(key('adam'), () => {
    const p = matrix(M4, 1, 768, 8300);
    const g = activations(M4, 8301, { scale: 1e-3 });
    // moments after a few steps: m ~ g, v ~ g² (v ≥ 0)
    const m = activations(M4, 8302, { scale: 1e-3 });
    const v = new Float32Array(M4);
    for (let i = 0; i < M4; i++) v[i] = Math.abs(m[i] * g[i]) + 1e-8;
    const p64 = Float64Array.from(p);
    const g64 = Float64Array.from(g);
    const m64 = Float64Array.from(m);
    const v64 = Float64Array.from(v);
    return { p, g, m, v, p64, g64, m64, v64, ref: adamwRef(p64, g64, m64, v64, cfg) };
  });
  const adamBound = cachedPerModel(key('adamBound'), (M) => {
    const d = adam();
    return adamwBound(M, d.p64, d.g64, d.m64, d.v64, cfg, d.ref);
  });
  cases.push({
    id: `adamw.step.${nTag}`,
    kernel: 'adamw',
    phase: 'step',
    size: `${nSize} parameters`,
    metric: 'GB/s',
    work: 7 * M4 * 4,
    workNote: 'read param, grad, m, v; write param, m, v',
    quick: true,
    data: adam,
    check: (out, M) => {
      const b = adamBound(M);
      const r = adam().ref;
      return [verdict('param', out.param, r.param, b.param, M), verdict('m', out.m, r.m, b.m, M), verdict('v', out.v, r.v, b.v, M)];
    },
    ours: (ctx, d = adam()) =>
      oursRunner(ctx, { param: host(d.p, [M4]), grad: host(d.g, [M4]), m: host(d.m, [M4]), v: host(d.v, [M4]) }, ['param', 'grad', 'm', 'v'], async (s) => {
        const r = await adamw(ctx.device, { param: s.param, grad: s.grad, m: s.m, v: s.v }, opts);
        return { param: r.param, m: r.m, v: r.v };
      }),
    tfjs: (tf, d = adam()) => {
      const [p, g, m, v] = [d.p, d.g, d.m, d.v].map((a) => tf.tensor1d(a));
      const bc1 = 1 - cfg.beta1 ** cfg.step;
      const bc2 = 1 - cfg.beta2 ** cfg.step;
      return tfjsRunner(
        tf,
        () => {
          const m2 = tf.add(tf.mul(cfg.beta1, m), tf.mul(1 - cfg.beta1, g));
          const v2 = tf.add(tf.mul(cfg.beta2, v), tf.mul(1 - cfg.beta2, tf.square(g)));
          const upd = tf.div(tf.div(m2, bc1), tf.add(tf.sqrt(tf.div(v2, bc2)), cfg.eps));
          return { param: tf.sub(tf.mul(p, 1 - cfg.lr * cfg.weightDecay), tf.mul(cfg.lr, upd)), m: m2, v: v2 };
        },
        finish,
        [p, g, m, v],
      );
    },
    loop: (d = adam()) =>
      hostRunner(() => {
        const param = new Float32Array(M4);
        const m = new Float32Array(M4);
        const v = new Float32Array(M4);
        const bc1 = 1 - cfg.beta1 ** cfg.step;
        const bc2 = 1 - cfg.beta2 ** cfg.step;
        const dec = 1 - cfg.lr * cfg.weightDecay;
        for (let i = 0; i < M4; i++) {
          const g = d.g[i];
          const mi = cfg.beta1 * d.m[i] + (1 - cfg.beta1) * g;
          const vi = cfg.beta2 * d.v[i] + (1 - cfg.beta2) * g * g;
          m[i] = mi;
          v[i] = vi;
          param[i] = d.p[i] * dec - (cfg.lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + cfg.eps);
        }
        return { param, m, v };
      }),
  });

  // cast: emulated float16 / bfloat16 storage on the device -----------------------------
  const castData = cachedLazy(key('castData'), () => {
    const x = activations(M4, 8400, { specials: true, scale: 30 });
    const x64 = Float64Array.from(x);
    return { x, f16: roundArray('float16', x64), bf16: roundArray('bfloat16', x64) };
  });
  for (const format of ['float16', 'bfloat16'] as const) {
    cases.push({
      id: `cast.forward.${format}.${nTag}`,
      kernel: `cast (${format})`,
      phase: 'forward',
      size: nSize,
      metric: 'GB/s',
      work: 2 * M4 * 4,
      workNote: 'read x, write the rounded values (float32)',
      quick: true,
      data: castData,
      check: (out, M) => [verdict('y', out.y, format === 'float16' ? castData().f16 : castData().bf16, exact(M4, M), M)],
      ours: (ctx, d = castData()) => oursRunner(ctx, { x: host(d.x, [M4]) }, ['x'], async ({ x }) => ({ y: await cast(ctx.device, x, format) })),
      // the straightforward JavaScript: @petamoriken/float16's f16round per element; bfloat16 by rounding the bits
      loop: (d = castData()) =>
        hostRunner(() => {
          const y = new Float32Array(M4);
          if (format === 'float16') for (let i = 0; i < M4; i++) y[i] = f16round(d.x[i]);
          else bf16Loop(d.x, y);
          return { y };
        }),
    });
  }
  return cases;
}

/** bfloat16 rounding on the float32 bits: round to nearest even on bit 16, NaN kept. */
function bf16Loop(x: Float32Array, y: Float32Array): void {
  const xu = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const yu = new Uint32Array(y.buffer, y.byteOffset, y.length);
  for (let i = 0; i < x.length; i++) {
    const b = xu[i];
    if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) {
      yu[i] = b;
      continue;
    }
    yu[i] = ((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000) >>> 0;
  }
}

export type { Tf };
