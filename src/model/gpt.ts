/**
 * A GPT-2 style model written as a straight sequence of the library's
 * kernels, every call through the dispatcher and inside a scope, so a trace
 * names each call (`h.1.attn.attention`, `h.0.mlp.gelu`, ...).
 *
 *   x = wte[tokens] + wpe[t]
 *   for each block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
 *   logits = ln_f(x) · wteᵀ          (output head tied to the token embedding)
 *   loss = crossEntropy(logits, targets)
 *
 * attn(x) = c_proj(mergeHeads(attention(splitHeads(c_attn(x)), causal)))
 * mlp(x)  = c_proj(gelu_tanh(c_fc(x)))
 *
 * Parameters, gradients and the optimizer's moments are each one flat buffer
 * (see params.ts). On the reference device they are Float64Array and every
 * kernel runs in float64: that is the FP64 reference GPT the gradient checks
 * use. Elsewhere they are Float32Array (float32 master weights).
 *
 * Precision modes (emulated storage, float32 arithmetic):
 *   - fp32: nothing is rounded.
 *   - bf16 / fp16: the weights the kernels see are the master weights rounded
 *     to the format; every activation a kernel outputs and every gradient the
 *     backward pass produces is rounded to the format (the `cast` kernel); the
 *     master weights, the optimizer and the LayerNorm/softmax statistics
 *     (mean, rstd, lse) stay float32. fp16 needs loss scaling (train.ts).
 */
import type { Device } from '../device.js';
import { scope } from '../dispatch.js';
import { ArgumentError } from '../errors.js';
import { attention, attentionBackward } from '../kernels/attention.js';
import { cast } from '../kernels/cast.js';
import { crossEntropy, crossEntropyBackward } from '../kernels/cross-entropy.js';
import { embedding, embeddingBackward } from '../kernels/embedding.js';
import { gelu, geluBackward } from '../kernels/gelu.js';
import { mergeHeads, mergeHeadsBackward, splitHeads, splitHeadsBackward } from '../kernels/heads.js';
import { layerNorm, layerNormBackward } from '../kernels/layernorm.js';
import { matmul, matmulBackward } from '../kernels/matmul.js';
import { residual, residualBackward } from '../kernels/residual.js';
import { bfloat16, float16, type FloatFormat } from '../precision/formats.js';
import { roundArray } from '../precision/round.js';
import { Tensor } from '../tensor.js';
import { ParamLayout, type GPTConfig } from './params.js';

/** 'h.0.attn.c_attn' → 'c_attn' (the scope a Linear layer's kernel calls run in). */
function lastPart(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

export type PrecisionMode = 'fp32' | 'bf16' | 'fp16';
export const PRECISION_MODES: readonly PrecisionMode[] = ['fp32', 'bf16', 'fp16'];

/**
 * The storage format a precision mode rounds to (undefined for fp32).
 *
 * @example
 * storageFormat('bf16'); // the bfloat16 format; undefined for 'fp32'
 */
export function storageFormat(p: PrecisionMode): FloatFormat | undefined {
  return p === 'bf16' ? bfloat16 : p === 'fp16' ? float16 : undefined;
}

type Flat = Float32Array | Float64Array;

interface LayerNormCache {
  x: Tensor;
  out: Tensor;
  mean: Tensor;
  rstd: Tensor;
}

interface BlockCache {
  ln1: LayerNormCache;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  att: Tensor;
  lse: Tensor;
  atty: Tensor;
  ln2: LayerNormCache;
  fc: Tensor;
  fcGelu: Tensor;
}

/** Keys and values of the positions decoded so far, per layer (NH, maxT, hs). */
export interface KVCache {
  length: number;
  tokens: Int32Array;
  k: (Float32Array | Float64Array)[];
  v: (Float32Array | Float64Array)[];
}

/** What the forward pass keeps for the backward pass (llm.c's activations). */
export interface ForwardCache {
  B: number;
  T: number;
  tokens: Tensor;
  targets?: Tensor;
  blocks: BlockCache[];
  lnf: LayerNormCache;
  logits: Tensor;
  ceLse?: Tensor;
  /** Every tensor made during the step, disposed by `release`. */
  live: Tensor[];
}

export interface ForwardResult {
  /** (B, T, V) logits (also kept in the cache). */
  logits: Tensor;
  /** Mean cross-entropy when targets were given. */
  loss?: number;
  cache: ForwardCache;
}

export class GPT {
  readonly layout: ParamLayout;
  /** Master weights. */
  readonly params: Flat;
  /** Gradients (accumulated by `backward`, cleared by `zeroGrad`). */
  readonly grads: Flat;
  /** The weights the kernels see: `params` rounded to the storage format (same array as params in fp32). */
  #weights: Flat;
  #weightsStale = true;

  constructor(
    readonly device: Device,
    readonly config: GPTConfig,
    options: { seed?: number; precision?: PrecisionMode } = {},
  ) {
    this.layout = new ParamLayout(config);
    const F = device.info.precision === 'float64' ? Float64Array : Float32Array;
    this.params = new F(this.layout.size);
    this.grads = new F(this.layout.size);
    this.layout.initialize(this.params, options.seed ?? 0);
    this.precision = options.precision ?? 'fp32';
    this.#weights = this.params;
  }

  #precision: PrecisionMode = 'fp32';
  get precision(): PrecisionMode {
    return this.#precision;
  }
  set precision(p: PrecisionMode) {
    if (!PRECISION_MODES.includes(p)) throw new ArgumentError(`GPT: precision must be one of ${PRECISION_MODES.join(', ')}, got ${JSON.stringify(p)}`);
    if (p !== 'fp32' && this.device.info.precision === 'float64') {
      throw new ArgumentError(`GPT: precision '${p}' emulates float32 training with narrow storage; the reference device computes in float64, use 'fp32' there`);
    }
    this.#precision = p;
    this.#weightsStale = true;
  }

  get format(): FloatFormat | undefined {
    return storageFormat(this.#precision);
  }

  /** Call after changing `params` (the optimizer does): the rounded weights are refreshed lazily. */
  paramsChanged(): void {
    this.#weightsStale = true;
  }

  #kernelWeights(): Flat {
    if (this.#weightsStale) {
      const f = this.format;
      this.#weights = f ? roundArray(f, this.params as Float32Array) : this.params;
      this.#weightsStale = false;
    }
    return this.#weights;
  }

  /** A parameter as a tensor over the kernel weights (a view, no copy). */
  #w(name: string): Tensor {
    const s = this.layout.get(name);
    return Tensor.fromHost(this.#kernelWeights().subarray(s.offset, s.offset + s.size), s.shape);
  }

  zeroGrad(): void {
    this.grads.fill(0);
  }

  /** Rounds an activation or gradient to the storage format (a no-op in fp32). */
  async #store(t: Tensor, live: Tensor[]): Promise<Tensor> {
    const f = this.format;
    if (!f) return t;
    const r = await cast(this.device, t, f);
    if (r !== t) {
      t.dispose();
      live.push(r);
    }
    return r;
  }

  async #keep<T extends Tensor>(t: T, live: Tensor[]): Promise<Tensor> {
    live.push(t);
    return this.#store(t, live);
  }

  /** grads[name] += g (host accumulation in the master precision). */
  async #accumulate(name: string, g: Tensor): Promise<void> {
    const f = this.format;
    let src = g.hostData ?? (await g.read());
    if (f) src = roundArray(f, src as Float32Array);
    const dst = this.layout.view(this.grads, name);
    for (let i = 0; i < dst.length; i++) dst[i] += src[i];
    g.dispose();
  }

  async #layerNorm(x: Tensor, name: string, live: Tensor[]): Promise<LayerNormCache> {
    const r = await layerNorm(this.device, x, this.#w(`${name}.weight`), this.#w(`${name}.bias`));
    live.push(r.mean, r.rstd);
    return { x, out: await this.#keep(r.out, live), mean: r.mean, rstd: r.rstd };
  }

  /** x·Wᵀ + b for the Linear layer `name`, traced under its own scope (e.g. h.0.attn.c_attn.matmul). */
  async #linear(x: Tensor, name: string, live: Tensor[]): Promise<Tensor> {
    const out = await scope(lastPart(name), () => matmul(this.device, x, this.#w(`${name}.weight`), { transB: true, bias: this.#w(`${name}.bias`) }));
    return this.#keep(out, live);
  }

  /**
   * Forward pass over tokens (B, T); with targets, also the mean cross-entropy.
   */
  async forward(tokens: Int32Array, B: number, T: number, targets?: Int32Array): Promise<ForwardResult> {
    const { C, NH, V, maxT } = this.config;
    if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1) throw new ArgumentError(`GPT.forward: B and T must be positive integers, got B = ${B}, T = ${T}`);
    if (T > maxT) throw new ArgumentError(`GPT.forward: T = ${T} exceeds the model's maxT = ${maxT}`);
    if (tokens.length !== B * T) throw new ArgumentError(`GPT.forward: 'tokens' has length ${tokens.length} but [B, T] = [${B}, ${T}] needs ${B * T}`);
    if (targets && targets.length !== B * T) throw new ArgumentError(`GPT.forward: 'targets' has length ${targets.length} but [B, T] = [${B}, ${T}] needs ${B * T}`);
    const d = this.device;
    const live: Tensor[] = [];
    const tok = Tensor.fromHost(tokens, [B, T]);
    const x0 = await scope('wte', async () => this.#keep(await embedding(d, tok, this.#w('wte'), this.#w('wpe')), live));
    let x = x0;
    const blocks: BlockCache[] = [];
    for (let l = 0; l < this.config.L; l++) {
      const h = `h.${l}`;
      x = await scope(h, async () => {
        const ln1 = await scope('ln_1', () => this.#layerNorm(x, `${h}.ln_1`, live));
        const attnOut = await scope('attn', async () => {
          const qkv = await this.#linear(ln1.out, `${h}.attn.c_attn`, live);
          const s = await splitHeads(d, qkv, NH);
          const q = await this.#keep(s.q, live);
          const k = await this.#keep(s.k, live);
          const v = await this.#keep(s.v, live);
          const a = await attention(d, q, k, v, { causal: true });
          live.push(a.lse);
          const att = await this.#keep(a.out, live);
          const atty = await this.#keep(await mergeHeads(d, att), live);
          const proj = await this.#linear(atty, `${h}.attn.c_proj`, live);
          return { q, k, v, att, lse: a.lse, atty, proj };
        });
        const x1 = await this.#keep(await residual(d, x, attnOut.proj), live);
        const ln2 = await scope('ln_2', () => this.#layerNorm(x1, `${h}.ln_2`, live));
        const mlp = await scope('mlp', async () => {
          const fc = await this.#linear(ln2.out, `${h}.mlp.c_fc`, live);
          const fcGelu = await this.#keep(await gelu(d, fc, { approximate: 'tanh' }), live);
          const proj = await this.#linear(fcGelu, `${h}.mlp.c_proj`, live);
          return { fc, fcGelu, proj };
        });
        const x2 = await this.#keep(await residual(d, x1, mlp.proj), live);
        blocks.push({ ln1, q: attnOut.q, k: attnOut.k, v: attnOut.v, att: attnOut.att, lse: attnOut.lse, atty: attnOut.atty, ln2, fc: mlp.fc, fcGelu: mlp.fcGelu });
        return x2;
      });
    }
    const lnf = await scope('ln_f', () => this.#layerNorm(x, 'ln_f', live));
    const logits = await scope('lm_head', async () => this.#keep(await matmul(d, lnf.out, this.#w('wte'), { transB: true }), live));
    const cache: ForwardCache = { B, T, tokens: tok, blocks, lnf, logits, live };
    let loss: number | undefined;
    if (targets) {
      const tgt = Tensor.fromHost(targets, [B * T]);
      const ce = await scope('loss', () => crossEntropy(d, logits.reshape([B * T, V]), tgt));
      live.push(ce.loss, ce.lse);
      cache.targets = tgt;
      cache.ceLse = ce.lse;
      loss = (await ce.loss.read())[0];
    }
    return { logits, loss, cache };
  }

  /**
   * Backward pass from the mean cross-entropy; adds every parameter's
   * gradient (times `lossScale`) into `grads`. Releases the cache.
   */
  async backward(cache: ForwardCache, lossScale = 1): Promise<void> {
    if (!cache.targets || !cache.ceLse) throw new ArgumentError('GPT.backward: the forward pass was run without targets');
    const d = this.device;
    const { B, T, live } = cache;
    const { V, C, NH, maxT } = this.config;
    const F = d.info.precision === 'float64' ? Float64Array : Float32Array;
    try {
      const dloss = Tensor.fromHost(F.from([lossScale]), []);
      const dlogits = await scope('loss', async () =>
        this.#keep(await crossEntropyBackward(d, dloss, cache.logits.reshape([B * T, V]), cache.targets!, cache.ceLse!), live),
      );
      let dx = await scope('lm_head', async () => {
        const g = await matmulBackward(d, dlogits.reshape([B, T, V]), cache.lnf.out, this.#w('wte'), { transB: true });
        await this.#accumulate('wte', g.db);
        return this.#keep(g.da, live);
      });
      dx = await scope('ln_f', () => this.#layerNormBackward(dx, cache.lnf, 'ln_f', live));
      for (let l = this.config.L - 1; l >= 0; l--) {
        const h = `h.${l}`;
        const c = cache.blocks[l];
        dx = await scope(h, async () => {
          // x2 = x1 + proj(mlp)
          const r2 = await residualBackward(d, dx);
          live.push(r2.da, r2.db);
          const dmlp = await scope('mlp', async () => {
            const dfcGelu = await this.#linearBackward(r2.db, c.fcGelu, `${h}.mlp.c_proj`, live);
            const dfc = await this.#keep(await geluBackward(d, dfcGelu, c.fc, { approximate: 'tanh' }), live);
            return this.#linearBackward(dfc, c.ln2.out, `${h}.mlp.c_fc`, live);
          });
          const dx1ln = await scope('ln_2', () => this.#layerNormBackward(dmlp, c.ln2, `${h}.ln_2`, live));
          const dx1 = await this.#keep(await residual(d, r2.da, dx1ln), live);
          // x1 = x + proj(attn)
          const r1 = await residualBackward(d, dx1);
          live.push(r1.da, r1.db);
          const dln1 = await scope('attn', async () => {
            const datty = await this.#linearBackward(r1.db, c.atty, `${h}.attn.c_proj`, live);
            const datt = await this.#keep(await mergeHeadsBackward(d, datty, NH), live);
            const g = await attentionBackward(d, datt, c.q, c.k, c.v, c.att, c.lse, { causal: true });
            const dq = await this.#keep(g.dq, live);
            const dk = await this.#keep(g.dk, live);
            const dv = await this.#keep(g.dv, live);
            const dqkv = await this.#keep(await splitHeadsBackward(d, dq, dk, dv), live);
            return this.#linearBackward(dqkv, c.ln1.out, `${h}.attn.c_attn`, live);
          });
          const dxln = await scope('ln_1', () => this.#layerNormBackward(dln1, c.ln1, `${h}.ln_1`, live));
          return this.#keep(await residual(d, r1.da, dxln), live);
        });
      }
      await scope('wte', async () => {
        const g = await embeddingBackward(d, dx, cache.tokens, V, maxT);
        await this.#accumulate('wte', g.dwte);
        await this.#accumulate('wpe', g.dwpe);
      });
      void C;
    } finally {
      this.release(cache);
    }
  }

  async #linearBackward(dout: Tensor, input: Tensor, name: string, live: Tensor[]): Promise<Tensor> {
    const g = await scope(lastPart(name), () => matmulBackward(this.device, dout, input, this.#w(`${name}.weight`), { transB: true, bias: true }));
    await this.#accumulate(`${name}.weight`, g.db);
    await this.#accumulate(`${name}.bias`, g.dbias!);
    return this.#keep(g.da, live);
  }

  async #layerNormBackward(dout: Tensor, c: LayerNormCache, name: string, live: Tensor[]): Promise<Tensor> {
    const g = await layerNormBackward(this.device, dout, c.x, this.#w(`${name}.weight`), c.mean, c.rstd);
    await this.#accumulate(`${name}.weight`, g.dweight);
    await this.#accumulate(`${name}.bias`, g.dbias);
    return this.#keep(g.dx, live);
  }

  /**
   * Generation with a KV cache: runs the model on one new token at position
   * `cache.length`, appending its keys and values to the cache, and returns
   * its logits (V). The single query attends to every cached position (no
   * mask needed: they are all in its past), so the logits equal those of a
   * full forward pass over the whole prefix.
   */
  async decodeStep(token: number, cache: KVCache): Promise<Float64Array> {
    const { C, NH, V, maxT, L } = this.config;
    const hs = C / NH;
    const pos = cache.length;
    if (pos >= maxT) throw new ArgumentError(`GPT.decodeStep: the cache holds ${pos} positions, the model's maxT is ${maxT}`);
    if (!Number.isInteger(token) || token < 0 || token >= V) throw new ArgumentError(`GPT.decodeStep: token ${token} is outside [0, ${V})`);
    const d = this.device;
    const live: Tensor[] = [];
    cache.tokens[pos] = token;
    try {
      // the embedding of position `pos`: the kernel embeds a prefix, the last row is ours
      const prefix = Tensor.fromHost(cache.tokens.slice(0, pos + 1), [1, pos + 1]);
      const emb = await this.#keep(await embedding(d, prefix, this.#w('wte'), this.#w('wpe')), live);
      const embData = emb.hostData ?? (await emb.read());
      const F = d.info.precision === 'float64' ? Float64Array : Float32Array;
      let x = Tensor.fromHost(F.from(embData.subarray(pos * C, (pos + 1) * C)), [1, 1, C]);
      for (let l = 0; l < L; l++) {
        const h = `h.${l}`;
        const ln1 = await this.#layerNorm(x, `${h}.ln_1`, live);
        const qkv = await this.#linear(ln1.out, `${h}.attn.c_attn`, live);
        const s = await splitHeads(d, qkv, NH);
        const q = await this.#keep(s.q, live);
        const k = await this.#keep(s.k, live);
        const v = await this.#keep(s.v, live);
        // append k, v (1, NH, 1, hs) to the cache (NH, maxT, hs)
        const kd = k.hostData ?? (await k.read());
        const vd = v.hostData ?? (await v.read());
        for (let hh = 0; hh < NH; hh++) {
          cache.k[l].set(kd.subarray(hh * hs, (hh + 1) * hs), (hh * maxT + pos) * hs);
          cache.v[l].set(vd.subarray(hh * hs, (hh + 1) * hs), (hh * maxT + pos) * hs);
        }
        const S = pos + 1;
        const kAll = new F(NH * S * hs);
        const vAll = new F(NH * S * hs);
        for (let hh = 0; hh < NH; hh++) {
          kAll.set(cache.k[l].subarray(hh * maxT * hs, (hh * maxT + S) * hs), hh * S * hs);
          vAll.set(cache.v[l].subarray(hh * maxT * hs, (hh * maxT + S) * hs), hh * S * hs);
        }
        const a = await attention(d, q, Tensor.fromHost(kAll, [1, NH, S, hs]), Tensor.fromHost(vAll, [1, NH, S, hs]));
        live.push(a.lse);
        const att = await this.#keep(a.out, live);
        const atty = await this.#keep(await mergeHeads(d, att), live);
        const proj = await this.#linear(atty, `${h}.attn.c_proj`, live);
        const x1 = await this.#keep(await residual(d, x, proj), live);
        const ln2 = await this.#layerNorm(x1, `${h}.ln_2`, live);
        const fc = await this.#linear(ln2.out, `${h}.mlp.c_fc`, live);
        const g = await this.#keep(await gelu(d, fc, { approximate: 'tanh' }), live);
        const proj2 = await this.#linear(g, `${h}.mlp.c_proj`, live);
        x = await this.#keep(await residual(d, x1, proj2), live);
      }
      const lnf = await this.#layerNorm(x, 'ln_f', live);
      const logits = await this.#keep(await matmul(d, lnf.out, this.#w('wte'), { transB: true }), live);
      cache.length = pos + 1;
      return Float64Array.from(await logits.read());
    } finally {
      for (const t of live) t.dispose();
    }
  }

  newKVCache(): KVCache {
    const { C, L, maxT } = this.config;
    const F = this.device.info.precision === 'float64' ? Float64Array : Float32Array;
    return { length: 0, tokens: new Int32Array(maxT), k: Array.from({ length: L }, () => new F(maxT * C)), v: Array.from({ length: L }, () => new F(maxT * C)) };
  }

  /** Frees every tensor of a forward pass (backward does this itself). */
  release(cache: ForwardCache): void {
    for (const t of cache.live) t.dispose();
    cache.live.length = 0;
  }
}
