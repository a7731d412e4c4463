/**
 * Sampling from the GPT: greedy, temperature, top-k and top-p (nucleus), seeded.
 *
 *   const text = await generate(model, tokenizer.encode('the '), 200, { temperature: 0.8, topK: 10, seed: 1 });
 *
 * Logits come from `GPT.decodeStep` (KV cache). The distribution is
 * softmax(logits / temperature) computed in float64 with the max subtracted;
 * top-k keeps the k most likely tokens, top-p the smallest set whose
 * probability reaches p (both renormalised); greedy takes the argmax
 * (ties: the lowest token id).
 */
import { ArgumentError, checkOptions } from '../errors.js';
import { Rng } from '../random.js';
import type { GPT } from './gpt.js';

export interface SampleOptions {
  /** Take the most likely token every time (ignores the rest). */
  greedy?: boolean;
  /** > 0; default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens. */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p, in (0, 1]. */
  topP?: number;
  seed?: number;
}

/** Draws one token id from logits (float64) under the options.
 *
 * @example
 * sampleToken(Float64Array.of(0, 2, 1), { topK: 1 }, new Rng(1)); // 1
 */
export function sampleToken(logits: ArrayLike<number>, o: SampleOptions, rng: Rng): number {
  const V = logits.length;
  if (o.greedy) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const temperature = o.temperature ?? 1;
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, logits[i]);
  const p = new Float64Array(V);
  let s = 0;
  for (let i = 0; i < V; i++) {
    p[i] = Math.exp((logits[i] - m) / temperature);
    s += p[i];
  }
  for (let i = 0; i < V; i++) p[i] /= s;
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
  let keep = V;
  if (o.topK !== undefined) keep = Math.min(keep, o.topK);
  if (o.topP !== undefined) {
    let acc = 0;
    let n = 0;
    while (n < keep) {
      acc += p[order[n]];
      n++;
      if (acc >= o.topP) break;
    }
    keep = n;
  }
  let total = 0;
  for (let r = 0; r < keep; r++) total += p[order[r]];
  let u = rng.uniform() * total;
  for (let r = 0; r < keep; r++) {
    u -= p[order[r]];
    if (u < 0) return order[r];
  }
  return order[keep - 1];
}

function checkSample(o: SampleOptions): void {
  checkOptions('generate', o, ['greedy', 'temperature', 'topK', 'topP', 'seed']);
  if (o.temperature !== undefined && !(o.temperature > 0 && Number.isFinite(o.temperature))) throw new ArgumentError(`generate: 'temperature' must be a positive number, got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 1)) throw new ArgumentError(`generate: 'topK' must be a positive integer, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new ArgumentError(`generate: 'topP' must be in (0, 1], got ${o.topP}`);
}

/**
 * Continues `prompt` by `n` tokens and returns the new token ids. Beyond the
 * model's maxT the context slides: when the KV cache is full it is rebuilt
 * from the last maxT/2 tokens.
 *
 * @example
 * const ids = await generate(model, tokenizer.encode('the '), 200, { temperature: 0.8, topK: 8, seed: 1 });
 * console.log(tokenizer.decode(ids));
 */
export async function generate(model: GPT, prompt: Int32Array, n: number, options: SampleOptions = {}): Promise<Int32Array> {
  checkSample(options);
  if (prompt.length < 1) throw new ArgumentError('generate: the prompt needs at least one token');
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError(`generate: 'n' must be a non-negative integer, got ${n}`);
  const { maxT } = model.config;
  const rng = new Rng(options.seed ?? 0);
  let cache = model.newKVCache();
  const history: number[] = Array.from(prompt.subarray(Math.max(0, prompt.length - maxT)));
  let logits: Float64Array = new Float64Array(0);
  for (const t of history) logits = await model.decodeStep(t, cache);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const tok = sampleToken(logits, options, rng);
    out[i] = tok;
    history.push(tok);
    if (i + 1 === n) break;
    if (cache.length === maxT) {
      cache = model.newKVCache();
      const keep = history.slice(history.length - Math.floor(maxT / 2));
      for (const t of keep.slice(0, -1)) await model.decodeStep(t, cache);
    }
    logits = await model.decodeStep(tok, cache);
  }
  return out;
}
